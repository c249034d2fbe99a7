"""Which leaves the operator CLI never prints: read from the YANG module
(every leaf marked ``nacm:default-deny-all``, RFC 8341 §3.5.2), so the module
is the one place that says what a secret is (issue 13, follow-up).

The end-to-end check (every command against a running agent holding every
kind of secret) is ``tests/interop/test_operator_cli_secrets.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import libyang
from lxml import etree

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.netconf.errors import MODULE_NS
from agent.operator.config_diff import REDACTED, ConfigDiff, changes_json, redact, render_changes
from agent.operator.data import Decoder, drop_secrets, notification_fields, secret_leaves

#: A configuration leaf whose name says it holds key material.
_SECRET_NAME = re.compile(r"(^|-)(key|secret|password|passphrase|community)(-|$)")
#: Leaves with such a name that are not secret, and why.
NOT_SECRET = {
    "host-key-file": "a file name (the key is in the file, mode 0600)",
    "authorized-key": "SSH public keys",
}


def _config_leaves(node: Any) -> Iterator[Any]:
    for child in node.children():
        if child.config_false():
            continue
        if isinstance(child, (libyang.SLeaf, libyang.SLeafList)):
            yield child
        elif isinstance(child, (libyang.SContainer, libyang.SList)):
            yield from _config_leaves(child)


def test_every_key_secret_password_passphrase_community_leaf_is_secret() -> None:
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        named = {leaf.name() for leaf in _config_leaves(next(context.find_path(f"/{TOP_MEMBER}")))
                 if _SECRET_NAME.search(leaf.name()) and leaf.type().base() == libyang.Type.STRING}
    finally:
        context.destroy()  # type: ignore[no-untyped-call]
    assert set(NOT_SECRET) <= named  # the exceptions are still there to be excepted
    assert named - set(NOT_SECRET) <= secret_leaves()
    # Those the audit found missing from the former hand-written list.
    assert {"secret", "auth-passphrase", "priv-passphrase", "trap-community"} <= secret_leaves()


def test_only_leaves_marked_themselves() -> None:
    """The nacm container and the RPCs are marked as a whole (their leaves are
    policy and parameters, not key material): none of their leaves is taken."""
    assert secret_leaves() == {"key-hex", "key-ascii", "password", "shared-secret", "user-password",
                               "secret", "auth-passphrase", "priv-passphrase", "trap-community"}
    assert not secret_leaves() & {"enable-nacm", "rule-list", "group", "mac", "home-address"}


def test_drop_secrets_removes_snmp_and_radius_secrets() -> None:
    top = etree.fromstring(
        f'<mobile-ip xmlns="{MODULE_NS}"><snmp-agent>'
        '<community><index>ro</index><secret>c0mmunity</secret></community>'
        '<user><name>ops</name><auth-protocol>sha</auth-protocol>'
        '<auth-passphrase>authpass1</auth-passphrase><priv-passphrase>privpass1</priv-passphrase>'
        '</user><notification-receiver><name>nms</name><address>127.0.0.9</address>'
        '<trap-community>trapc</trap-community></notification-receiver></snmp-agent>'
        '<radius><user-password>userpw</user-password></radius></mobile-ip>')
    with Decoder() as decoder:
        content = decoder.content(drop_secrets(top))
    assert content == {"snmp-agent": {
        "community": [{"index": "ro"}],
        "user": [{"name": "ops", "auth-protocol": "sha"}],
        "notification-receiver": [{"name": "nms", "address": "127.0.0.9"}]}}


def test_a_notification_never_shows_a_secret_leaf() -> None:
    ns = "urn:ietf:params:xml:ns:netconf:notification:1.0"
    message = etree.fromstring(
        f'<notification xmlns="{ns}"><eventTime>2026-01-01T00:00:00Z</eventTime>'
        f'<x xmlns="{MODULE_NS}"><shared-secret>s</shared-secret><trap-community>t</trap-community>'
        '<address>1.2.3.4</address></x></notification>')
    assert notification_fields(message)[2] == {"address": "1.2.3.4"}


def test_config_diff_redacts_every_secret_leaf() -> None:
    def document(secret: str, passphrase: str) -> str:
        return ('{"proxy-mobile-ip:mobile-ip": {"snmp-agent": {'
                f'"community": [{{"index": "ro", "secret": "{secret}"}}], '
                '"user": [{"name": "ops", "auth-protocol": "sha", '
                f'"auth-passphrase": "{passphrase}"}}]}}}}}}')
    with ConfigDiff() as differ:
        old = differ._effective(document("oldcommunity", "oldpassphrase"), "json", origin="a")
        new = differ._effective(document("newcommunity", "newpassphrase"), "json", origin="b")
        changes = differ.changes(old, new)
    text = render_changes(changes, file="b", against="a")
    assert text.count(f"{REDACTED} -> {REDACTED}") == 2, text
    as_json = str(changes_json(changes))
    assert not re.search("(old|new)(community|passphrase)", text + as_json)
    assert redact({"user": [{"name": "ops", "priv-passphrase": "p"}]}) == {
        "user": [{"name": "ops", "priv-passphrase": REDACTED}]}
