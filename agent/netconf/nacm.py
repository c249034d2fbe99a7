"""NETCONF access control (RFC 8341, NACM), sans-IO.

Two layers:

* :class:`Policy` is the pure engine: the configuration (:class:`NacmConfig`:
  groups, rule lists in order, the global switches) and the schema's marks
  (:class:`SchemaMarks`: the ``nacm:default-deny-all`` /
  ``nacm:default-deny-write`` statements, read from the compiled module), and
  the three decisions of RFC 8341 §3.4: protocol operations (§3.4.4), data
  nodes (§3.4.5: read, create, update, delete) and outgoing notifications
  (§3.4.6). It prunes RFC 7951 JSON for reads (nodes the user may not read are
  left out with their descendants, §3.2.4) and checks typed datastore changes
  for writes (the nodes that would be created, updated or deleted, §3.2.5,
  §3.2.8).
* :class:`AccessControl` is what the NETCONF operations call: it takes the
  configuration from running at the moment of each request (changes apply at
  once, to every session), turns denials into ``access-denied`` rpc-errors
  (error-type application, RFC 6241 Appendix A; RFC 8341 §3.4.3: nothing the
  user may not read goes into the error), counts them (the ``denied-*``
  counters of §3.5) and logs them, never with a value.

Where the configuration lives: the ``nacm`` container of the module
(``/pmip:mobile-ip/pmip:nacm``), a copy of RFC 8341's ``ietf-netconf-acm:nacm``
nodes (docs/architecture.md says why it is not the standard container yet).
Without it the built-in policy applies: group ``admin`` (user ``admin``) may
do everything, group ``operators`` (every other netconf-server user) may read
all but the default-deny-all nodes and may not write or run the module's RPCs.

The recovery session (§3.3.3) is a session without a user name: only the agent
opens one (the SSH adapter always names the authenticated user).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Protocol

from lxml import etree

from agent.datastore.paths import Path, Step, parse_path
from agent.datastore.store import diff
from agent.datastore.tree import Entries, NamePath, Schema, to_json, to_keyed
from agent.netconf.errors import BASE_NS, MODULE_NS, RpcError
from agent.netconf.logtext import peer_text

#: The prefix agent.netconf.errors binds on <error-path> for the module.
MODULE_PREFIX = "proxy-mobile-ip"

logger = logging.getLogger(__name__)

MODULE = "proxy-mobile-ip"
TOP = "mobile-ip"
NACM_MEMBER = "nacm"
#: RFC 8341 §3.2.2: the access operations ('*' is all of them).
CREATE, READ, UPDATE, DELETE, EXEC = "create", "read", "update", "delete", "exec"
ALL_OPERATIONS = frozenset((CREATE, READ, UPDATE, DELETE, EXEC))
WRITE_OPERATIONS = frozenset((CREATE, UPDATE, DELETE))
#: Module of each namespace an operation can come in (RFC 6241 base, RFC 6022,
#: RFC 5277, RFC 8526 NMDA); the module's own is added by AccessControl.
OPERATION_MODULES: dict[str, str] = {
    BASE_NS: "ietf-netconf",
    "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring": "ietf-netconf-monitoring",
    "urn:ietf:params:xml:ns:netconf:notification:1.0": "notifications",
    "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda": "ietf-netconf-nmda",
}
#: RFC 6241 §7.9 and §7.4 as ietf-netconf marks them (nacm:default-deny-all),
#: which RFC 8341 §3.4.4 repeats: denied unless a rule permits, whatever
#: exec-default says (§3.2.7, §3.2.10).
DENIED_BY_DEFAULT = frozenset({("ietf-netconf", "kill-session"),
                               ("ietf-netconf", "delete-config")})
#: RFC 8341 §3.4.4: always permitted.
ALWAYS_PERMITTED = frozenset({("ietf-netconf", "close-session")})
#: RFC 8341 §3.4.6: the RFC 5277 replay markers are always sent.
ALWAYS_SENT = frozenset({"replayComplete", "notificationComplete"})

_CHANGE_OPERATIONS = {"created": CREATE, "modified": UPDATE, "deleted": DELETE}


# -- the schema's marks (RFC 8341 §3.5.2 extensions) ----------------------------------------


@dataclass(frozen=True)
class SchemaMarks:
    """What the compiled module says to NACM: the data nodes (by names from
    the top container) marked ``default-deny-all`` or ``default-deny-write``
    (each covers its descendants), the RPCs and notifications marked
    ``default-deny-all``, and each list's keys."""

    deny_all: frozenset[NamePath] = frozenset()
    deny_write: frozenset[NamePath] = frozenset()
    rpcs_deny_all: frozenset[str] = frozenset()
    notifications_deny_all: frozenset[str] = frozenset()
    lists: Mapping[NamePath, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, yang_dir: FilePath, module_name: str = MODULE) -> SchemaMarks:
        """Read the marks from libyang's compiled module (extension instances
        of ietf-netconf-acm on data nodes, rpcs and notifications)."""
        import libyang

        context = libyang.Context(str(yang_dir))
        try:
            module = context.load_module(module_name)
            deny_all: set[NamePath] = set()
            deny_write: set[NamePath] = set()
            lists: dict[NamePath, tuple[str, ...]] = {}
            rpcs: set[str] = set()
            notifications: set[str] = set()

            def marks(node: Any) -> set[str]:
                return {e.name() for e in node.extensions()
                        if e.module().name() == "ietf-netconf-acm"}

            def walk(node: Any, names: NamePath) -> None:
                for child in node.children():
                    keyword = child.keyword()
                    if keyword not in ("container", "list", "leaf", "leaf-list"):
                        continue
                    path = (*names, child.name())
                    found = marks(child)
                    if "default-deny-all" in found:
                        deny_all.add(path)
                    if "default-deny-write" in found:
                        deny_write.add(path)
                    if keyword == "list":
                        lists[path] = tuple(k.name() for k in child.keys())  # noqa: SIM118
                    if keyword in ("container", "list"):
                        walk(child, path)

            for top in module.children():
                keyword = top.keyword()
                if keyword == "rpc":
                    if "default-deny-all" in marks(top):
                        rpcs.add(top.name())
                elif keyword == "notification":
                    if "default-deny-all" in marks(top):
                        notifications.add(top.name())
                elif keyword == "container":
                    path = (top.name(),)
                    if "default-deny-all" in marks(top):
                        deny_all.add(path)
                    if "default-deny-write" in marks(top):
                        deny_write.add(path)
                    walk(top, path)
        finally:
            context.destroy()  # type: ignore[no-untyped-call]
        return cls(frozenset(deny_all), frozenset(deny_write), frozenset(rpcs),
                   frozenset(notifications), lists)

    def data_mark(self, names: NamePath) -> str | None:
        """'all', 'write' or None for the node at ``names`` (marks of an
        ancestor cover it, RFC 8341 §3.4.5 steps 9-10)."""
        found = None
        for depth in range(1, len(names) + 1):
            prefix = names[:depth]
            if prefix in self.deny_all:
                return "all"
            if prefix in self.deny_write:
                found = "write"
        return found

    def marked_below(self) -> frozenset[NamePath]:
        """Every proper ancestor of a marked node."""
        return frozenset(names[:depth] for names in self.deny_all | self.deny_write
                         for depth in range(1, len(names)))


# -- the configuration (RFC 8341 §3.5 nodes) -----------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One ``rule`` entry. ``path`` is None without a data-node rule type;
    ``()`` is '/', every node."""

    name: str
    permit: bool
    module_name: str = "*"
    rpc_name: str | None = None
    notification_name: str | None = None
    path: Path | None = None
    #: The module of the path's first step (None for '/').
    path_module: str | None = None
    operations: frozenset[str] = ALL_OPERATIONS

    @property
    def typed(self) -> bool:
        return self.rpc_name is not None or self.notification_name is not None \
            or self.path is not None

    def _module(self, module: str) -> bool:
        return self.module_name in ("*", module)

    def matches_operation(self, module: str, name: str) -> bool:
        """RFC 8341 §3.4.4 step 7."""
        return (self._module(module) and EXEC in self.operations
                and (not self.typed or self.rpc_name in ("*", name)))

    def matches_notification(self, module: str, name: str) -> bool:
        """RFC 8341 §3.4.6 step 7."""
        return (self._module(module) and READ in self.operations
                and (not self.typed or self.notification_name in ("*", name)))

    def matches_data(self, module: str, path: Path, operation: str) -> bool:
        """RFC 8341 §3.4.5 step 6: the node is the path's node or a descendant."""
        if not self._module(module) or operation not in self.operations:
            return False
        if not self.typed:
            return True
        if self.path is None:
            return False
        if self.path_module is not None and self.path_module != module:
            return False
        return _covers(self.path, path)

    @property
    def matches_all_data(self) -> bool:
        """Matches every data node of this module (for its ``operations``)."""
        return self.module_name in ("*", MODULE) and (not self.typed or self.path == ())


def _covers(rule_path: Path, path: Path) -> bool:
    if len(rule_path) > len(path):
        return False
    for wanted, step in zip(rule_path, path, strict=False):
        if wanted.name != step.name:
            return False
        if wanted.keys and not set(wanted.keys) <= set(step.keys):
            return False
    return True


@dataclass(frozen=True)
class RuleList:
    name: str
    groups: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class NacmConfig:
    """The ``nacm`` container's configuration (RFC 8341 §3.3.4, §3.3.5); the
    defaults are the RFC's (§3.4.1: read and exec permitted, write denied)."""

    enable_nacm: bool = True
    read_default: bool = True
    write_default: bool = False
    exec_default: bool = True
    #: group name -> its users.
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rule_lists: tuple[RuleList, ...] = ()

    def groups_of(self, user: str) -> frozenset[str]:
        """RFC 8341 §3.4.4 step 4 (the SSH transport reports no external groups)."""
        return frozenset(name for name, users in self.groups.items() if user in users)

    def rules_for(self, user: str) -> tuple[Rule, ...]:
        """The rules that apply to ``user``, in evaluation order: rule lists
        in configuration order, each one's rules in order (§3.4.4 steps 6-7)."""
        groups = self.groups_of(user)
        if not groups:
            return ()  # step 5: no group, no rule
        return tuple(rule for rule_list in self.rule_lists
                     if "*" in rule_list.groups or groups & set(rule_list.groups)
                     for rule in rule_list.rules)

    @classmethod
    def from_json(cls, nacm: Mapping[str, Any]) -> NacmConfig:
        """From the RFC 7951 JSON of the ``nacm`` container (lists as arrays),
        as libyang validated it."""
        groups = {str(g["name"]): frozenset(str(u) for u in g.get("user-name", ()))
                  for g in nacm.get("groups", {}).get("group", ())}
        rule_lists = tuple(
            RuleList(str(rl["name"]), tuple(str(g) for g in rl.get("group", ())),
                     tuple(_rule(r) for r in rl.get("rule", ())))
            for rl in nacm.get("rule-list", ()))
        return cls(enable_nacm=bool(nacm.get("enable-nacm", True)),
                   read_default=nacm.get("read-default", "permit") == "permit",
                   write_default=nacm.get("write-default", "deny") == "permit",
                   exec_default=nacm.get("exec-default", "permit") == "permit",
                   groups=groups, rule_lists=rule_lists)

    @classmethod
    def built_in(cls, users: Iterable[str]) -> NacmConfig:
        """The policy without a ``nacm`` container: ``admin`` may do
        everything; every other user is in ``operators``: reads (but not of
        default-deny-all nodes), no writes, no RPC of the module."""
        operators = frozenset(u for u in users if u != "admin")
        return cls(
            groups={"admin": frozenset({"admin"}), "operators": operators},
            rule_lists=(
                RuleList("admin", ("admin",), (Rule("permit-all", permit=True),)),
                RuleList("operators", ("operators",), (
                    Rule("deny-writes", permit=False, operations=WRITE_OPERATIONS),
                    Rule("deny-module-rpcs", permit=False, module_name=MODULE, rpc_name="*",
                         operations=frozenset({EXEC})),
                )),
            ))


def _rule(entry: Mapping[str, Any]) -> Rule:
    operations_text = str(entry.get("access-operations", "*"))
    operations = (ALL_OPERATIONS if operations_text.strip() == "*"
                  else frozenset(operations_text.split()) & ALL_OPERATIONS)
    path: Path | None = None
    path_module: str | None = None
    if "path" in entry:
        text = str(entry["path"]).strip()
        path = parse_path(text) if text != "/" else ()
        first = text[1:].split("/", 1)[0]
        if ":" in first.split("[", 1)[0]:
            path_module = first.split(":", 1)[0]
    return Rule(name=str(entry["name"]), permit=entry.get("action") == "permit",
                module_name=str(entry.get("module-name", "*")),
                rpc_name=entry.get("rpc-name"), notification_name=entry.get("notification-name"),
                path=path, path_module=path_module, operations=operations)


# -- the engine (RFC 8341 §3.4) --------------------------------------------------------------


@dataclass(frozen=True)
class Denial:
    """A denied data access: the operation and the node (names and keys)."""

    operation: str
    path: Path


class Policy:
    """The decisions of RFC 8341 §3.4 for one configuration and schema.
    ``user`` None is the recovery session (§3.3.3): everything is permitted."""

    def __init__(self, config: NacmConfig, marks: SchemaMarks) -> None:
        self.config = config
        self.marks = marks
        self._marked_below = marks.marked_below()
        self._rules: dict[str, tuple[Rule, ...]] = {}
        self._by_names: dict[tuple[str, NamePath], tuple[bool, bool]] = {}

    def _user_rules(self, user: str) -> tuple[Rule, ...]:
        rules = self._rules.get(user)
        if rules is None:
            rules = self._rules[user] = self.config.rules_for(user)
        return rules

    def bypassed(self, user: str | None) -> bool:
        # §3.4.4-§3.4.6 steps 1-2: NACM off, or the recovery session.
        return user is None or not self.config.enable_nacm

    # -- §3.4.4 protocol operations -------------------------------------------------

    def may_execute(self, user: str | None, module: str, name: str) -> bool:
        if self.bypassed(user) or (module, name) in ALWAYS_PERMITTED:
            return True
        assert user is not None
        for rule in self._user_rules(user):
            if rule.matches_operation(module, name):
                return rule.permit  # step 8
        if module == MODULE and name in self.marks.rpcs_deny_all:
            return False  # step 10
        if (module, name) in DENIED_BY_DEFAULT:
            return False  # step 11
        return self.config.exec_default  # step 12

    # -- §3.4.6 notifications -------------------------------------------------------

    def may_receive(self, user: str | None, module: str, name: str) -> bool:
        if self.bypassed(user) or name in ALWAYS_SENT:
            return True
        assert user is not None
        for rule in self._user_rules(user):
            if rule.matches_notification(module, name):
                return rule.permit
        if module == MODULE and name in self.marks.notifications_deny_all:
            return False  # step 10
        return self.config.read_default  # step 11

    # -- §3.4.5 data nodes ----------------------------------------------------------

    def may_access(self, user: str | None, path: Path, operation: str, *,
                   module: str = MODULE) -> bool:
        """One data node (``path`` from the top container, keys included)."""
        if self.bypassed(user):
            return True
        assert user is not None
        return self._decide(self._user_rules(user), path, operation, module)

    def _decide(self, rules: tuple[Rule, ...], path: Path, operation: str, module: str) -> bool:
        for rule in rules:
            if rule.matches_data(module, path, operation):
                return rule.permit  # step 7
        mark = self.marks.data_mark(tuple(s.name for s in path)) if module == MODULE else None
        if operation == READ:
            return mark != "all" and self.config.read_default  # steps 9, 11
        return mark is None and self.config.write_default  # steps 10, 12

    def _uniform(self, rules: tuple[Rule, ...], names: NamePath, operation: str) -> bool:
        """True when every descendant of the node at ``names`` gets the node's
        own decision: no mark below it, and no rule for ``operation`` names a
        node below it (a rule that covers the node covers its descendants)."""
        if names in self._marked_below:
            return False
        for rule in rules:
            if rule.path and operation in rule.operations and len(rule.path) > len(names) \
                    and tuple(s.name for s in rule.path[:len(names)]) == names:
                return False
        return True

    def blanket(self, user: str, operations: Iterable[str]) -> bool | None:
        """The one decision every data node gets for every one of
        ``operations``, when a rule matching everything decides first; else
        None (each node must be looked at)."""
        decisions = set()
        for operation in operations:
            decision = None
            for rule in self._user_rules(user):
                if rule.matches_all_data and operation in rule.operations:
                    decision = rule.permit
                    break
                if rule.path is not None or not rule.typed:
                    if operation in rule.operations and rule._module(MODULE):
                        break  # a narrower rule decides some nodes first
            if decision is None:
                return None
            decisions.add(decision)
        return decisions.pop() if len(decisions) == 1 else None

    def readable(self, user: str | None, content: Mapping[str, Any]) -> dict[str, Any]:
        """The top container's content (RFC 7951 JSON, lists as arrays)
        without the nodes ``user`` may not read, each left out with its
        descendants (RFC 8341 §3.2.4, §3.4.5). A list entry whose key may not
        be read is left out whole (an entry without its keys cannot be sent)."""
        if self.bypassed(user):
            return dict(content)
        assert user is not None
        blanket = self.blanket(user, (READ,))
        if blanket is not None:
            return dict(content) if blanket else {}
        rules = self._user_rules(user)
        if not any(rule.path and any(step.keys for step in rule.path) for rule in rules):
            # No rule names a list entry: every decision depends on the node's
            # schema path alone, so it is made once per path, not per entry.
            return self._read_by_names(user, rules, (TOP,), content)
        out: dict[str, Any] = {}
        top = (Step(TOP),)
        for name, value in content.items():
            kept = self._read_member(rules, top, (TOP,), name, value)
            if kept is not _DROPPED:
                out[name] = kept
        return out

    def _names_decision(self, user: str, rules: tuple[Rule, ...],
                        names: NamePath) -> tuple[bool, bool]:
        """(may read, the subtree gets the same decision) for the node at
        ``names`` when no rule has key predicates."""
        key = (user, names)
        cached = self._by_names.get(key)
        if cached is None:
            path = tuple(Step(name) for name in names)
            cached = self._by_names[key] = (self._decide(rules, path, READ, MODULE),
                                            self._uniform(rules, names, READ))
        return cached

    def _read_by_names(self, user: str, rules: tuple[Rule, ...], names: NamePath,
                       value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child, child_value in value.items():
            child_names = (*names, child)
            permitted, uniform = self._names_decision(user, rules, child_names)
            if not permitted:
                continue
            if uniform or not isinstance(child_value, (dict, list)):
                out[child] = child_value
                continue
            keys = self.marks.lists.get(child_names)
            if keys is not None and isinstance(child_value, list):
                if not all(self._names_decision(user, rules, (*child_names, k))[0]
                           for k in keys):
                    continue  # no entry can be sent without its keys
                out[child] = [self._read_by_names(user, rules, child_names, entry)
                              for entry in child_value if isinstance(entry, dict)]
                if child_value and not out[child]:
                    del out[child]
            elif isinstance(child_value, dict):
                out[child] = self._read_by_names(user, rules, child_names, child_value)
            else:
                out[child] = child_value  # a leaf-list
        return out

    def _read_member(self, rules: tuple[Rule, ...], parent: Path, parent_names: NamePath,
                     name: str, value: Any) -> Any:
        names = (*parent_names, name)
        keys = self.marks.lists.get(names)
        if keys is not None and isinstance(value, list):
            entries = []
            for entry in value:
                kept = self._read_entry(rules, parent, names, keys, entry)
                if kept is not _DROPPED:
                    entries.append(kept)
            return entries if entries or not value else _DROPPED
        path = (*parent, Step(name))
        if not self._decide(rules, path, READ, MODULE):
            return _DROPPED
        if not isinstance(value, dict) or self._uniform(rules, names, READ):
            return value
        return self._read_children(rules, path, names, value)

    def _read_entry(self, rules: tuple[Rule, ...], parent: Path, names: NamePath,
                    keys: tuple[str, ...], entry: Mapping[str, Any]) -> Any:
        path = (*parent, Step(names[-1], tuple((k, _key(entry.get(k))) for k in keys)))
        if not self._decide(rules, path, READ, MODULE):
            return _DROPPED
        if self._uniform(rules, names, READ):
            return entry
        for key in keys:
            if not self._decide(rules, (*path, Step(key)), READ, MODULE):
                return _DROPPED
        return self._read_children(rules, path, names, entry)

    def _read_children(self, rules: tuple[Rule, ...], path: Path, names: NamePath,
                       value: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for child, child_value in value.items():
            kept = self._read_member(rules, path, names, child, child_value)
            if kept is not _DROPPED:
                out[child] = kept
        return out

    def write_denial(self, user: str | None,
                     changes: Iterable[tuple[str, Path, Any]]) -> Denial | None:
        """The first node of ``changes`` that ``user`` may not write, or None.
        Each change is (kind, path, value): kind ``created`` / ``modified`` /
        ``deleted`` (the datastore's), value the created or deleted subtree
        (RFC 7951 JSON) whose every node needs the same access (RFC 8341
        §3.2.5, §3.2.8: the nodes that would actually change)."""
        if self.bypassed(user):
            return None
        assert user is not None
        changes = list(changes)
        if not changes:
            return None
        if self.blanket(user, {_CHANGE_OPERATIONS[c[0]] for c in changes}) is True:
            return None
        rules = self._user_rules(user)
        for kind, path, value in changes:
            operation = _CHANGE_OPERATIONS[kind]
            for node in self._nodes(rules, path, value, operation, subtree=kind != "modified"):
                if not self._decide(rules, node, operation, MODULE):
                    return Denial(operation, node)
        return None

    def _nodes(self, rules: tuple[Rule, ...], path: Path, value: Any, operation: str, *,
               subtree: bool) -> Iterator[Path]:
        """``path`` and, for a created or deleted subtree, the nodes in it
        whose decision may differ from their parent's."""
        yield path
        names = tuple(s.name for s in path)
        if not subtree or not isinstance(value, dict) or self._uniform(rules, names, operation):
            return
        for child, child_value in value.items():
            child_names = (*names, child)
            keys = self.marks.lists.get(child_names)
            if keys is not None and isinstance(child_value, list):
                for entry in child_value:
                    if isinstance(entry, dict):
                        step = Step(child, tuple((k, _key(entry.get(k))) for k in keys))
                        yield from self._nodes(rules, (*path, step), entry, operation,
                                               subtree=True)
            else:
                yield from self._nodes(rules, (*path, Step(child)), child_value, operation,
                                       subtree=True)


class _Dropped:
    pass


_DROPPED: Any = _Dropped()


def _key(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def render(path: Path) -> str:
    """A data path in XML instance-identifier form (RFC 7950 §9.13.2), with
    the prefix ``agent.netconf.errors`` binds on error-path."""
    return "/" + "/".join(
        f"{MODULE_PREFIX}:{step.name}"
        + "".join(f"[{MODULE_PREFIX}:{k}={_quoted(v)}]" for k, v in step.keys)
        for step in path)


def _quoted(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


@dataclass
class AccessDenied(RpcError):
    """``access-denied`` (RFC 8341 §3.4.3; RFC 6241 Appendix A, error-type
    application) whose error-path may use prefixes of other namespaces
    (``/nc:rpc/nc:kill-session``, RFC 8341 §3.4.4)."""

    path_namespaces: dict[str, str] = field(default_factory=dict)

    def to_xml(self) -> etree._Element:
        error = super().to_xml()
        old = error.find(f"{{{BASE_NS}}}error-path")
        if old is not None and self.path_namespaces:
            new = etree.Element(old.tag, nsmap={**(old.nsmap or {}), **self.path_namespaces})
            new.text = old.text
            error.replace(old, new)
        return error


# -- the NETCONF side -----------------------------------------------------------------------


class SessionInfo(Protocol):
    @property
    def session_id(self) -> int: ...

    @property
    def username(self) -> str | None: ...


@dataclass
class NacmCounters:
    """RFC 8341 §3.5: denied-operations, denied-data-writes, denied-notifications."""

    denied_operations: int = 0
    denied_data_writes: int = 0
    denied_notifications: int = 0

    def as_json(self) -> dict[str, int]:
        return {"denied-operations": self.denied_operations,
                "denied-data-writes": self.denied_data_writes,
                "denied-notifications": self.denied_notifications}


class AccessControl:
    """NACM for the NETCONF operations on one datastore.

    ``running()`` returns running's effective configuration (the top
    container's keyed tree): its ``nacm`` container is the policy, its
    ``netconf-server`` users feed the built-in policy. Every check reads it
    afresh (a policy is rebuilt only when running changed), so an edit of
    the rules applies to the very next request of every session.

    The reusable checks (new operations call them): :meth:`authorize_operation`
    (exec), :meth:`readable` (read), :meth:`authorize_tree` /
    :meth:`authorize_changes` (write), :meth:`may_notify`.
    """

    def __init__(self, running: Callable[[], Mapping[str, Any]], marks: SchemaMarks,
                 schema: Schema, *, namespace: str = MODULE_NS) -> None:
        self._running = running
        self.marks = marks
        self._schema = schema
        self._modules = {**OPERATION_MODULES, namespace: MODULE}
        self.namespace = namespace
        self.counters = NacmCounters()
        self._cached: tuple[Any, Any, Policy] | None = None

    def policy(self) -> Policy:
        tree = self._running()
        nacm = tree.get(NACM_MEMBER)
        users = tree.get("netconf-server", {}).get("user")
        cached = self._cached
        if cached is not None and cached[0] is nacm and cached[1] is users:
            return cached[2]
        if nacm is not None:
            config = NacmConfig.from_json(to_json(nacm))
        else:
            names = [key[0] for key in users] if isinstance(users, Entries) else []
            config = NacmConfig.built_in(names)
        policy = Policy(config, self.marks)
        self._cached = (nacm, users, policy)
        return policy

    # -- exec (RFC 8341 §3.4.4) ---------------------------------------------------------

    def authorize_operation(self, operation: etree._Element, session: SessionInfo) -> None:
        """Raise access-denied unless the session may run ``operation`` (the
        element inside <rpc>)."""
        qname = etree.QName(operation)
        namespace = qname.namespace or ""
        module = self._modules.get(namespace, namespace)
        name = str(qname.localname)
        if self.policy().may_execute(session.username, module, name):
            return
        self.counters.denied_operations += 1
        # An unknown namespace and the element name are the peer's own text.
        logger.warning("netconf session %d (user %s): access denied: exec %s:%s",
                       session.session_id, session.username, peer_text(module),
                       peer_text(name))
        # The path names the operation: "nc" is bound on the reply by the
        # session, the module's prefix by agent.netconf.errors.
        prefix = {BASE_NS: "nc", self.namespace: MODULE_PREFIX}.get(namespace, "op")
        raise AccessDenied("access-denied", f"access denied: {name} may not be run by this user",
                           error_type="application", path=f"/nc:rpc/{prefix}:{name}",
                           path_namespaces={"op": namespace} if prefix == "op" else {})

    # -- read (RFC 8341 §3.2.4, §3.4.5) ------------------------------------------------

    def readable(self, content: Mapping[str, Any], session: SessionInfo) -> dict[str, Any]:
        """The top container's content (RFC 7951 JSON) as ``session`` may read it."""
        return self.policy().readable(session.username, content)

    def may_read_top(self, module: str, name: str, session: SessionInfo) -> bool:
        """A top-level node of another module (``/netconf-state``)."""
        return self.policy().may_access(session.username, (Step(name),), READ, module=module)

    # -- write (RFC 8341 §3.2.5-§3.2.8, §3.4.5) -----------------------------------------

    def writes_checked(self, session: SessionInfo) -> bool:
        """False when every write of ``session`` is permitted without looking
        at the nodes (NACM off, the recovery session, or a rule permitting
        every write that decides first): callers skip computing the result."""
        policy = self.policy()
        if policy.bypassed(session.username):
            return False
        assert session.username is not None
        return policy.blanket(session.username, WRITE_OPERATIONS) is not True

    def authorize_tree(self, old: Mapping[str, Any], new: Mapping[str, Any],
                       session: SessionInfo) -> None:
        """Raise access-denied unless ``session`` may turn the keyed tree
        ``old`` (a datastore's explicit configuration) into ``new``."""
        policy = self.policy()
        if policy.bypassed(session.username):
            return
        self.authorize_changes(diff(dict(old), dict(new), self._schema), session,
                               policy=policy)

    def authorize_changes(self, changes: Iterable[Any], session: SessionInfo, *,
                          policy: Policy | None = None) -> None:
        """Raise access-denied unless ``session`` may make the datastore's
        typed ``changes`` (``Change``: kind, path, old, new)."""
        policy = policy or self.policy()
        triples = ((c.kind, c.path, c.old if c.kind == "deleted" else c.new) for c in changes)
        denial = policy.write_denial(session.username, triples)
        if denial is None:
            return
        self.counters.denied_data_writes += 1
        where = render(self._redacted(denial.path))
        logger.warning("netconf session %d (user %s): access denied: %s of %s",
                       session.session_id, session.username, denial.operation,
                       peer_text(where))
        # RFC 8341 §3.4.3: the path goes out only when the user may read it.
        visible = policy.may_access(session.username, denial.path, READ)
        raise AccessDenied("access-denied",
                           f"access denied: {denial.operation} of "
                           f"{where if visible else 'a node this user may not read'}",
                           error_type="application", path=where if visible else None)

    def _redacted(self, path: Path) -> Path:
        """``path`` without the values of keys marked default-deny-all (logs
        and errors never carry them)."""
        steps: list[Step] = []
        names: NamePath = ()
        for step in path:
            names = (*names, step.name)
            steps.append(Step(step.name, tuple(
                (k, "<redacted>" if self.marks.data_mark((*names, k)) == "all" else v)
                for k, v in step.keys)))
        return tuple(steps)

    def keyed(self, content: Mapping[str, Any]) -> dict[str, Any]:
        """RFC 7951 JSON of the top container's content as a keyed tree."""
        keyed: dict[str, Any] = to_keyed(dict(content), (TOP,), self._schema)
        return keyed

    # -- notifications (RFC 8341 §3.4.6) -------------------------------------------------

    def may_notify(self, message: etree._Element, session: SessionInfo) -> bool:
        """Whether ``session`` may receive ``message`` (a <notification>)."""
        event = next((child for child in message if isinstance(child.tag, str)
                      and etree.QName(child).localname != "eventTime"), None)
        if event is None:
            return True
        qname = etree.QName(event)
        module = self._modules.get(qname.namespace or "", qname.namespace or "")
        name = str(qname.localname)
        if self.policy().may_receive(session.username, module, name):
            return True
        self.counters.denied_notifications += 1
        logger.info("netconf session %d (user %s): notification %s:%s not sent "
                    "(access denied)", session.session_id, session.username, module, name)
        return False
