"""The YANG modules in ``yang/`` pass both validators the project relies on:
pyang's RFC 8407 lint (no output at all, warnings count as errors) and libyang's
yanglint; and yanglint, a second libyang front end, agrees with the loader on
instance data.

The modules vendored under ``yang/ietf/`` are IETF's, not linted against our
naming rules; they are only there to be imported.

The notifications mirror the engine events (``agent/mobileip/events.py``) and the
``inject-client-event`` RPC the client events (``agent/access/events.py``): an
event field the module has no leaf for, or an enumeration that differs between
the two, fails here. The RPCs and the key leaves carry NACM's ``default-deny-all``
(RFC 8341).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import libyang
import pytest
from conftest import require_module, require_tool

from agent.access.events import ClientEvent
from agent.config.default import demo_config_json
from agent.mobileip import events

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
MODULES = sorted(YANG_DIR.glob("*.yang"))
TIMEOUT = 60

#: pyang's lint for a non-IETF module (RFC 8407 guidelines), every warning fatal.
PYANG_LINT = [
    "--lint",
    "--lint-modulename-prefix=proxy",
    "--lint-namespace-prefix=urn:proxymip:params:xml:ns:yang:",
    "-W",
    "error",
]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_there_are_modules_to_lint() -> None:
    assert YANG_DIR / "proxy-mobile-ip.yang" in MODULES


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_pyang_lint_is_silent(module: Path) -> None:
    require_module("pyang")
    # Run with this interpreter so the pyang checked is the one the project pins.
    result = run([sys.executable, "-m", "pyang", *PYANG_LINT, str(module)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_yanglint_accepts(module: Path) -> None:
    yanglint = require_tool("yanglint")
    result = run([yanglint, "-p", str(YANG_DIR), str(module)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_yanglint_accepts_the_demo_configuration(tmp_path: Path) -> None:
    yanglint = require_tool("yanglint")
    data = tmp_path / "demo.json"
    data.write_text(demo_config_json(), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_yanglint_accepts_the_demo_with_the_proxy_role(tmp_path: Path) -> None:
    yanglint = require_tool("yanglint")
    data = tmp_path / "demo-proxy.json"
    data.write_text(demo_config_json(proxy_address="127.0.0.4"), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("proxy", "rule"),
    [
        pytest.param({"retransmit": {"initial": "0.5"}}, "range", id="retransmit-under-1s"),
        pytest.param(
            {"retransmit": {"initial": "4", "maximum": "2"}},
            "retransmit maximum must not be lower than initial",
            id="retransmit-maximum-under-initial",
        ),
        pytest.param({"lifetime": 0}, "range", id="lifetime-0"),
    ],
)
def test_yanglint_rejects_what_the_loader_rejects(
    tmp_path: Path, proxy: dict[str, object], rule: str
) -> None:
    yanglint = require_tool("yanglint")
    document = json.loads(demo_config_json(proxy_address="127.0.0.4"))
    document["proxy-mobile-ip:mobile-ip"]["proxy"].update(proxy)
    data = tmp_path / "bad-proxy.json"
    data.write_text(json.dumps(document), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert result.returncode != 0
    assert rule in result.stderr


def test_yanglint_rejects_a_reserved_spi(tmp_path: Path) -> None:
    yanglint = require_tool("yanglint")
    data = tmp_path / "bad.json"
    data.write_text(demo_config_json().replace('"spi": 256', '"spi": 5'), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert result.returncode != 0
    assert "range" in result.stderr


# -- notifications and RPCs against the engine's events ------------------------------

#: Engine event -> the notification that reports it. A field becomes the leaf of
#: the same name in YANG spelling, except the two bare addresses, named for what
#: they are.
NOTIFICATIONS: dict[type, str] = {
    events.BindingCreated: "binding-created",
    events.BindingDeleted: "binding-deleted",
    events.RegistrationDenied: "registration-denied",
    events.AuthenticationFailed: "authentication-failure",
    events.VisitorAdded: "visitor-added",
    events.VisitorRemoved: "visitor-removed",
    events.ClientRegistered: "client-registered",
    events.ClientRegistrationDenied: "registration-denied",  # with role proxy
    events.ClientRegistrationFailed: "client-registration-failed",
    events.ClientDeregistered: "client-deregistered",
}
RENAMED_FIELDS = {"source": "source-address", "peer": "peer-address"}
RPCS = ("clear-binding", "clear-visitor", "clear-counters", "clear-subnet-map", "inject-client-event")
NACM = "ietf-netconf-acm"


def yang_name(field: str) -> str:
    return RENAMED_FIELDS.get(field, field.replace("_", "-"))


@pytest.fixture(scope="module")
def schema() -> Iterator[libyang.Module]:
    context = libyang.Context(str(YANG_DIR))
    try:
        yield context.load_module("proxy-mobile-ip")
    finally:
        context.destroy()


def top_level(schema: libyang.Module, nodetype: int) -> dict[str, libyang.SNode]:
    return {node.name(): node for node in schema.children(types=(nodetype,))}


def enum_values(leaf: libyang.SNode) -> set[tuple[str, int]]:
    return {(enum.name(), enum.value()) for enum in leaf.type().enums()}


def walk(node: libyang.SNode) -> Iterator[libyang.SNode]:
    """The node and its descendants, through choices and cases (libyang-python's
    ``iter_tree`` cannot wrap a choice node; ``children`` skips over it)."""
    yield node
    # Containers, lists, RPCs and notifications have children; leaves do not.
    for child in node.children() if hasattr(node, "children") else ():
        yield from walk(child)


def every_node(schema: libyang.Module) -> Iterator[libyang.SNode]:
    for top in schema.children():
        yield from walk(top)


def leaf(parent: libyang.SNode, name: str) -> libyang.SNode:
    return next(node for node in walk(parent) if node.name() == name)


@pytest.mark.parametrize(
    ("event", "notification"), NOTIFICATIONS.items(), ids=lambda v: getattr(v, "__name__", v)
)
def test_every_event_field_is_a_notification_leaf(
    schema: libyang.Module, event: type, notification: str
) -> None:
    notifications = top_level(schema, libyang.SNode.NOTIF)
    leaves = {node.name() for node in notifications[notification].children()}
    fields = {yang_name(field.name) for field in dataclasses.fields(event)}
    assert fields - leaves == set()


def test_the_removal_reasons_agree(schema: libyang.Module) -> None:
    notifications = top_level(schema, libyang.SNode.NOTIF)
    for notification in ("binding-deleted", "visitor-removed"):
        names = {name for name, _ in enum_values(leaf(notifications[notification], "reason"))}
        assert names == {reason.value for reason in events.RemovalReason}


def test_the_violation_reasons_are_mip_mibs(schema: libyang.Module) -> None:
    # mipSecViolationReason (RFC 2006): same numbers; the operational state spells
    # BAD_SPI as bad-spi (agent/operational.py), and so must the notification.
    expected = {
        (reason.name.lower().replace("_", "-"), reason.value) for reason in events.ViolationReason
    }
    notification = top_level(schema, libyang.SNode.NOTIF)["authentication-failure"]
    assert enum_values(leaf(notification, "reason")) == expected
    violations = next(
        node
        for node in every_node(schema)
        if node.schema_path().endswith("/security-violations/violation/reason")
    )
    assert enum_values(violations) == expected


def test_inject_client_event_covers_every_client_event(schema: libyang.Module) -> None:
    rpc = top_level(schema, libyang.SNode.RPC)["inject-client-event"]
    names = {name for name, _ in enum_values(leaf(rpc, "event"))}
    leaves = {node.name() for node in rpc.input().children()}
    client_events = typing.get_args(ClientEvent)
    # ClientAddressLearned -> address-learned
    assert names == {
        re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__.removeprefix("Client")).lower()
        for cls in client_events
    }
    for cls in client_events:
        assert {field.name for field in dataclasses.fields(cls)} - leaves == set()


def test_rpcs_are_default_deny_all(schema: libyang.Module) -> None:
    # RFC 8341: default-deny-write is for data definition statements only (it is
    # ignored on an rpc); default-deny-all may also appear in an 'rpc' statement,
    # where it denies execution unless a NACM rule permits it.
    rpcs = top_level(schema, libyang.SNode.RPC)
    assert sorted(rpcs) == sorted(RPCS)
    for name, rpc in rpcs.items():
        extensions = {(ext.module().name(), ext.name()) for ext in rpc.extensions() or ()}
        assert (NACM, "default-deny-all") in extensions, name


def test_keys_are_default_deny_all(schema: libyang.Module) -> None:
    keys = [
        node
        for node in every_node(schema)
        if node.name() in ("key-hex", "key-ascii") and node.keyword() == "leaf"
    ]
    assert len(keys) == 4  # security/host and security/peer, each spelling
    for key in keys:
        extensions = {(ext.module().name(), ext.name()) for ext in key.extensions() or ()}
        assert (NACM, "default-deny-all") in extensions, key.schema_path()


def validate_operation(tmp_path: Path, kind: str, document: dict[str, object]) -> str:
    """yanglint's verdict on an RPC input or a notification: '' when valid, else
    its messages."""
    yanglint = require_tool("yanglint")
    data = tmp_path / f"{kind}.json"
    data.write_text(json.dumps(document), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", kind, str(module), str(data)])
    if result.returncode == 0:
        return ""
    return result.stderr or f"yanglint exited {result.returncode}"


MAC = "02:00:00:00:01:00"


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        pytest.param(
            {"event": "associated", "mac": MAC, "address": "10.1.0.5", "interface": "wlan0"},
            "",
            id="associated-with-address-and-interface",
        ),
        pytest.param(
            {"event": "address-learned", "mac": MAC, "address": "10.1.0.5"},
            "",
            id="address-learned",
        ),
        pytest.param({"event": "disassociated", "mac": MAC}, "", id="disassociated"),
        pytest.param(
            {"event": "address-learned", "mac": MAC},
            "an address-learned event needs an address",
            id="address-learned-without-address",
        ),
        pytest.param(
            {"event": "disassociated", "mac": MAC, "address": "10.1.0.5"},
            "a disassociated event carries no address",
            id="disassociated-with-address",
        ),
        pytest.param(
            {"event": "address-learned", "mac": MAC, "address": "10.1.0.5", "interface": "w0"},
            "only an associated event carries an interface",
            id="address-learned-with-interface",
        ),
        pytest.param({"event": "associated"}, "mac", id="no-mac"),
    ],
)
def test_yanglint_checks_inject_client_event(
    tmp_path: Path, operation: dict[str, object], error: str
) -> None:
    verdict = validate_operation(
        tmp_path, "rpc", {"proxy-mobile-ip:inject-client-event": operation}
    )
    if error:
        assert error in verdict
    else:
        assert verdict == ""


@pytest.mark.parametrize(
    ("operation", "valid"),
    [
        pytest.param({"home-address": "10.1.0.5"}, True, id="foreign-agent-visitor"),
        pytest.param({"mac": MAC}, True, id="proxy-client"),
        pytest.param({}, False, id="neither"),
    ],
)
def test_yanglint_checks_clear_visitor(
    tmp_path: Path, operation: dict[str, object], valid: bool
) -> None:
    verdict = validate_operation(tmp_path, "rpc", {"proxy-mobile-ip:clear-visitor": operation})
    assert (verdict == "") is valid, verdict


@pytest.mark.parametrize(("role", "valid"), [("proxy", True), ("home-agent", False)])
def test_yanglint_allows_a_mac_only_in_a_proxy_denial(
    tmp_path: Path, role: str, valid: bool
) -> None:
    notification = {
        "role": role,
        "home-address": "10.1.0.5",
        "home-agent": "10.1.0.1",
        "code": 131,
        "mac": MAC,
    }
    verdict = validate_operation(
        tmp_path, "notif", {"proxy-mobile-ip:registration-denied": notification}
    )
    assert (verdict == "") is valid, verdict
