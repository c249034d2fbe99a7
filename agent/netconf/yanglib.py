"""The YANG library (RFC 8525, ietf-yang-library@2019-01-04): which modules
the server implements, which it only imports, its datastores and their
schema, and the ``content-id`` that names this content.

The library is fixed for the life of a server (no module is loaded or
dropped at run time), so it is computed once: :class:`YangLibrary` holds the
records, renders ``/yang-library`` (lxml, in the module's namespace; the tests
validate it against the published module with libyang) and the
``<hello>`` capability that RFC 8526 §2 requires of an NMDA server
(``urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id=...``,
which updates RFC 7950 §5.6.4's :yang-library:1.0).

:func:`server_library` is the one place that says what this server
implements; it must stay exactly true, so each entry names the code that
implements it. Every module listed (implemented or import-only) is shipped
in ``yang/`` or ``yang/ietf/`` and served by <get-schema>; a test loads them
all with libyang from there and checks that every import is listed and every
feature exists.

The deprecated ``/modules-state`` subtree (RFC 8525 §3, RFC 7895's) is served
too, from the same records with ``module-set-id`` = ``content-id``: its
``module-set-id`` is mandatory in the published module, and YANG 1.0 era
clients read it. Only :yang-library:1.1 is announced (RFC 8526 §2).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

#: RFC 8525 §4: the module's namespace and revision.
YANG_LIBRARY_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
YANG_LIBRARY_REVISION = "2019-01-04"
YANG_LIBRARY = "yang-library"
MODULES_STATE = "modules-state"
#: RFC 8342 §7: the datastore identities.
DATASTORES_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
#: RFC 8526 §2: the capability an NMDA server announces.
YANG_LIBRARY_1_1 = "urn:ietf:params:netconf:capability:yang-library:1.1"

#: The one module set and the one schema: every datastore has the same schema.
MODULE_SET = "complete"
SCHEMA = "complete"

#: List keys below /yang-library (for filters: a partly selected entry keeps them).
LIST_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    (YANG_LIBRARY, "module-set"): ("name",),
    (YANG_LIBRARY, "module-set", "module"): ("name",),
    (YANG_LIBRARY, "module-set", "import-only-module"): ("name", "revision"),
    (YANG_LIBRARY, "schema"): ("name",),
    (YANG_LIBRARY, "datastore"): ("name",),
    (MODULES_STATE, "module"): ("name", "revision"),
}

_L = f"{{{YANG_LIBRARY_NS}}}"


@dataclass(frozen=True)
class ModuleRecord:
    """One module of the library: ``features`` only for an implemented one."""

    name: str
    revision: str
    namespace: str
    features: tuple[str, ...] = ()
    #: Where its text is (served by <get-schema>, RFC 6022 §3.1).
    file: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class YangLibrary:
    """The server's YANG library. ``datastores`` are the identities' names
    (``running``, ``operational``, ...), all with the one schema."""

    implemented: tuple[ModuleRecord, ...]
    import_only: tuple[ModuleRecord, ...]
    datastores: tuple[str, ...]

    @functools.cached_property
    def content_id(self) -> str:
        """RFC 8525 §3: changes whenever anything else in /yang-library does
        (a digest of that content, so equal libraries share it)."""
        text = etree.tostring(self._element(content_id=""), method="c14n")
        return hashlib.sha256(text).hexdigest()[:32]

    def capability(self) -> str:
        """RFC 8526 §2 (RFC 7950 §5.6.4 for yang-library:1.0)."""
        return (f"{YANG_LIBRARY_1_1}?revision={YANG_LIBRARY_REVISION}"
                f"&content-id={self.content_id}")

    def element(self) -> etree._Element:
        """A fresh ``<yang-library>`` (the caller may prune or move it)."""
        return self._element(content_id=self.content_id)

    def modules_state(self) -> etree._Element:
        """A fresh deprecated ``<modules-state>`` (RFC 8525 §3)."""
        state = etree.Element(_L + MODULES_STATE, nsmap={None: YANG_LIBRARY_NS})
        _leaf(state, "module-set-id", self.content_id)
        for conformance, modules in (("implement", self.implemented),
                                     ("import", self.import_only)):
            for module in modules:
                entry = etree.SubElement(state, _L + "module")
                _leaf(entry, "name", module.name)
                _leaf(entry, "revision", module.revision)
                _leaf(entry, "namespace", module.namespace)
                for feature in module.features:
                    _leaf(entry, "feature", feature)
                _leaf(entry, "conformance-type", conformance)
        return state

    def elements(self, filter_element: etree._Element | None) -> list[etree._Element]:
        """The top-level nodes a subtree filter (None: no filter) can select."""
        wanted = _top_names(filter_element)
        found = []
        if wanted is None or YANG_LIBRARY in wanted:
            found.append(self.element())
        if wanted is None or MODULES_STATE in wanted:
            found.append(self.modules_state())
        return found

    def modules(self) -> Iterable[ModuleRecord]:
        yield from self.implemented
        yield from self.import_only

    def find(self, name: str, revision: str | None = None) -> ModuleRecord | None:
        """The module ``name`` (at ``revision`` when given), implemented or not."""
        for module in self.modules():
            if module.name == name and (not revision or module.revision == revision):
                return module
        return None

    def _element(self, *, content_id: str) -> etree._Element:
        library = etree.Element(_L + YANG_LIBRARY,
                                nsmap={None: YANG_LIBRARY_NS, "ds": DATASTORES_NS})
        module_set = etree.SubElement(library, _L + "module-set")
        _leaf(module_set, "name", MODULE_SET)
        for module in self.implemented:
            entry = etree.SubElement(module_set, _L + "module")
            _leaf(entry, "name", module.name)
            if module.revision:
                _leaf(entry, "revision", module.revision)
            _leaf(entry, "namespace", module.namespace)
            for feature in module.features:
                _leaf(entry, "feature", feature)
        for module in self.import_only:
            entry = etree.SubElement(module_set, _L + "import-only-module")
            _leaf(entry, "name", module.name)
            _leaf(entry, "revision", module.revision)
            _leaf(entry, "namespace", module.namespace)
        schema = etree.SubElement(library, _L + "schema")
        _leaf(schema, "name", SCHEMA)
        _leaf(schema, "module-set", MODULE_SET)
        for name in self.datastores:
            datastore = etree.SubElement(library, _L + "datastore")
            # ds:datastore-ref, an identityref: prefixed with the prefix
            # declared on <yang-library> (RFC 7950 §9.10.3).
            _leaf(datastore, "name", f"ds:{name}")
            _leaf(datastore, "schema", SCHEMA)
        _leaf(library, "content-id", content_id)
        return library


def _top_names(filter_element: etree._Element | None) -> set[str] | None:
    """The module's top-level names a subtree filter names (a filter node in
    its namespace, or in none); None: no filter."""
    if filter_element is None:
        return None
    names = set()
    for node in filter_element:
        if not isinstance(node.tag, str):
            continue
        qname = etree.QName(node)
        if qname.namespace in (None, YANG_LIBRARY_NS):
            names.add(str(qname.localname))
    return names


def _leaf(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, _L + name).text = text


# -- what this server implements ---------------------------------------------------


def _ietf(directory: Path, name: str, revision: str, *,
          features: Sequence[str] = ()) -> ModuleRecord:
    """A module vendored as ``yang/ietf/NAME@REVISION.yang``; its namespace is
    the one the text declares (ietf-netconf's is the base protocol's)."""
    file = directory / "ietf" / f"{name}@{revision}.yang"
    found = _NAMESPACE.search(file.read_text(encoding="utf-8"))
    if found is None:
        raise RuntimeError(f"{file} declares no namespace")
    return ModuleRecord(name, revision, found.group(1), tuple(features), file)


_NAMESPACE = re.compile(r'^\s*namespace\s+"?([^";\s]+)"?\s*;', re.MULTILINE)


def server_library(*, yang_dir: Path, module_name: str, module_revision: str,
                   module_namespace: str, module_file: Path, confirmed_commit: bool,
                   xpath: bool, nacm: bool, datastores: Sequence[str]) -> YangLibrary:
    """The library of the NETCONF server as ``agent.netconf.operations``
    composes it. ``nacm`` says whether RFC 8341 access control is enforced
    (ietf-netconf-acm implemented; otherwise the module only imports it for
    its ``default-deny-all`` extension)."""
    netconf_features = ["writable-running", "candidate"]
    if confirmed_commit:
        netconf_features.append("confirmed-commit")  # confirmed_commit.py (RFC 6241 §8.4)
    netconf_features += ["rollback-on-error", "validate", "startup"]
    if xpath:
        netconf_features.append("xpath")  # xpath.py (RFC 6241 §8.9)
    implemented = [
        ModuleRecord(module_name, module_revision, module_namespace, (), module_file),
        # operations.py: the RFC 6241 operations (no :url).
        _ietf(yang_dir, "ietf-netconf", "2011-06-01", features=netconf_features),
        # operations.py: RFC 6243 with-defaults on get, get-config, get-data.
        _ietf(yang_dir, "ietf-netconf-with-defaults", "2011-06-01"),
        # monitoring.py: /netconf-state and <get-schema> (RFC 6022).
        _ietf(yang_dir, "ietf-netconf-monitoring", "2010-10-04"),
        # nmda.py: get-data, edit-data, the datastore parameter of lock,
        # unlock and validate (RFC 8526 §3); no "origin" feature.
        _ietf(yang_dir, "ietf-netconf-nmda", "2019-01-07", features=["with-defaults"]),
        # The datastore identities named in /yang-library and get-data.
        _ietf(yang_dir, "ietf-datastores", "2018-02-14"),
        # This module.
        _ietf(yang_dir, "ietf-yang-library", YANG_LIBRARY_REVISION),
        # server.py verifies SHA-256 and SHA-512 crypt(3) hashes only.
        _ietf(yang_dir, "iana-crypt-hash", "2014-08-06",
              features=["crypt-hash-sha-256", "crypt-hash-sha-512"]),
    ]
    import_only = [
        _ietf(yang_dir, "ietf-inet-types", "2013-07-15"),
        _ietf(yang_dir, "ietf-yang-types", "2013-07-15"),
        # Imported by ietf-netconf-nmda for its origin feature, not implemented.
        _ietf(yang_dir, "ietf-origin", "2018-02-14"),
        _ietf(yang_dir, "ietf-yang-metadata", "2016-08-05"),
    ]
    acm = _ietf(yang_dir, "ietf-netconf-acm", "2018-02-14")
    (implemented if nacm else import_only).append(acm)
    return YangLibrary(tuple(implemented), tuple(import_only), tuple(datastores))
