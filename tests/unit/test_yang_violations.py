"""YANG validation failures become the NETCONF errors RFC 7950 names
(``agent/schema/violations.py``, ``agent/schema/errors.py`` ``VIOLATIONS``):

- §15.1 unique: operation-failed, data-not-unique, <non-unique> per leaf;
- §15.2 / §15.3 max- / min-elements: operation-failed, too-many- / too-few-elements,
  error-path the list node;
- §15.4 must: operation-failed, must-violation or the must's own error-app-tag;
- §15.5 leafref with require-instance: data-missing, instance-required;
- §15.6 mandatory choice: data-missing, missing-choice, <missing-choice>;
- §8.3.1 when false: unknown-element; a type restriction (even with an
  error-app-tag): invalid-value; both cases: bad-element; unknown node:
  unknown-element.

Every case runs against the real libyang, through the real Datastore, and is
rendered by the NETCONF layer: a libyang whose error items or messages change
fails here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.schema import violations
from agent.schema.context import MODULE_NAME, YANG_DIR_ENV, yang_dir
from agent.schema.errors import ConfigError
from agent.schema.validator import Validator
from agent.datastore.edits import Edit, Operation
from agent.datastore.errors import YANG_NS, DatastoreError, ErrorTag, Violation
from agent.datastore.paths import parse_path
from agent.datastore.store import RUNNING, Datastore
from agent.netconf.errors import BASE_NS, MODULE_NS, from_datastore

MIP = "/proxy-mobile-ip:mobile-ip"

# A module of the same name and namespace as ours, holding one of each
# construct (ours has no min-elements, no when, no leafref of its own).
TEST_MODULE = """
module proxy-mobile-ip {
  yang-version 1.1;
  namespace "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip";
  prefix pmip;
  container mobile-ip {
    list pool {
      key name;
      unique "owner slot/number";
      leaf name { type string; }
      leaf owner { type string; }
      container slot { leaf number { type uint8; } }
    }
    leaf-list tag { type string; max-elements 2; }
    container strict {
      presence "An empty datastore must be valid: the rules live here.";
      list site { key name; min-elements 1; leaf name { type string; } }
      choice mode { mandatory true; leaf fast { type empty; } leaf slow { type empty; } }
    }
    leaf plain { type int8; must ". < 5"; }
    leaf tagged {
      type int8 { range "0..100" { error-app-tag "tagged-range"; } }
      must ". < 5" { error-app-tag "tagged-too-big"; error-message "tagged is at most 4"; }
    }
    list entry {
      key name;
      leaf name { type string; }
      choice kind { mandatory true; leaf a { type string; } leaf b { type string; } }
      leaf required { type string; mandatory true; }
    }
    leaf pool-ref { type leafref { path "../pool/name"; } }
    leaf only-when-plain-is-one { type string; when "../plain = 1"; }
  }
}
"""

VALID = {"strict": {"site": [{"name": "s"}], "fast": [None]}}
STRICT = f"{MIP}/strict"


@pytest.fixture
def test_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Datastore]:
    (tmp_path / f"{MODULE_NAME}.yang").write_text(TEST_MODULE, encoding="utf-8")
    monkeypatch.setenv(YANG_DIR_ENV, str(tmp_path))
    datastore = Datastore()
    datastore.replace_config(RUNNING, {"proxy-mobile-ip:mobile-ip": VALID})
    yield datastore
    datastore.close()


def merge(path: str, value: Any) -> Edit:
    return Edit(Operation.MERGE, parse_path(path), value)


def delete(path: str) -> Edit:
    return Edit(Operation.DELETE, parse_path(path))


def refused(datastore: Datastore, *edits: Edit) -> DatastoreError:
    before = datastore.get_config(RUNNING)
    with pytest.raises(DatastoreError) as caught:
        datastore.edit(RUNNING, list(edits))
    assert datastore.get_config(RUNNING) == before
    return caught.value


def rendered(error: DatastoreError) -> etree._Element:
    """The <rpc-error> as it goes on the wire (re-parsed, so that namespaces are
    those of the text)."""
    return etree.fromstring(etree.tostring(from_datastore(error).to_xml()))


def field(xml: etree._Element, name: str) -> str | None:
    return xml.findtext(f"{{{BASE_NS}}}{name}")


def yang_info(xml: etree._Element, name: str) -> list[etree._Element]:
    return xml.findall(f"{{{BASE_NS}}}error-info/{{{YANG_NS}}}{name}")


CASES = [
    pytest.param([merge(f"{MIP}/pool[name='p1']", {"owner": "x", "slot": {"number": 1}}),
                  merge(f"{MIP}/pool[name='p2']", {"owner": "x", "slot": {"number": 1}})],
                 Violation.UNIQUE, ErrorTag.OPERATION_FAILED, "data-not-unique",
                 f"{MIP}/pool[name='p2']", id="unique-15.1"),
    pytest.param([merge(f"{MIP}/tag", ["a", "b", "c"])],
                 Violation.MAX_ELEMENTS, ErrorTag.OPERATION_FAILED, "too-many-elements",
                 f"{MIP}/tag", id="max-elements-15.2"),
    pytest.param([delete(f"{STRICT}/site[name='s']")],
                 Violation.MIN_ELEMENTS, ErrorTag.OPERATION_FAILED, "too-few-elements",
                 f"{STRICT}/site", id="min-elements-15.3"),
    pytest.param([merge(f"{MIP}/plain", 7)],
                 Violation.MUST, ErrorTag.OPERATION_FAILED, "must-violation",
                 f"{MIP}/plain", id="must-15.4"),
    pytest.param([merge(f"{MIP}/tagged", 7)],
                 Violation.MUST, ErrorTag.OPERATION_FAILED, "tagged-too-big",
                 f"{MIP}/tagged", id="must-own-app-tag-15.4"),
    pytest.param([merge(f"{MIP}/pool-ref", "nowhere")],
                 Violation.INSTANCE_REQUIRED, ErrorTag.DATA_MISSING, "instance-required",
                 f"{MIP}/pool-ref", id="leafref-15.5"),
    pytest.param([delete(f"{STRICT}/fast")],
                 Violation.MISSING_CHOICE, ErrorTag.DATA_MISSING, "missing-choice",
                 STRICT, id="missing-choice-15.6"),
    pytest.param([merge(f"{MIP}/entry[name='e']", {"required": "r"})],
                 Violation.MISSING_CHOICE, ErrorTag.DATA_MISSING, "missing-choice",
                 f"{MIP}/entry[name='e']", id="missing-choice-in-entry-15.6"),
    pytest.param([merge(f"{MIP}/only-when-plain-is-one", "x")],
                 Violation.WHEN, ErrorTag.UNKNOWN_ELEMENT, None,
                 f"{MIP}/only-when-plain-is-one", id="when-8.3.1"),
    pytest.param([merge(f"{MIP}/tagged", 107)],
                 Violation.TYPE, ErrorTag.INVALID_VALUE, "tagged-range",
                 f"{MIP}/tagged", id="range-own-app-tag-8.3.1"),
    pytest.param([merge(f"{MIP}/plain", "seven")],
                 Violation.TYPE, ErrorTag.INVALID_VALUE, None,
                 f"{MIP}/plain", id="type-8.3.1"),
    pytest.param([merge(f"{MIP}/entry[name='e']", {"a": "x"})],
                 Violation.MANDATORY, ErrorTag.MISSING_ELEMENT, None,
                 f"{MIP}/entry[name='e']", id="mandatory-leaf"),
]


@pytest.mark.parametrize("edits, violation, tag, app_tag, path", CASES)
def test_each_violation_gets_its_rfc_7950_error(
    test_module: Datastore, edits: list[Edit], violation: Violation, tag: ErrorTag,
    app_tag: str | None, path: str,
) -> None:
    error = refused(test_module, *edits)
    assert (error.violation, error.tag, error.app_tag, error.path) == (violation, tag, app_tag, path)
    xml = rendered(error)
    assert field(xml, "error-tag") == tag.value
    assert field(xml, "error-app-tag") == app_tag
    assert field(xml, "error-type") == "application"


def test_non_unique_names_every_leaf_of_both_entries(test_module: Datastore) -> None:
    """RFC 7950 §15.1: one <non-unique> per leaf breaking the constraint, in the
    YANG namespace, an instance-identifier (XML form: every node prefixed,
    §9.13.2) whose prefix resolves to our module."""
    error = refused(test_module,
                    merge(f"{MIP}/pool[name='p1']", {"owner": "x", "slot": {"number": 1}}),
                    merge(f"{MIP}/pool[name='p2']", {"owner": "x", "slot": {"number": 1}}))
    assert error.yang_info == tuple(
        ("non-unique", f"{MIP}/pool[name='{entry}']/{leaf}")
        for entry in ("p1", "p2") for leaf in ("owner", "slot/number"))
    elements = yang_info(rendered(error), "non-unique")
    assert [e.text for e in elements] == [
        f"/proxy-mobile-ip:mobile-ip/proxy-mobile-ip:pool[proxy-mobile-ip:name='{entry}']/{leaf}"
        for entry in ("p1", "p2")
        for leaf in ("proxy-mobile-ip:owner", "proxy-mobile-ip:slot/proxy-mobile-ip:number")]
    assert all(e.nsmap["proxy-mobile-ip"] == MODULE_NS for e in elements)


@pytest.mark.parametrize("edits, choice", [
    ([delete(f"{STRICT}/fast")], "mode"),
    ([merge(f"{MIP}/entry[name='e']", {"required": "r"})], "kind"),
])
def test_missing_choice_is_named(test_module: Datastore, edits: list[Edit], choice: str) -> None:
    """RFC 7950 §15.6: <missing-choice> holds the name of the choice."""
    error = refused(test_module, *edits)
    assert error.yang_info == (("missing-choice", choice),)
    assert [e.text for e in yang_info(rendered(error), "missing-choice")] == [choice]


def test_missing_leaf_and_false_when_name_the_element(test_module: Datastore) -> None:
    """RFC 6241 Appendix A: missing-element and unknown-element carry <bad-element>."""
    error = refused(test_module, merge(f"{MIP}/entry[name='e']", {"a": "x"}))
    assert rendered(error).findtext(f"{{{BASE_NS}}}error-info/{{{BASE_NS}}}bad-element") == "required"
    error = refused(test_module, merge(f"{MIP}/only-when-plain-is-one", "x"))
    assert rendered(error).findtext(
        f"{{{BASE_NS}}}error-info/{{{BASE_NS}}}bad-element") == "only-when-plain-is-one"


def test_both_cases_and_unknown_nodes_from_a_document(test_module: Datastore) -> None:
    """RFC 7950 §8.3.1: data for two cases is bad-element; a node the schema
    lacks is unknown-element (a whole document, as <validate> or a startup
    file gives it)."""
    validator = Validator()
    try:
        both = {"strict": {**VALID["strict"], "slow": [None]}}
        for content, violation, bad in ((both, Violation.BOTH_CASES, "slow"),
                                        ({**VALID, "bogus": 1}, Violation.UNKNOWN_NODE, "bogus")):
            with pytest.raises(ConfigError) as caught:
                validator.validate(json.dumps({"proxy-mobile-ip:mobile-ip": content}), "json")
            assert (caught.value.violation, caught.value.info) == (violation, {"bad-element": bad})
    finally:
        validator.close()


def test_unique_in_our_module(tmp_path: Path) -> None:
    """The real module: two proxy interfaces on one hostapd socket (RFC 7950 §15.1)."""
    datastore = Datastore()
    try:
        interfaces = f"{MIP}/proxy/interface"
        error = refused(datastore,
                        merge(f"{interfaces}[name='wlan0']", {"hostapd-control-path": "/run/h/wlan0"}),
                        merge(f"{interfaces}[name='wlan1']", {"hostapd-control-path": "/run/h/wlan0"}))
        assert (error.tag, error.app_tag) == (ErrorTag.OPERATION_FAILED, "data-not-unique")
        assert {value for _, value in error.yang_info} == {
            f"{interfaces}[name='{name}']/hostapd-control-path" for name in ("wlan0", "wlan1")}
    finally:
        datastore.close()


def test_every_error_app_tag_of_our_module_belongs_to_one_statement() -> None:
    """The classification's premise: a module error-app-tag is a must's exactly
    when ``must_app_tags`` lists it, and no tag is shared between statements
    (so a must's tag cannot be mistaken for a range's or a pattern's)."""
    text = (yang_dir() / f"{MODULE_NAME}.yang").read_text(encoding="utf-8")
    used = Counter(re.findall(r'error-app-tag\s+"([^"]+)"', text))
    assert [tag for tag, count in used.items() if count > 1] == []
    # Each error-app-tag belongs to the nearest statement before it that can hold one.
    under_must = set()
    for match in re.finditer(r'error-app-tag\s+"([^"]+)"', text):
        owners = re.findall(r"(?m)^\s*(must|range|length|pattern)\b", text[: match.start()])
        if owners[-1] == "must":
            under_must.add(match.group(1))
    validator = Validator()
    try:
        assert violations.must_app_tags(validator._context, MODULE_NAME) == under_must
    finally:
        validator.close()
    assert "client-address-required" in under_must  # an RPC input's must is seen too
