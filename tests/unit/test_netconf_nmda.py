"""RFC 8525 YANG library, RFC 8526 get-data / edit-data and the RFC 6241 §8.9
XPath filter, called as the session calls the operations (no SSH), on the real
datastore and the real libyang.

The YANG library is checked against what it claims: every module it lists is
shipped in ``yang/`` and loads with libyang from there (every import listed,
every feature declared), and ``/yang-library`` validates against the
published ietf-yang-library module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libyang
import pytest
from lxml import etree

from agent.schema.context import yang_dir
from agent.datastore.store import CANDIDATE, RUNNING, Datastore
from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.nmda import DATASTORES_NS, NMDA_NS
from agent.netconf.operations import Operations
from agent.netconf.xpath import _from_root
from agent.netconf.yanglib import YANG_LIBRARY_NS

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
MON = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
YANG = Path(__file__).resolve().parents[2] / "yang"
DS = f'xmlns:ds="{DATASTORES_NS}"'


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = None  # the recovery session (RFC 8341 §3.3.3)


class Agent:
    def __init__(self, datastore: Datastore, operations: Operations) -> None:
        self.datastore = datastore
        self.operations = operations

    def rpc(self, body: str, *, session: int = 1,
            username: str | None = None) -> etree._Element | None:
        rpc = etree.fromstring(
            f'<rpc xmlns="{BASE_NS}" xmlns:m="{NS}" message-id="1">{body}</rpc>')
        return self.operations(rpc[0], Session(session, username))

    def error(self, body: str, *, session: int = 1, username: str | None = None) -> RpcError:
        with pytest.raises(RpcError) as caught:
            self.rpc(body, session=session, username=username)
        return caught.value

    def get_data(self, datastore: str, extra: str = "") -> etree._Element:
        data = self.rpc(f'<get-data xmlns="{NMDA_NS}" {DS}><datastore>ds:{datastore}'
                        f"</datastore>{extra}</get-data>")
        assert data is not None and data.tag == f"{{{NMDA_NS}}}data"
        return data

    def edit_data(self, datastore: str, config: str, extra: str = "") -> None:
        assert self.rpc(f'<edit-data xmlns="{NMDA_NS}" {DS}><datastore>ds:{datastore}'
                        f'</datastore>{extra}<config><mobile-ip xmlns="{NS}">{config}'
                        "</mobile-ip></config></edit-data>") is None


@pytest.fixture
def agent() -> Iterator[Agent]:
    datastore = Datastore()
    operations = Operations(datastore, yang_dir=yang_dir())
    yield Agent(datastore, operations)
    operations.close()
    datastore.close()


def subnet(prefix: str, home_agent: str = "192.0.2.1") -> str:
    return (f"<subnet-map><prefix>{prefix}</prefix><home-agent>{home_agent}</home-agent>"
            "</subnet-map>")


def host(address: str, spi: int) -> str:
    return f"<host><address>{address}</address><spi>{spi}</spi><key-hex>{KEY_HEX}</key-hex></host>"


def tops(data: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in data]


def texts(data: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in data.iterfind(path, {"m": NS, "l": YANG_LIBRARY_NS})]


def info(error: RpcError) -> dict[str, str]:
    found = error.to_xml().find(f"{{{BASE_NS}}}error-info")
    return {} if found is None else {etree.QName(e).localname: e.text or "" for e in found}


# -- the YANG library (RFC 8525) ----------------------------------------------------------


def test_every_listed_module_ships_and_loads_with_its_imports_and_features(agent: Agent) -> None:
    library = agent.operations.library
    listed = {(m.name, m.revision) for m in library.modules()}
    context = libyang.Context(str(YANG), disable_searchdir_cwd=True)
    try:
        for module in library.modules():
            assert module.file is not None and module.file.is_file(), module.name
            text = module.file.read_text()
            assert re.search(rf"^\s*revision\s+\"?{module.revision}", text, re.MULTILINE)
            for imported, revision in re.findall(
                    r"^\s*import\s+([\w-]+)\s*\{[^}]*?(?:revision-date\s+\"?([\d-]+))?",
                    text, re.MULTILINE):
                names = {name for name, _ in listed}
                assert imported in names, f"{module.name} imports {imported}, not listed"
                if revision:
                    assert (imported, revision) in listed
        for module in library.implemented:
            loaded = context.load_module(module.name)
            declared = {f.name() for f in loaded.features()}
            assert set(module.features) <= declared, module.name
            for feature in module.features:
                loaded.feature_enable(feature)
    finally:
        context.destroy()


def test_yang_library_validates_against_the_published_module(agent: Agent) -> None:
    data = agent.get_data("operational", f'<subtree-filter><yang-library xmlns="{YANG_LIBRARY_NS}"/>'
                          f'<modules-state xmlns="{YANG_LIBRARY_NS}"/></subtree-filter>')
    assert tops(data) == ["yang-library", "modules-state"]
    context = libyang.Context(str(YANG / "ietf"), disable_searchdir_cwd=True)
    try:
        context.load_module("ietf-yang-library")
        text = "".join(etree.tostring(c).decode() for c in data)
        tree = context.parse_data_mem(text, "xml", strict=True, validate_present=True)
        assert tree is not None
        tree.free()
    finally:
        context.destroy()
    assert texts(data, "l:yang-library/l:datastore/l:name") == [
        "ds:running", "ds:candidate", "ds:startup", "ds:intended", "ds:operational"]
    modules = texts(data, "l:yang-library/l:module-set/l:module/l:name")
    assert modules[0] == "proxy-mobile-ip"
    assert {"ietf-netconf", "ietf-netconf-nmda", "ietf-yang-library",
            "ietf-netconf-monitoring"} <= set(modules)
    # Imported for its extension only (NACM's policy is the module's own container).
    assert "ietf-netconf-acm" in texts(data, "l:yang-library/l:module-set/"
                                             "l:import-only-module/l:name")
    features = texts(data, "l:yang-library/l:module-set/l:module[l:name='ietf-netconf']/l:feature")
    assert "xpath" in features and "url" not in features


def test_content_id_names_the_content_and_is_in_the_hello(agent: Agent) -> None:
    library = agent.operations.library
    capability = f"urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04" \
                 f"&content-id={library.content_id}"
    assert capability in agent.operations.capabilities()
    assert library.element().findtext(f"{{{YANG_LIBRARY_NS}}}content-id") == library.content_id
    # RFC 8525 §3: a different library has a different content-id.
    from dataclasses import replace
    assert replace(library, datastores=library.datastores[:-1]).content_id != library.content_id
    assert replace(library).content_id == library.content_id


def test_get_carries_the_yang_library_and_get_schema_serves_its_modules(agent: Agent) -> None:
    data = agent.rpc("<get/>")
    assert data is not None
    assert tops(data)[-3:] == ["netconf-state", "yang-library", "modules-state"]
    schemas = data.findall(f"{{{MON}}}netconf-state/{{{MON}}}schemas/{{{MON}}}schema")
    listed = {s.findtext(f"{{{MON}}}identifier") for s in schemas}
    assert listed == {m.name for m in agent.operations.library.modules()}
    reply = agent.rpc(f'<get-schema xmlns="{MON}"><identifier>ietf-netconf-nmda</identifier>'
                      "<version>2019-01-07</version></get-schema>")
    assert reply is not None
    assert reply.text == (YANG / "ietf" / "ietf-netconf-nmda@2019-01-07.yang").read_text()


# -- get-data (RFC 8526 §3.1.1) -----------------------------------------------------------


def test_get_data_on_each_datastore(agent: Agent) -> None:
    agent.edit_data("running", subnet("10.1.0.0/16"))
    agent.edit_data("candidate", subnet("10.2.0.0/16"))
    for name, prefixes in (("running", ["10.1.0.0/16"]), ("intended", ["10.1.0.0/16"]),
                           ("candidate", ["10.1.0.0/16", "10.2.0.0/16"]), ("startup", [])):
        data = agent.get_data(name)
        assert texts(data, "m:mobile-ip/m:subnet-map/m:prefix") == prefixes, name
        assert "netconf-state" not in tops(data)
    operational = agent.get_data("operational")
    assert tops(operational) == ["mobile-ip", "netconf-state", "yang-library", "modules-state"]
    assert texts(operational, "m:mobile-ip/m:subnet-map/m:prefix") == ["10.1.0.0/16"]


def test_get_data_config_filter_and_filters(agent: Agent) -> None:
    agent.edit_data("running", subnet("10.1.0.0/16") + subnet("10.3.0.0/16", "192.0.2.3"))
    state = agent.get_data("operational", "<config-filter>false</config-filter>")
    assert tops(state)[-3:] == ["netconf-state", "yang-library", "modules-state"]
    # Of the module, only its state containers (here the NACM counters at most).
    assert texts(state, "m:mobile-ip/m:subnet-map/m:prefix") == []
    assert all(name.endswith("-state") for c in state[:-3] for name in tops(c))
    assert tops(agent.get_data("operational", "<config-filter>true</config-filter>")) == [
        "mobile-ip"]
    assert tops(agent.get_data("running", "<config-filter>false</config-filter>")) == []
    subtree = agent.get_data("running", f'<subtree-filter><mobile-ip xmlns="{NS}"><subnet-map>'
                             "<home-agent>192.0.2.3</home-agent></subnet-map></mobile-ip>"
                             "</subtree-filter>")
    assert texts(subtree, "m:mobile-ip/m:subnet-map/m:prefix") == ["10.3.0.0/16"]
    xpath = agent.get_data("running", f'<xpath-filter xmlns:p="{NS}">/p:mobile-ip/p:subnet-map'
                           "[p:home-agent='192.0.2.3']/p:home-agent</xpath-filter>")
    # The selected leaf, its ancestors and the list entry's key.
    entry = xpath.find(f"{{{NS}}}mobile-ip/{{{NS}}}subnet-map")
    assert entry is not None and tops(entry) == ["prefix", "home-agent"]
    assert texts(xpath, "m:mobile-ip/m:subnet-map/m:prefix") == ["10.3.0.0/16"]


def test_get_data_max_depth(agent: Agent) -> None:
    agent.edit_data("running", subnet("10.1.0.0/16"))
    top = agent.get_data("running", "<max-depth>1</max-depth>")
    assert [len(c) for c in top] == [0]  # the top container, no children
    two = agent.get_data("running", "<max-depth>2</max-depth>")
    entry = two.find(f"{{{NS}}}mobile-ip/{{{NS}}}subnet-map")
    assert entry is not None and tops(entry) == ["prefix"]  # a list entry keeps its key
    selected = agent.get_data("running", f'<subtree-filter><mobile-ip xmlns="{NS}"><subnet-map/>'
                              "</mobile-ip></subtree-filter><max-depth>1</max-depth>")
    entry = selected.find(f"{{{NS}}}mobile-ip/{{{NS}}}subnet-map")
    assert entry is not None and tops(entry) == ["prefix"]  # depth counts from the selection
    whole = agent.get_data("running", "<max-depth>unbounded</max-depth>")
    assert texts(whole, "m:mobile-ip/m:subnet-map/m:home-agent") == ["192.0.2.1"]


@pytest.mark.parametrize(("extra", "tag", "bad_element"), [
    ("<datastore>ds:nonesuch</datastore>", "invalid-value", "datastore"),
    ("<datastore>running</datastore>", "invalid-value", "datastore"),  # not an identity of ds
    ("<datastore>ds:operational</datastore><with-defaults xmlns="
     '"urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">report-all</with-defaults>',
     "invalid-value", "with-defaults"),
    ("<datastore>ds:running</datastore><max-depth>0</max-depth>", "invalid-value", "max-depth"),
    ("<datastore>ds:running</datastore><config-filter>yes</config-filter>", "invalid-value",
     "config-filter"),
    ("<datastore>ds:running</datastore><xpath-filter>count(/*)</xpath-filter>", "invalid-value",
     "xpath-filter"),
    ("<datastore>ds:running</datastore><xpath-filter>/x:y</xpath-filter>", "invalid-value",
     "xpath-filter"),
    ("<datastore>ds:running</datastore><subtree-filter/><xpath-filter>/a</xpath-filter>",
     "bad-element", "xpath-filter"),
    ("<datastore>ds:operational</datastore><with-origin/>", "unknown-element", "with-origin"),
    ("", "missing-element", "datastore"),
])
def test_get_data_errors(agent: Agent, extra: str, tag: str, bad_element: str) -> None:
    error = agent.error(f'<get-data xmlns="{NMDA_NS}" {DS}>{extra}</get-data>')
    assert (error.tag, error.error_type) == (tag, "protocol"), error
    assert info(error)["bad-element"] == bad_element


# -- edit-data (RFC 8526 §3.2) ------------------------------------------------------------


def test_edit_data_is_edit_config(agent: Agent) -> None:
    agent.edit_data("running", subnet("10.1.0.0/16") + subnet("10.2.0.0/16"))
    agent.edit_data("running", '<subnet-map xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
                    ' nc:operation="delete"><prefix>10.1.0.0/16</prefix></subnet-map>')
    assert texts(agent.get_data("running"), "m:mobile-ip/m:subnet-map/m:prefix") == ["10.2.0.0/16"]
    agent.edit_data("candidate", subnet("10.9.0.0/16"),
                    extra="<default-operation>replace</default-operation>")
    assert texts(agent.get_data("candidate"), "m:mobile-ip/m:subnet-map/m:prefix") == [
        "10.9.0.0/16"]
    # The same errors as edit-config: data-exists, data-missing, an invalid value.
    create = ('<subnet-map xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
              'nc:operation="create"><prefix>10.2.0.0/16</prefix>'
              "<home-agent>192.0.2.1</home-agent></subnet-map>")
    for config, tag in ((create, "data-exists"),
                        (create.replace('"create"', '"delete"').replace("10.2.", "10.7."),
                         "data-missing"),
                        (subnet("10.5.0.0/16", "not-an-address"), "invalid-value")):
        with pytest.raises(RpcError) as caught:
            agent.edit_data("running", config)
        assert caught.value.tag == tag
    assert texts(agent.get_data("running"), "m:mobile-ip/m:subnet-map/m:prefix") == ["10.2.0.0/16"]


@pytest.mark.parametrize("datastore", ["operational", "intended", "startup"])
def test_edit_data_refuses_read_only_datastores(agent: Agent, datastore: str) -> None:
    error = agent.error(f'<edit-data xmlns="{NMDA_NS}" {DS}><datastore>ds:{datastore}</datastore>'
                        f'<config><mobile-ip xmlns="{NS}"/></config></edit-data>')
    assert (error.tag, info(error)["bad-element"]) == ("invalid-value", "datastore")


def test_lock_unlock_validate_take_an_nmda_datastore(agent: Agent) -> None:
    target = f'<target><datastore xmlns="{NMDA_NS}" {DS}>ds:candidate</datastore></target>'
    assert agent.rpc(f"<lock>{target}</lock>") is None
    assert agent.datastore.lock_holder(CANDIDATE) == 1
    error = agent.error(f"<lock>{target}</lock>", session=2)
    assert (error.tag, info(error)["session-id"]) == ("lock-denied", "1")
    assert agent.rpc(f"<unlock>{target}</unlock>") is None
    assert agent.datastore.lock_holder(CANDIDATE) is None
    assert agent.rpc(f'<validate><source><datastore xmlns="{NMDA_NS}" {DS}>ds:running'
                     "</datastore></source></validate>") is None
    error = agent.error(f'<lock><target><datastore xmlns="{NMDA_NS}" {DS}>ds:operational'
                        "</datastore></target></lock>")
    assert error.tag == "invalid-value"
    assert agent.datastore.lock_holder(RUNNING) is None


# -- XPath filters on get and get-config (RFC 6241 §8.9) ----------------------------------


def test_xpath_filter_on_get_config_and_get(agent: Agent) -> None:
    agent.edit_data("running", subnet("10.1.0.0/16") + subnet("10.2.0.0/16", "192.0.2.2")
                    + f"<security>{host('10.1.0.5', 300)}</security>")
    data = agent.rpc('<get-config><source><running/></source><filter type="xpath" '
                     f'xmlns:p="{NS}" select="/p:mobile-ip/p:subnet-map[p:prefix=\'10.2.0.0/16\']"/>'
                     "</get-config>")
    assert data is not None
    assert texts(data, "m:mobile-ip/m:subnet-map/m:home-agent") == ["192.0.2.2"]
    assert [tops(c) for c in data] == [["subnet-map"]]
    # Relative paths start at the root node; a union across top-level nodes.
    data = agent.rpc('<get><filter type="xpath" select="m:mobile-ip/m:security/m:host/m:spi | '
                     f'/mon:netconf-state/mon:schemas" xmlns:mon="{MON}"/></get>')
    assert data is not None
    assert tops(data) == ["mobile-ip", "netconf-state"]
    host_entry = data.find(f"{{{NS}}}mobile-ip/{{{NS}}}security/{{{NS}}}host")
    assert host_entry is not None and tops(host_entry) == ["address", "spi"]  # keys kept
    assert data.find(f"{{{NS}}}mobile-ip/{{{NS}}}subnet-map") is None
    # A predicate over another top-level node (the root has them all as children).
    data = agent.rpc('<get-config><source><running/></source><filter type="xpath" '
                     'select="/m:mobile-ip/m:subnet-map[count(/m:mobile-ip/m:subnet-map) = 2]'
                     '/m:prefix"/></get-config>')
    assert data is not None and len(texts(data, "m:mobile-ip/m:subnet-map/m:prefix")) == 2
    # Nothing selected: empty data.
    data = agent.rpc('<get-config><source><running/></source><filter type="xpath" '
                     'select="/m:mobile-ip/m:subnet-map[m:prefix=\'1.1.1.0/24\']"/></get-config>')
    assert data is not None and len(data) == 0


@pytest.mark.parametrize(("attributes", "tag", "bad_attribute"), [
    ('select="/m:mobile-ip["', "invalid-value", "select"),
    ('select="/nope:mobile-ip"', "invalid-value", "select"),
    ('select="string(/m:mobile-ip)"', "invalid-value", "select"),
    ('select="/m:mobile-ip[re:test(., \'x\')]" xmlns:re="http://exslt.org/regular-expressions"',
     "invalid-value", "select"),
    ('select=""', "invalid-value", "select"),
    ("", "missing-attribute", "select"),
])
def test_xpath_filter_errors(agent: Agent, attributes: str, tag: str, bad_attribute: str) -> None:
    agent.edit_data("running", subnet("10.1.0.0/16"))  # some data for the predicates to test
    error = agent.error(f'<get-config><source><running/></source><filter type="xpath" '
                        f"{attributes}/></get-config>")
    assert (error.tag, error.error_type) == (tag, "protocol"), error
    assert info(error) == {"bad-attribute": bad_attribute, "bad-element": "filter"}


@pytest.mark.parametrize(("expression", "rooted"), [
    ("a/b", "/a/b"), ("/a", "/a"), (".", "/."), ("//a", "//a"), ("a | /b", "/a | /b"),
    ("count(a) > 1", "count(/a) > 1"), ("a[b = c]/d", "/a[b = c]/d"), ("x and y", "/x and /y"),
    ("2 * 3", "2 * 3"), ("a * b", "/a * /b"), ("child::a", "/child::a"), ("$v/a", "$v/a"),
    ("(a)/b", "(/a)/b"), ("@x", "/@x"), ('a[. = "/x"]', '/a[. = "/x"]'), ("p:*", "/p:*"),
    ("a mod b", "/a mod /b"), ("text()", "/text()"), ("not(a)", "not(/a)"),
])
def test_relative_paths_start_at_the_root_node(expression: str, rooted: str) -> None:
    assert _from_root(expression) == rooted


def test_an_xpath_that_overruns_is_resource_denied_and_blocks_nothing(agent: Agent) -> None:
    """XPath 1.0 has no cost bound: an evaluation past its time is answered
    resource-denied (RFC 6241 Appendix A) and, while it still runs in its
    thread, no other one starts; afterwards filters work again."""
    from agent.netconf.xpath import apply_xpath, compile_filter, evaluation_idle

    scope = etree.fromstring(f'<f xmlns:p="{NS}"/>')
    count = 4_000
    data = etree.fromstring(f'<data xmlns="{BASE_NS}"><mobile-ip xmlns="{NS}">'
                            + "".join(f"<x>a{i}</x>" for i in range(count))
                            + "".join(f"<y>b{i}</y>" for i in range(count)) + "</mobile-ip></data>")
    # Quadratic: each x compared with every y, none equal (seconds here).
    slow = compile_filter("/p:mobile-ip/p:x[. = /p:mobile-ip/p:y]", scope, bad_element="filter")
    with pytest.raises(RpcError) as caught:
        apply_xpath(data, slow, keys_of=lambda names: (), timeout=0.01)
    assert (caught.value.tag, caught.value.error_type) == ("resource-denied", "application")
    quick = compile_filter("/p:mobile-ip", scope, bad_element="filter")
    with pytest.raises(RpcError) as caught:
        apply_xpath(data, quick, keys_of=lambda names: ())
    assert "still running" in caught.value.message
    assert evaluation_idle(timeout=60)
    assert len(apply_xpath(data, quick, keys_of=lambda names: ())) == 1


def test_get_data_xpath_has_the_yang_functions(agent: Agent) -> None:
    """RFC 8526 §3.1.1: the xpath-filter's library adds RFC 7950 §10's
    functions: derived-from(-or-self) over the library's identities (the
    datastore identities of RFC 8342: running derives from conventional),
    re-match; <filter type="xpath"> keeps the core library (RFC 6241 §8.9.1)."""
    lib = f'xmlns:l="{YANG_LIBRARY_NS}" {DS}'

    def names(expression: str) -> list[str]:
        data = agent.get_data("operational", f"<xpath-filter {lib}>{expression}</xpath-filter>")
        return texts(data, "l:yang-library/l:datastore/l:name")

    assert names("/l:yang-library/l:datastore[derived-from(l:name, 'ds:conventional')]") == [
        "ds:running", "ds:candidate", "ds:startup", "ds:intended"]
    assert names("/l:yang-library/l:datastore[derived-from(l:name, 'ds:operational')]") == []
    assert names("/l:yang-library/l:datastore"
                 "[derived-from-or-self(l:name, 'ds:operational')]") == ["ds:operational"]
    assert names("/l:yang-library/l:datastore[re-match(l:name, 'ds:(run|cand).*')]") == [
        "ds:running", "ds:candidate"]
    error = agent.error(f'<get-data xmlns="{NMDA_NS}" {DS}><datastore>ds:operational</datastore>'
                        f"<xpath-filter {lib}>/l:yang-library[enum-value(.) = 1]</xpath-filter>"
                        "</get-data>")
    assert (error.tag, info(error)["bad-element"]) == ("invalid-value", "xpath-filter")
    error = agent.error(f'<get><filter type="xpath" {lib} select="/l:yang-library/l:datastore'
                        "[re-match(l:name, 'ds:.*')]\"/></get>")
    assert error.tag == "invalid-value"  # core library only


def test_get_data_and_edit_data_go_through_access_control(agent: Agent) -> None:
    """RFC 8341 §3.4.5: get-data reads what <get-config> lets the user read
    (no default-deny-all key), edit-data writes what edit-config lets it write
    (nothing, for a user of no group: write-default deny, §3.2.5)."""
    agent.edit_data("running", subnet("10.1.0.0/16") + f"<security>{host('10.1.0.5', 300)}"
                    "</security>")
    get = (f'<get-data xmlns="{NMDA_NS}" {DS}><datastore>ds:running</datastore></get-data>')
    mine = agent.rpc(get)
    theirs = agent.rpc(get, session=2, username="guest")
    assert mine is not None and theirs is not None
    assert texts(mine, "m:mobile-ip/m:security/m:host/m:key-hex") == [KEY_HEX]
    assert texts(theirs, "m:mobile-ip/m:security/m:host/m:key-hex") == []
    assert texts(theirs, "m:mobile-ip/m:subnet-map/m:prefix") == ["10.1.0.0/16"]
    # An XPath predicate cannot test what the user may not read.
    probe = (f'<get-config><source><running/></source><filter type="xpath" select="'
             f"//m:host[starts-with(m:key-hex, 'a1')]\"/></get-config>")
    found, hidden = agent.rpc(probe), agent.rpc(probe, session=2, username="guest")
    assert found is not None and hidden is not None
    assert (len(found), len(hidden)) == (1, 0)
    error = agent.error(f'<edit-data xmlns="{NMDA_NS}" {DS}><datastore>ds:running</datastore>'
                        f'<config><mobile-ip xmlns="{NS}">{subnet("10.2.0.0/16")}</mobile-ip>'
                        "</config></edit-data>", session=2, username="guest")
    assert error.tag == "access-denied"
    assert texts(agent.get_data("running"), "m:mobile-ip/m:subnet-map/m:prefix") == [
        "10.1.0.0/16"]
