"""The operator commands without an agent: rendering (IOS-style tables and
blocks, counters, event lines, the watch screen), the operator's filters, the
views' rows, the secret-free selections, connection settings, the NETCONF
client session (sans-IO), ``config diff`` and the fallbacks of ``watch`` and
``events`` against a fake agent."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.datastore.tree import Schema
from agent.lab import ha_config
from agent.netconf.errors import BASE_NS, MODULE_NS
from agent.netconf.notifications import INTERLEAVE_1_0, NOTIFICATION_1_0, NOTIFICATION_NS
from agent.netconf.session import BASE_1_0, BASE_1_1
from agent.operator import actions, render, views
from agent.operator.config_diff import ConfigDiff, changes_json, render_changes
from agent.operator.data import Decoder, drop_secrets, notification_fields, secret_leaves
from agent.operator.errors import (
    AgentRefused,
    NotFound,
    NotOffered,
    ProtocolViolation,
    UsageError,
)
from agent.operator.protocol import (
    ClientSession,
    HelloReceived,
    NotificationReceived,
    ReplyReceived,
    check_reply,
)
from agent.operator.settings import NETCONF_SSH_PORT, ConnectionSettings, resolve

BINDING = {"home-address": "192.0.2.10", "care-of-address": "127.0.0.3",
           "source-address": "127.0.0.3", "source-port": 43401,
           "identification": str((0xEEB2E8D4 << 32) | 0x5875C536),
           "lifetime-granted": 600, "lifetime-remaining": 599,
           "flags": "simultaneous-bindings gre"}
PROXY_VISITOR = {"mac": "02:00:00:00:00:00", "interface": "wlan0", "home-address": "192.0.2.10",
                 "home-agent": "127.0.0.2", "foreign-agent": "127.0.0.3",
                 "care-of-address": "127.0.0.3", "state": "registered", "lifetime-requested": 600,
                 "lifetime-granted": 600, "lifetime-remaining": 42, "last-reply-code": 0,
                 "attempts": 1}


# -- cells ------------------------------------------------------------------------------


def test_cisco_cells() -> None:
    assert render.duration(600) == "00:10:00"
    assert render.duration(36000 + 61) == "10:01:01"
    assert render.duration(65535) == "infinite"
    assert render.lifetime(600) == "00:10:00 (600)"
    assert render.lifetime(None) == "-"
    assert render.flags("") == "sbdmgvt"
    assert render.flags("simultaneous-bindings gre reverse-tunneling") == "SbdmGvT"
    assert render.identification(str((0xB750FAC4 << 32) | 0xC28F56A8)) == "B750FAC4.C28F56A8"
    assert render.reply_code_text(131) == "131 (HA: mobile node failed authentication)"
    assert render.reply_code_text(69) == "69 (FA: requested lifetime too long)"
    assert render.reply_code_text(0) == "0 (accepted)"
    assert render.reply_code_text(200) == "200"


def test_table_aligns_and_right_aligns_numbers() -> None:
    columns = (render.Column("Name", render.field("name")),
               render.Column("Count", render.field("count"), right=True))
    lines = render.table(columns, [{"name": "a", "count": 5}, {"name": "longer", "count": 12345},
                                   {"name": None, "count": None}])
    assert lines == ["Name    Count",
                     "a           5",
                     "longer  12345",
                     "-           -"]


def test_bindings_listing_as_ios_heads_it() -> None:
    text = render.render_bindings([BINDING])
    lines = text.splitlines()
    assert lines[:2] == ["Mobility Binding List:", "Total 1"]
    header = lines[2]
    assert header.split()[:4] == ["Home", "Addr", "Care-of", "Addr"]
    row = lines[3]
    assert row.split() == ["192.0.2.10", "127.0.0.3", "127.0.0.3", "43401", "00:10:00", "(600)",
                           "00:09:59", "SbdmGvt", "EEB2E8D4.5875C536"]
    # Columns line up: every cell starts where its header starts.
    assert row.index("127.0.0.3") == header.index("Care-of Addr")
    assert render.render_bindings([]).splitlines() == ["Mobility Binding List:", "Total 0"]


def test_bindings_detail_is_a_block_per_entry() -> None:
    lines = render.render_bindings([BINDING], detail=True).splitlines()
    assert lines[2] == "192.0.2.10:"
    assert lines[3] == "    Care-of Addr 127.0.0.3, Src Addr 127.0.0.3, UDP src port 43401"
    assert lines[4] == "    Lifetime granted 00:10:00 (600), remaining 00:09:59"
    assert lines[5] == "    Flags SbdmGvt, Identification EEB2E8D4.5875C536"


def test_proxy_visitor_detail_explains_the_reply_code() -> None:
    denied = {**PROXY_VISITOR, "state": "denied", "last-reply-code": 131, "reason": "denied by HA"}
    text = render.render_proxy_visitors([denied], detail=True)
    assert "Last reply code 131 (HA: mobile node failed authentication), attempts 1" in text
    assert "    Reason denied by HA" in text


def test_traffic_two_counters_a_line_per_running_role() -> None:
    text = render.render_traffic({"home-agent": {"registration-accepted": 4, "unknown-ha": 0,
                                                 "reg-requests-received": 10},
                                  "security-violations": {"total": 2}})
    assert text.splitlines() == [
        "IP Mobility traffic:",
        "Home Agent Registrations:",
        "    registration-accepted  4    unknown-ha             0",
        "    reg-requests-received 10",
        "Security violations: 2",
    ]


def test_radius_without_secrets() -> None:
    text = render.render_radius({"server": [{"address": "192.0.2.50", "port": 1812}], "timeout": 3,
                                 "retries": 2, "dead-time": 60, "cache-lifetime": 3600,
                                 "negative-cache-lifetime": 60})
    assert "    1  192.0.2.50  1812" in text
    assert "Timeout 3 s, retries 2, dead time 60 s" in text
    assert "No server" in render.render_radius({"server": []})
    assert "Message-Authenticator: dropped" in text
    relaxed = render.render_radius({"server": [], "require-message-authenticator": False})
    assert "Message-Authenticator: accepted (require-message-authenticator false)" in relaxed


def test_event_line_is_one_line_with_the_reply_code_meaning() -> None:
    line = render.event_line("2026-11-26T17:10:09.3Z", "registration-denied",
                             {"role": "home-agent", "home-address": "192.0.2.10", "code": "133"})
    assert line == ('2026-11-26T17:10:09.3Z registration-denied role=home-agent '
                    'home-address=192.0.2.10 code=133 '
                    'meaning="HA: registration identification mismatch"')
    assert "\n" not in render.event_line("t", "client-registration-failed",
                                         {"reason": 'no "SA"\nhere'})


def test_watch_screen_fits_the_terminal() -> None:
    content = {"home-agent": {"address": "127.0.0.2"},
               "home-agent-state": {"binding": [dict(BINDING, **{"home-address": f"192.0.2.{i}"})
                                                for i in range(50)],
                                    "counters": {"reg-requests-received": 50,
                                                 "registration-accepted": 49, "unknown-ha": 1}}}
    text = render.render_watch(content, header="proxymip watch x", events=["e1", "e2"],
                               width=100, height=20)
    lines = text.splitlines()
    assert len(lines) <= 20
    assert lines[2].startswith("Home agent     bindings 50  requests 50  accepted 49  denied 1")
    assert any(line.startswith("... ") and line.endswith(" more") for line in lines)
    assert lines[-2:] == ["  e1", "  e2"]
    narrow = render.render_watch(content, header="x", events=[], width=40, height=20)
    assert max(len(line) for line in narrow.splitlines()) == 40


# -- filters and views -----------------------------------------------------------------------


def test_row_filter() -> None:
    rows = [{"home-address": "192.0.2.10", "home-agent": "127.0.0.2", "state": "registered"},
            {"home-address": "198.51.100.7", "home-agent": "127.0.0.9", "state": "denied"},
            {"mac": "02:00:00:00:00:09", "state": "associated"}]
    assert views.RowFilter.parse(home_address="192.0.2.0/24").apply(rows) == rows[:1]
    assert views.RowFilter.parse(home_address="198.51.100.7").apply(rows) == rows[1:2]
    assert views.RowFilter.parse(home_agent="127.0.0.9").apply(rows) == rows[1:2]
    assert views.RowFilter.parse(state="associated").apply(rows) == rows[2:]
    assert views.RowFilter.parse().apply(rows) == rows
    for bad in ({"home_address": "192.0.2.300"}, {"home_agent": "2001:db8::1"},
                {"home_address": "2001:db8::/32"}):
        with pytest.raises(UsageError):
            views.RowFilter.parse(**bad)


def test_visitors_of_both_roles_with_their_states() -> None:
    content = {"foreign-agent": {"address": "127.0.0.3"}, "proxy": {},
               "foreign-agent-state": {
                   "visitor": [{"home-address": "192.0.2.10", "home-agent": "127.0.0.2"}],
                   "pending": [{"home-address": "192.0.2.11", "identification": "5"}]},
               "proxy-state": {"visitor": [PROXY_VISITOR]}}
    report = views.build_visitors(content, views.RowFilter())
    assert [r["state"] for r in report["foreign-agent"]] == ["registered", "pending"]
    assert report["proxy"] == [PROXY_VISITOR]
    only = views.build_visitors(content, views.RowFilter.parse(state="pending"))
    assert [r["home-address"] for r in only["foreign-agent"]] == ["192.0.2.11"]
    assert only["proxy"] == []
    text = views.VIEWS["visitors"].render(report, False)
    assert "Mobile Visitor List:" in text and "Proxy Mobile IP Visitor List:" in text
    with pytest.raises(NotOffered, match="runs the home agent"):
        views.build_visitors({"home-agent": {}}, views.RowFilter())


def test_bindings_need_a_home_agent() -> None:
    with pytest.raises(NotOffered, match="runs the proxy: bindings are kept by home agents"):
        views.build_bindings({"proxy": {}}, views.RowFilter())
    report = views.build_bindings({"home-agent": {}, "home-agent-state": {"binding": [BINDING]}},
                                  views.RowFilter.parse(home_address="192.0.2.11"))
    assert report == {"bindings": []}


def test_subnet_map_longest_prefix_for_one_address() -> None:
    content = {"subnet-map": [{"prefix": "192.0.2.0/24", "home-agent": "127.0.0.2"},
                              {"prefix": "192.0.2.0/28", "home-agent": "127.0.0.7"},
                              {"prefix": "10.0.0.0/8", "home-agent": "127.0.0.8"}]}
    one = views.build_subnet_map(content, views.RowFilter.parse(home_address="192.0.2.10"))
    assert one["subnet-map"] == [{"prefix": "192.0.2.0/28", "home-agent": "127.0.0.7"}]
    wide = views.build_subnet_map(content, views.RowFilter.parse(home_address="192.0.0.0/16"))
    assert len(wide["subnet-map"]) == 2


def test_security_associations_by_range_and_never_a_key() -> None:
    content = {"security": {"host": [{"address": "192.0.2.1", "last-address": "192.0.2.254",
                                      "spi": 256, "algorithm": "hmac-md5"},
                                     {"address": "198.51.100.1", "spi": 257}],
                            "peer": [{"address": "127.0.0.3", "spi": 300}]}}
    report = views.build_security(content, views.RowFilter.parse(home_address="192.0.2.77"))
    assert [(r["kind"], r["address"]) for r in report["security-associations"]] == [
        ("host", "192.0.2.1")]
    text = render.render_security(views.build_security(content, views.RowFilter())
                                  ["security-associations"])
    assert "peer  127.0.0.3" in text and "300        12C" in text


def test_every_selection_is_free_of_secrets() -> None:
    """No view names a secret leaf, nor selects whole a node that holds one."""
    schema = Schema.load()
    secret_paths = [p for p in schema.known if p[-1] in secret_leaves()]

    def check(selection: Any, prefix: tuple[str, ...]) -> None:
        for name, inner in selection.items():
            path = (*prefix, name)
            assert path in schema.known, path
            assert name not in secret_leaves(), path
            if inner is None:
                assert not [p for p in secret_paths if p[:len(path)] == path], path
            elif not isinstance(inner, str):
                check(inner, path)

    for view in views.VIEWS.values():
        check(view.selection, ("mobile-ip",))
    check(actions.WATCH_SELECTION, ("mobile-ip",))


def test_drop_secrets_is_a_second_fence() -> None:
    top = etree.fromstring(
        f'<mobile-ip xmlns="{MODULE_NS}"><security><peer><address>127.0.0.3</address>'
        '<spi>300</spi><key-hex>a5:a5:10:20:30:40:50:60:70:80:90:a0:b0:c0:d0:e0</key-hex></peer>'
        '</security><radius><server><address>192.0.2.50</address><shared-secret>s</shared-secret>'
        '</server></radius></mobile-ip>')
    with Decoder() as decoder:
        content = decoder.content(drop_secrets(top))
    assert content == {"security": {"peer": [{"address": "127.0.0.3", "spi": 300}]},
                       "radius": {"server": [{"address": "192.0.2.50"}]}}


def test_tunnels_one_row_per_end_pair() -> None:
    content = {"home-agent": {"address": "127.0.0.2"},
               "home-agent-state": {"binding": [
                   BINDING, dict(BINDING, **{"home-address": "192.0.2.11", "flags": ""}),
                   dict(BINDING, **{"home-address": "192.0.2.12", "care-of-address": "127.0.0.5",
                                    "flags": "reverse-tunneling"})]}}
    rows = views.build_tunnels(content, views.RowFilter())["tunnels"]
    assert [(r["source"], r["destination"], r["users"], r["encapsulation"], r["mode"])
            for r in rows] == [("127.0.0.2", "127.0.0.3", 2, "GRE", "forward"),
                               ("127.0.0.2", "127.0.0.5", 1, "IP/IP", "reverse")]
    only = views.build_tunnels(content, views.RowFilter.parse(home_address="192.0.2.12"))
    assert [r["destination"] for r in only["tunnels"]] == ["127.0.0.5"]


def test_tunnels_show_the_data_plane_interface_and_counters() -> None:
    """With a data plane (YANG data-plane-state) each tunnel row names the
    kernel interface carrying it, and the backend's counters follow the table."""
    content = {"home-agent": {"address": "127.0.0.2"},
               "home-agent-state": {"binding": [BINDING]},
               "data-plane-state": {"backend": "userspace",
                                    "counters": {"encapsulated": "7", "decapsulated": "5",
                                                 "unknown-endpoint-dropped": "2"},
                                    "tunnel": [{"remote": "127.0.0.3", "local": "127.0.0.2",
                                                "interface": "pmip7f000003", "users": 1}]}}
    report = views.build_tunnels(content, views.RowFilter())
    assert [r["interface"] for r in report["tunnels"]] == ["pmip7f000003"]
    text = views.VIEWS["tunnels"].render(report, False)
    assert "pmip7f000003" in text.splitlines()[3]
    assert text.splitlines()[-1] == ("Data plane (userspace): encapsulated 7, decapsulated 5; "
                                     "dropped: unknown endpoint 2, inner address 0, malformed 0")


def test_traffic_reports_every_running_role() -> None:
    content = {"proxy": {}, "proxy-state": {"counters": {"accepted": 3}},
               "security-violations": {"total": 0}}
    assert views.build_traffic(content, views.RowFilter()) == {
        "proxy": {"accepted": 3}, "security-violations": {"total": 0}}


def test_visitor_names() -> None:
    assert actions.parse_visitor("02:00:00:00:00:0A") == ("mac", "02:00:00:00:00:0a")
    assert actions.parse_visitor("02-00-00-00-00-0a") == ("mac", "02:00:00:00:00:0a")
    assert actions.parse_visitor("0200.0000.000a") == ("mac", "02:00:00:00:00:0a")
    assert actions.parse_visitor("192.0.2.10") == ("home-address", "192.0.2.10")
    with pytest.raises(UsageError):
        actions.parse_visitor("wlan0")


# -- settings -------------------------------------------------------------------------------


def _flags(**given: Any) -> dict[str, Any]:
    flags: dict[str, Any] = dict.fromkeys(
        ("host", "port", "user", "password", "timeout", "host-key-check"))
    flags.update(given)
    return flags


def test_settings_precedence(tmp_path: Path) -> None:
    path = tmp_path / "cli.toml"
    path.write_text('host = "10.0.0.1"\nuser = "file-user"\ntimeout = 3\n'
                    '[agent.ha]\nhost = "10.0.0.2"\nport = 8300\n')
    path.chmod(0o600)
    env = {"PROXYMIP_CLI_CONFIG": str(path), "PROXYMIP_HOST": "10.0.0.9",
           "PROXYMIP_USER": "env-user", "PROXYMIP_HOST_KEY_CHECK": "no"}
    plain = resolve(flags=_flags(), environ=env)
    assert (plain.host, plain.port, plain.user, plain.timeout, plain.host_key_check) == (
        "10.0.0.9", NETCONF_SSH_PORT, "env-user", 3.0, False)
    named = resolve(flags=_flags(), environ=env, agent="ha")
    assert (named.host, named.port, named.user) == ("10.0.0.2", 8300, "env-user")
    flagged = resolve(flags=_flags(host="10.0.0.3", port=2830, password="pw"), environ=env,
                      agent="ha")
    assert (flagged.host, flagged.port, flagged.password) == ("10.0.0.3", 2830, "pw")
    assert "pw" not in repr(flagged)
    with pytest.raises(UsageError, match="no agent 'ap'.*known: ha"):
        resolve(flags=_flags(), environ=env, agent="ap")


def test_settings_defaults_and_refusals(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    defaults = resolve(flags=_flags(), environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert defaults == ConnectionSettings(user=defaults.user)
    assert defaults.host_key_check and defaults.password is None
    with pytest.raises(UsageError, match="no such configuration file"):
        resolve(flags=_flags(), environ={"PROXYMIP_CLI_CONFIG": str(missing)})
    shared = tmp_path / "shared.toml"
    shared.write_text('password = "admin"\n')
    shared.chmod(0o644)
    with pytest.raises(UsageError, match="others can read it"):
        resolve(flags=_flags(), environ={"PROXYMIP_CLI_CONFIG": str(shared)})
    typo = tmp_path / "typo.toml"
    typo.write_text('hots = "x"\n')
    with pytest.raises(UsageError, match="unknown setting 'hots'"):
        resolve(flags=_flags(), environ={"PROXYMIP_CLI_CONFIG": str(typo)})
    with pytest.raises(UsageError, match="port"):
        resolve(flags=_flags(port=70000), environ={"XDG_CONFIG_HOME": str(tmp_path)})


# -- the client session, sans-IO -------------------------------------------------------------


def _hello(*capabilities: str, session_id: int = 7) -> bytes:
    caps = "".join(f"<capability>{c}</capability>" for c in capabilities)
    return (f'<hello xmlns="{BASE_NS}"><capabilities>{caps}</capabilities>'
            f"<session-id>{session_id}</session-id></hello>]]>]]>").encode()


def _chunked(text: str) -> bytes:
    data = text.encode()
    return b"\n#%d\n%s\n##\n" % (len(data), data)


def test_client_session_hello_chunked_replies_and_notifications() -> None:
    session = ClientSession()
    assert session.hello().endswith(b"]]>]]>")
    session.receive_data(_hello(BASE_1_0, BASE_1_1, NOTIFICATION_1_0))
    event = session.next_event()
    assert isinstance(event, HelloReceived) and event.session_id == 7
    assert NOTIFICATION_1_0 in session.capabilities
    message_id, framed = session.request(etree.Element(f"{{{BASE_NS}}}get"))
    assert framed.startswith(b"\n#") and framed.endswith(b"\n##\n")  # RFC 6242 §4.2 after hello
    reply = f'<rpc-reply xmlns="{BASE_NS}" message-id="{message_id}"><ok/></rpc-reply>'
    notification = (f'<notification xmlns="{NOTIFICATION_NS}"><eventTime>2026-11-26T00:00:00Z'
                    f'</eventTime><binding-created xmlns="{MODULE_NS}"><home-address>192.0.2.10'
                    '</home-address><lifetime>600</lifetime></binding-created></notification>')
    data = _chunked(notification) + _chunked(reply)
    for i in range(len(data)):  # byte by byte
        session.receive_data(data[i:i + 1])
    first, second = session.next_event(), session.next_event()
    assert isinstance(first, NotificationReceived) and isinstance(second, ReplyReceived)
    assert second.message_id == message_id
    assert notification_fields(first.notification) == (
        "2026-11-26T00:00:00Z", "binding-created",
        {"home-address": "192.0.2.10", "lifetime": "600"})


def test_client_session_base_1_0_stays_end_of_message() -> None:
    session = ClientSession()
    session.receive_data(_hello(BASE_1_0))
    _, framed = session.request(etree.Element(f"{{{BASE_NS}}}get"))
    assert framed.endswith(b"]]>]]>")


@pytest.mark.parametrize("data", [
    b"<rpc-reply/>]]>]]>",  # no hello first
    f'<hello xmlns="{BASE_NS}"><capabilities/></hello>]]>]]>'.encode(),  # no session-id
    b"<hello <<]]>]]>",  # not XML
])
def test_client_session_refuses_a_broken_agent(data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        ClientSession().receive_data(data)


def test_rpc_error_becomes_one_line() -> None:
    reply = etree.fromstring(
        f'<rpc-reply xmlns="{BASE_NS}" message-id="1"><rpc-error><error-type>application'
        '</error-type><error-tag>invalid-value</error-tag><error-severity>error</error-severity>'
        '<error-path>/mobile-ip/home-agent/max-lifetime</error-path>'
        '<error-message>out of range</error-message></rpc-error></rpc-reply>')
    with pytest.raises(AgentRefused) as caught:
        check_reply(reply, operation="edit-config")
    assert caught.value.message == ("edit-config refused: out of range at "
                                    "/mobile-ip/home-agent/max-lifetime (invalid-value)")


# -- watch and events against a fake agent -----------------------------------------------------


class FakeAgent:
    """What the commands use of NetconfClient, with canned state."""

    def __init__(self, *, capabilities: frozenset[str], content: str = "") -> None:
        self.settings = ConnectionSettings(host="192.0.2.1", port=830, user="admin")
        self.capabilities = capabilities
        self.offers_notifications = NOTIFICATION_1_0 in capabilities
        self.content = content
        self.subscribed = False
        self.reads = 0
        self.rpcs: list[tuple[str, dict[str, str]]] = []
        self.rpc_output: dict[str, str] = {"cleared": "0"}
        self.notifications: list[etree._Element] = []

    async def get(self, selection: Any, **_: Any) -> etree._Element:
        self.reads += 1
        return etree.fromstring(f'<mobile-ip xmlns="{MODULE_NS}">{self.content}</mobile-ip>')

    async def subscribe(self, selection: Any = None) -> None:
        self.subscribed = True

    async def next_notification(self, timeout: float | None) -> etree._Element | None:
        if self.notifications:
            return self.notifications.pop(0)
        await asyncio.sleep(timeout or 0)
        return None

    async def rpc(self, name: str, parameters: dict[str, str] | None = None) -> dict[str, str]:
        self.rpcs.append((name, dict(parameters or {})))
        return self.rpc_output


HA_STATE = ("<home-agent><address>127.0.0.2</address></home-agent><home-agent-state><binding>"
            "<home-address>192.0.2.10</home-address><care-of-address>127.0.0.3</care-of-address>"
            "<lifetime-granted>600</lifetime-granted></binding></home-agent-state>")


def test_events_without_notifications_say_so() -> None:
    agent = FakeAgent(capabilities=frozenset({BASE_1_1}))
    with pytest.raises(NotOffered, match="does not offer NETCONF notifications") as caught:
        asyncio.run(actions.events(agent, kinds=[], count=1, duration=None, as_json=False,
                                   out=io.StringIO(), err=io.StringIO()))  # type: ignore[arg-type]
    assert caught.value.exit_status == 3


def test_watch_falls_back_to_periodic_reads() -> None:
    agent = FakeAgent(capabilities=frozenset({BASE_1_1}), content=HA_STATE)
    out = io.StringIO()
    screen = actions.Screen(out=out, in_place=False, size=lambda: (100, 30))
    with Decoder() as decoder:
        asyncio.run(actions.watch(agent, decoder, screen, interval=0.01, count=2))  # type: ignore[arg-type]
    assert agent.reads == 2 and not agent.subscribed
    frames = out.getvalue().split("\n\n\n")
    assert out.getvalue().count("periodic reads (no notifications offered)") == 2
    assert "192.0.2.10" in frames[0]
    assert "\x1b[" not in out.getvalue()  # a pipe gets plain frames, no terminal codes


def test_watch_subscribes_when_offered_and_redraws_in_place() -> None:
    agent = FakeAgent(capabilities=frozenset({BASE_1_1, NOTIFICATION_1_0, INTERLEAVE_1_0}),
                      content=HA_STATE)
    out = io.StringIO()
    screen = actions.Screen(out=out, in_place=True, size=lambda: (100, 30))
    with Decoder() as decoder:
        asyncio.run(actions.watch(agent, decoder, screen, interval=0.01, count=2))  # type: ignore[arg-type]
    assert agent.subscribed
    text = out.getvalue()
    # rich's Live display redraws in place: the second frame is preceded by
    # moving the cursor up over the first and erasing its lines.
    assert "\x1b[1A" in text and "\x1b[2K" in text
    assert text.count("notifications + reads") >= 2  # Live.stop draws the last once more
    assert "192.0.2.10" in text


def test_clear_binding_of_an_unknown_address_is_not_found() -> None:
    agent = FakeAgent(capabilities=frozenset({BASE_1_1}))
    with pytest.raises(NotFound, match="no binding for 192.0.2.99"):
        asyncio.run(actions.clear_binding(agent, "192.0.2.99"))  # type: ignore[arg-type]
    assert agent.rpcs == [("clear-binding", {"home-address": "192.0.2.99"})]
    agent.rpc_output = {"cleared": "3"}
    assert asyncio.run(actions.clear_binding(agent, None)) == "Cleared 3 bindings"  # type: ignore[arg-type]


def test_clear_visitor_by_address_on_a_foreign_agent() -> None:
    agent = FakeAgent(capabilities=frozenset({BASE_1_1}), content=(
        "<foreign-agent><address>127.0.0.3</address></foreign-agent><foreign-agent-state>"
        "<visitor><home-address>192.0.2.10</home-address></visitor></foreign-agent-state>"))
    agent.rpc_output = {"cleared": "1"}
    with Decoder() as decoder:
        message = asyncio.run(actions.clear_visitor(agent, decoder, "192.0.2.10"))  # type: ignore[arg-type]
    assert message == "Cleared foreign agent visitor 192.0.2.10"
    assert agent.rpcs == [("clear-visitor", {"home-address": "192.0.2.10"})]


def test_events_one_line_each_and_a_keepalive_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = FakeAgent(capabilities=frozenset({BASE_1_1, NOTIFICATION_1_0}))
    agent.notifications = [etree.fromstring(
        f'<notification xmlns="{NOTIFICATION_NS}"><eventTime>2026-11-26T00:00:00Z</eventTime>'
        f'<authentication-failure xmlns="{MODULE_NS}"><peer-address>127.0.0.3</peer-address>'
        '<spi>300</spi><reason>bad-authenticator</reason></authentication-failure></notification>')]
    monkeypatch.setattr(actions, "KEEPALIVE", 0.01)
    out, err = io.StringIO(), io.StringIO()
    printed = asyncio.run(actions.events(agent, kinds=["auth-failure"], count=None,  # type: ignore[arg-type]
                                         duration=0.2, as_json=False, out=out, err=err))
    assert printed == 1 and agent.subscribed
    assert out.getvalue() == ("2026-11-26T00:00:00Z authentication-failure peer-address=127.0.0.3 "
                              "spi=300 reason=bad-authenticator\n")
    assert "listening for auth-failure notifications from 192.0.2.1:830" in err.getvalue()
    assert agent.reads >= 2  # the quiet stretches were kept alive


def test_event_selection_names_each_notification_once() -> None:
    names = [etree.QName(e).localname for e in actions.event_selection(["client", "denial"])]
    assert names == ["client-registered", "client-registration-failed", "client-deregistered",
                     "registration-denied"]


# -- config diff --------------------------------------------------------------------------------


def test_config_diff_reports_paths_and_redacts_keys(tmp_path: Path) -> None:
    old = ha_config(4)
    new = json.loads(json.dumps(old))
    member = new["proxy-mobile-ip:mobile-ip"]
    member["home-agent"]["max-lifetime"] = 600
    member["security"]["peer"][0]["key-hex"] = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
    del member["security"]["peer"][1]
    member["subnet-map"] = [{"prefix": "10.0.0.0/8", "home-agent": "127.0.0.2"}]
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    with ConfigDiff() as differ:
        changes = differ.changes(differ.from_file(tmp_path / "old.json"),
                                 differ.from_file(tmp_path / "new.json"))
    text = render_changes(changes, file="new.json", against="old.json")
    assert text.splitlines() == [
        "~ /proxy-mobile-ip:mobile-ip/home-agent/max-lifetime: 36000 -> 600",
        ("~ /proxy-mobile-ip:mobile-ip/security/peer[address='127.0.0.3'][spi='300']/key-hex: "
         "<redacted> -> <redacted>"),
        "- /proxy-mobile-ip:mobile-ip/security/peer[address='127.0.0.5'][spi='300']",
        "+ /proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.0.0.0/8']",
        "4 changes from old.json to new.json: 1 created, 2 modified, 1 deleted",
    ]
    dumped = json.dumps(changes_json(changes))
    assert "a5:a5" not in dumped and "00:11:22" not in dumped
    assert render_changes((), file="a", against="b") == "No changes: a matches b"



def test_radius_shows_lookup_counters_per_role_never_secrets() -> None:
    """show radius: the configuration plus radius-state's counters, one table per
    role that looks SAs up; shared secrets are never part of the selection."""
    content = {"radius": {"server": [{"address": "127.0.0.9", "port": 1812}], "timeout": 3},
               "radius-state": {"client": [{
                   "role": "home-agent",
                   "server": [{"address": "127.0.0.9", "port": 1812, "requests": "5", "accepts": "3",
                               "rejects": "1", "timeouts": "1", "malformed-replies": "0",
                               "unauthenticated-replies": "0"}],
                   "resolver": {"accepts": "3", "rejects": "1", "timeouts": "1",
                                "cache-hits": "7", "negative-cache-hits": "2", "coalesced": "0",
                                "pending": "0"}}]}}
    report = views.build_radius(content, views.RowFilter())
    text = views.VIEWS["radius"].render(report, False)
    assert "Lookups by the home agent (mobile nodes):" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("127.0.0.9") and "5" in line)
    assert row.split() == ["127.0.0.9", "1812", "5", "3", "1", "1", "0", "0", "-"]
    assert "cache hits 7, negative 2" in text
    assert "shared-secret" not in str(views.VIEWS["radius"].selection)


def test_a_stale_mirror_is_said_and_a_current_one_is_not() -> None:
    """The management plane answers from its mirror's last content while the
    control plane is away (issue 14): ``show`` says so on a line of its own."""
    assert views.stale_notice({}) is None  # a single-process agent
    assert views.stale_notice({"state-mirror": {"status": "synced",
                                                "control-plane-connected": True}}) is None
    assert views.stale_notice({"state-mirror": {"status": "lost", "control-plane-connected": False,
                                                "counters-age": 12500}}) == (
        "% Stale: last known state (lost: the control plane is not connected; "
        "counters 12.5 s old)")
    assert views.stale_notice({"state-mirror": {"status": "syncing",
                                                "control-plane-connected": True}}) == (
        "% Stale: last known state (syncing: a resynchronisation is under way)")
