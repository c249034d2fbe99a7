"""Confirmed commit (RFC 6241 §8.4, :confirmed-commit:1.1).

The engine (``agent/netconf/confirmed_commit.py``) is driven through the real
``Operations`` and the real datastore with virtual time: the clock starts at
``T0`` and tests jump to ``get_timer()`` (aioquic style), asserting exact
deadlines, with no sockets and no sleeps. A datastore subscriber stands in for
the engines: it must see every rollback as an ordinary transaction. The last
test is the one real-time check: ncclient against an in-process agent, a
confirmed commit with confirm-timeout 1, rolled back by the asyncio timer, the
home agent engine seeing both changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.datastore.store import CANDIDATE, RUNNING, ChangeEvent, Datastore, Veto
from agent.netconf.confirmed_commit import (
    DEFAULT_CONFIRM_TIMEOUT,
    CommitRequest,
    ConfirmedCommits,
)
from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.operations import Operations

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
CONFIRMED_COMMIT = "urn:ietf:params:netconf:capability:confirmed-commit:1.1"
T0 = 1_800_000_000.0
ORIGINAL, FIRST, SECOND = "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Session:
    session_id: int
    username: str | None = "admin"


class Server:
    """Operations with confirmed commits over a datastore, spoken to in XML,
    plus what the engines would see (every done-phase transaction)."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.datastore = Datastore()
        self.timer_changes = 0
        self.commits = ConfirmedCommits(self.datastore, clock=self.clock,
                                        on_timer_change=self._timer_changed)
        self.operations = Operations(self.datastore, yang_dir=yang_dir(),
                                     confirmed_commits=self.commits, clock=self.clock)
        self.transactions: list[ChangeEvent] = []
        self.veto = False
        self.datastore.subscribe(self._subscriber)
        self.rpc(f"<edit-config><target><running/></target>{subnet(ORIGINAL)}</edit-config>")
        self.transactions.clear()

    def _timer_changed(self) -> None:
        self.timer_changes += 1

    def _subscriber(self, event: ChangeEvent) -> None:
        if event.phase == "change" and self.veto:
            raise Veto("vetoed by the test")
        if event.phase == "done":
            self.transactions.append(event)

    def close(self) -> None:
        self.operations.close()
        self.datastore.close()

    def rpc(self, body: str, *, session: int = 1) -> etree._Element | None:
        rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1">{body}</rpc>')
        return self.operations(rpc[0], Session(session))

    def error(self, body: str, *, session: int = 1) -> RpcError:
        with pytest.raises(RpcError) as caught:
            self.rpc(body, session=session)
        return caught.value

    def stage(self, prefix: str, *, session: int = 1) -> None:
        """Add a subnet-map entry to the candidate."""
        self.rpc(f"<edit-config><target><candidate/></target>{subnet(prefix)}</edit-config>",
                 session=session)

    def running(self) -> list[str]:
        member = self.datastore.get_config(RUNNING).get(TOP_MEMBER, {})
        return sorted(entry["prefix"] for entry in member.get("subnet-map", []))

    def jump_to_timer(self) -> None:
        deadline = self.commits.get_timer()
        assert deadline is not None
        self.clock.now = deadline
        self.commits.handle_timer(self.clock.now)


def subnet(prefix: str) -> str:
    return (f'<config><mobile-ip xmlns="{NS}"><subnet-map><prefix>{prefix}</prefix>'
            "<home-agent>192.0.2.1</home-agent></subnet-map></mobile-ip></config>")


def confirmed(timeout: int | None = None, *, persist: str | None = None,
              persist_id: str | None = None) -> str:
    return ("<commit><confirmed/>"
            + (f"<confirm-timeout>{timeout}</confirm-timeout>" if timeout is not None else "")
            + (f"<persist>{persist}</persist>" if persist is not None else "")
            + (f"<persist-id>{persist_id}</persist-id>" if persist_id is not None else "")
            + "</commit>")


def info(error: RpcError) -> dict[str, str]:
    found = error.to_xml().find(f"{{{BASE_NS}}}error-info")
    return {} if found is None else {etree.QName(e).localname: e.text or "" for e in found}


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


# -- the timeout ----------------------------------------------------------------------


def test_confirmed_commit_rolls_back_at_the_default_timeout(server: Server) -> None:
    server.stage(FIRST)
    assert server.rpc("<commit><confirmed/></commit>") is None
    assert server.running() == [ORIGINAL, FIRST]
    # RFC 6241 §8.4.5.1: confirm-timeout defaults to 600 seconds.
    assert server.commits.get_timer() == T0 + DEFAULT_CONFIRM_TIMEOUT == T0 + 600
    server.commits.handle_timer(T0 + 599.999)
    assert server.running() == [ORIGINAL, FIRST]
    server.jump_to_timer()
    assert server.running() == [ORIGINAL]
    assert server.commits.get_timer() is None and server.commits.pending is None
    # The engines saw the commit and the rollback, each as a transaction.
    kinds = [[(c.kind, c.path[-1].keys) for c in t.changes] for t in server.transactions]
    assert kinds == [[("created", (("prefix", FIRST),))], [("deleted", (("prefix", FIRST),))]]
    # The candidate follows running again (it had no changes of its own).
    member = server.datastore.get_config(CANDIDATE).get(TOP_MEMBER, {})
    assert [e["prefix"] for e in member["subnet-map"]] == [ORIGINAL]


def test_confirm_timeout_sets_the_deadline_and_the_timer_owner_hears_of_it(
        server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(5))
    assert server.commits.get_timer() == T0 + 5
    assert server.timer_changes == 1
    server.clock.now = T0 + 2
    server.rpc(confirmed(30))  # follow-up: the timeout restarts from now
    assert server.commits.get_timer() == T0 + 32
    assert server.timer_changes == 2
    server.rpc("<commit/>")  # confirming
    assert server.commits.get_timer() is None
    assert server.timer_changes == 3


def test_confirming_commit_makes_the_change_permanent(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60))
    server.stage(SECOND)
    # §8.4.1: the confirming commit is an ordinary <commit> on the same
    # session; it commits the candidate's further changes too.
    assert server.rpc("<commit/>") is None
    assert server.commits.pending is None
    server.commits.handle_timer(T0 + 10_000)
    assert server.running() == [ORIGINAL, FIRST, SECOND]


def test_follow_up_confirmed_commit_keeps_the_first_rollback_point(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60))
    server.clock.now = T0 + 30
    server.stage(SECOND)
    server.rpc(confirmed(100))
    assert server.running() == [ORIGINAL, FIRST, SECOND]
    assert server.commits.get_timer() == T0 + 130
    server.jump_to_timer()
    # §8.4.1: back to the state before the *first* confirmed commit.
    assert server.running() == [ORIGINAL]


# -- who may confirm, cancel, follow up ------------------------------------------------


def test_non_persistent_belongs_to_its_session(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60), session=1)
    # §8.4.1: follow-up, confirming and cancelling operations come from the
    # issuing session.
    for body in ("<commit/>", confirmed(60), "<cancel-commit/>"):
        error = server.error(body, session=2)
        assert (error.tag, error.error_type) == ("in-use", "protocol"), body
    # A persist-id names a persistent confirmed commit; this one is not.
    error = server.error("<commit><persist-id>x</persist-id></commit>", session=1)
    assert (error.tag, info(error)) == ("invalid-value", {"bad-element": "persist-id"})
    assert server.commits.get_timer() == T0 + 60
    # Another session ending changes nothing; the issuing one rolls it back.
    server.commits.session_ended(2)
    assert server.running() == [ORIGINAL, FIRST]
    server.commits.session_ended(1)
    assert server.running() == [ORIGINAL]
    assert server.commits.pending is None


def test_persistent_survives_its_session_and_needs_the_persist_id(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60, persist="token-1"), session=1)
    server.commits.session_ended(1)
    assert server.running() == [ORIGINAL, FIRST]
    pending = server.commits.pending
    assert pending is not None and (pending.session, pending.persist) == (None, "token-1")
    for body in ("<commit/>", "<commit><persist-id>token-2</persist-id></commit>",
                 "<cancel-commit/>", confirmed(60)):
        error = server.error(body, session=2)
        assert (error.tag, info(error)) == ("invalid-value", {"bad-element": "persist-id"}), body
    # A follow-up from any session names it, and may hand it a new token.
    server.clock.now = T0 + 10
    server.rpc(confirmed(20, persist="token-2", persist_id="token-1"), session=2)
    assert server.commits.get_timer() == T0 + 30
    assert server.error("<commit><persist-id>token-1</persist-id></commit>",
                        session=3).tag == "invalid-value"
    assert server.rpc("<commit><persist-id>token-2</persist-id></commit>", session=3) is None
    assert server.commits.pending is None
    assert server.running() == [ORIGINAL, FIRST]


def test_follow_up_without_persist_makes_it_the_sessions_own(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60, persist="p"), session=1)
    server.rpc(confirmed(60, persist_id="p"), session=2)
    pending = server.commits.pending
    assert pending is not None and (pending.session, pending.persist) == (2, None)
    server.commits.session_ended(2)
    assert server.running() == [ORIGINAL]


def test_persist_id_without_a_pending_commit_is_invalid_value(server: Server) -> None:
    server.stage(FIRST)
    error = server.error("<commit><persist-id>p</persist-id></commit>")
    assert (error.tag, info(error)) == ("invalid-value", {"bad-element": "persist-id"})
    assert server.running() == [ORIGINAL]  # nothing committed


# -- cancel-commit ------------------------------------------------------------------------


def test_cancel_commit_rolls_back_now(server: Server) -> None:
    error = server.error("<cancel-commit/>")
    assert (error.tag, error.error_type) == ("operation-failed", "protocol")
    server.stage(FIRST)
    server.rpc(confirmed(60))
    assert server.rpc("<cancel-commit/>") is None  # RFC 6241 §8.4.4.1
    assert server.running() == [ORIGINAL]
    assert server.commits.get_timer() is None
    server.stage(FIRST)
    server.rpc(confirmed(60, persist="p"))
    assert server.error("<cancel-commit><persist-id>q</persist-id></cancel-commit>",
                        session=2).tag == "invalid-value"
    assert server.rpc("<cancel-commit><persist-id>p</persist-id></cancel-commit>",
                      session=2) is None
    assert server.running() == [ORIGINAL]


def test_cancel_commit_respects_another_sessions_lock(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60, persist="p"), session=1)
    server.datastore.lock(RUNNING, 7)  # held outside NETCONF's lock rules
    error = server.error("<cancel-commit><persist-id>p</persist-id></cancel-commit>", session=2)
    assert (error.tag, info(error)) == ("lock-denied", {"session-id": "7"})
    assert server.commits.pending is not None and server.running() == [ORIGINAL, FIRST]


# -- rollbacks the server starts ----------------------------------------------------------


def test_timeout_rollback_goes_through_the_lock_of_the_issuing_session(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60), session=1)
    server.rpc("<lock><target><running/></target></lock>", session=1)
    server.jump_to_timer()
    assert server.running() == [ORIGINAL]
    assert server.datastore.lock_holder(RUNNING) == 1


def test_a_vetoed_rollback_is_logged_and_running_stays(server: Server,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60))
    server.veto = True
    server.jump_to_timer()
    assert server.running() == [ORIGINAL, FIRST]
    assert server.commits.pending is None
    assert "rollback failed" in caplog.text


def test_shutdown_rolls_back_a_persistent_commit(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60, persist="p"))
    server.commits.shutdown()
    assert server.running() == [ORIGINAL]


def test_a_refused_commit_changes_nothing(server: Server) -> None:
    server.rpc("<lock><target><candidate/></target></lock>", session=3)
    server.stage(FIRST, session=3)
    # Another session's locked candidate is not ours to commit (§7.5).
    assert server.error(confirmed(60), session=1).tag == "lock-denied"
    assert server.commits.pending is None and server.timer_changes == 0


# -- RFC 6241 §7.5: running cannot be locked meanwhile -------------------------------------


def test_running_cannot_be_locked_by_another_session_meanwhile(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60), session=1)
    error = server.error("<lock><target><running/></target></lock>", session=2)
    assert (error.tag, error.error_type, info(error)) == ("lock-denied", "protocol",
                                                          {"session-id": "1"})
    assert server.rpc("<lock><target><startup/></target></lock>", session=2) is None
    assert server.rpc("<lock><target><running/></target></lock>", session=1) is None
    server.rpc("<unlock><target><running/></target></unlock>", session=1)
    server.rpc("<commit/>", session=1)
    assert server.rpc("<lock><target><running/></target></lock>", session=2) is None


def test_a_persistent_commit_blocks_every_lock_of_running(server: Server) -> None:
    server.stage(FIRST)
    server.rpc(confirmed(60, persist="p"), session=1)
    for session in (1, 2):
        error = server.error("<lock><target><running/></target></lock>", session=session)
        assert (error.tag, info(error)) == ("lock-denied", {"session-id": "0"})


# -- parameters --------------------------------------------------------------------------


def test_capability_and_parameter_errors(server: Server) -> None:
    assert CONFIRMED_COMMIT in server.operations.capabilities()
    for timeout in ("0", "-1", "abc", "4294967296", ""):
        error = server.error(f"<commit><confirmed/><confirm-timeout>{timeout}</confirm-timeout>"
                             "</commit>")
        assert (error.tag, error.error_type, info(error)) == (
            "invalid-value", "protocol", {"bad-element": "confirm-timeout"}), timeout
    error = server.error("<commit><confirmed>yes</confirmed></commit>")
    assert (error.tag, info(error)) == ("invalid-value", {"bad-element": "confirmed"})
    error = server.error("<commit><persist>p</persist></commit>")
    assert (error.tag, info(error)) == ("missing-element", {"bad-element": "confirmed"})
    error = server.error("<commit><confirmed/><frob/></commit>")
    assert (error.tag, info(error)) == ("unknown-element", {"bad-element": "frob"})
    error = server.error("<cancel-commit><persist>p</persist></cancel-commit>")
    assert (error.tag, info(error)) == ("unknown-element", {"bad-element": "persist"})
    # confirm-timeout alone is its default's explicit form: a plain commit.
    server.stage(FIRST)
    assert server.rpc("<commit><confirm-timeout>5</confirm-timeout></commit>") is None
    assert server.commits.pending is None and server.running() == [ORIGINAL, FIRST]
    assert server.rpc(confirmed(4294967295)) is None
    assert server.commits.get_timer() == T0 + 4294967295


def test_engine_refuses_a_timeout_below_one_second() -> None:
    datastore = Datastore()
    try:
        commits = ConfirmedCommits(datastore, clock=Clock())
        with pytest.raises(RpcError) as caught:
            commits.commit(CommitRequest(confirmed=True, confirm_timeout=0), session=1)
        assert caught.value.tag == "invalid-value"
    finally:
        datastore.close()


def test_without_the_engine_nothing_is_offered() -> None:
    datastore = Datastore()
    operations = Operations(datastore, yang_dir=yang_dir())
    try:
        assert CONFIRMED_COMMIT not in operations.capabilities()
        rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1"><cancel-commit/></rpc>')
        with pytest.raises(RpcError) as caught:
            operations(rpc[0], Session(1))
        assert caught.value.tag == "operation-not-supported"
    finally:
        operations.close()
        datastore.close()


# -- over NETCONF, in real time ---------------------------------------------------------------


def test_ncclient_confirmed_commit_rolls_back_after_one_second(tmp_path: Path) -> None:
    pytest.importorskip("ncclient")
    from tests.interop.netconf_agent import nc_connect, running_agent

    with running_agent(tmp_path) as agent:
        def max_bindings() -> int:
            home_agent = agent.agent.home_agent
            assert home_agent is not None
            return int(home_agent.settings.max_bindings)

        original = agent.on_loop(max_bindings)
        rolled_back = threading.Event()
        seen: list[int] = []

        def watch(event: ChangeEvent) -> None:
            if event.phase == "done":
                seen.append(max_bindings())
                if len(seen) == 2:
                    rolled_back.set()

        agent.on_loop(agent.datastore.subscribe, watch)
        with nc_connect(agent) as session:
            assert CONFIRMED_COMMIT in session.server_capabilities
            session.edit_config(target="candidate", config=f"""
              <config xmlns="{BASE_NS}"><mobile-ip xmlns="{NS}"><home-agent>
                <max-bindings>{original + 1}</max-bindings></home-agent></mobile-ip></config>""")
            started = time.monotonic()
            assert session.commit(confirmed=True, timeout="1", persist="ncclient-token").ok
            assert seen == [original + 1]  # the engine runs with the new setting
            assert rolled_back.wait(10), "no rollback within 10 s"
            elapsed = time.monotonic() - started
            assert 0.9 <= elapsed < 5, elapsed
            assert seen == [original + 1, original]
            selection = (f'<mobile-ip xmlns="{NS}"><home-agent><max-bindings/>'
                         "</home-agent></mobile-ip>")
            reply = session.get_config(source="running", filter=("subtree", selection))
            values = [e.text for e in reply.data.iter(f"{{{NS}}}max-bindings")]
            assert values == [str(original)]
            # Nothing pending any more: the token confirms nothing.
            from ncclient.operations import RPCError as NcclientRpcError

            with pytest.raises(NcclientRpcError) as caught:
                session.commit(persist_id="ncclient-token")
            assert caught.value.tag == "invalid-value"

        # A non-persistent confirmed commit goes with its session (§8.4.1).
        rolled_back.clear()
        seen.clear()
        with nc_connect(agent) as session:
            session.edit_config(target="candidate", config=f"""
              <config xmlns="{BASE_NS}"><mobile-ip xmlns="{NS}"><home-agent>
                <max-bindings>{original + 2}</max-bindings></home-agent></mobile-ip></config>""")
            assert session.commit(confirmed=True, timeout="600").ok
            assert seen == [original + 2]
        assert rolled_back.wait(10), "no rollback when the session ended"
        assert seen == [original + 2, original]
        assert agent.on_loop(lambda: agent.agent._netconf_confirmed_commits.pending) is None
