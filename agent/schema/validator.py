"""Validation against the ``proxy-mobile-ip`` module by libyang: strict (unknown
nodes and state data are errors, as are the module's ``must`` rules), and every
failure a ``ConfigError`` that names the data path and the rule broken, and never
quotes key material: libyang's messages quote offending values, so a message
about a key leaf, or about a syntax error (which can fall anywhere, keys
included), has its quoted values redacted.

libyang's log settings are process-wide (``agent.schema.context``): call from
one thread at a time.
"""

from __future__ import annotations

import json
import re
from typing import Any

import libyang
from _libyang import lib  # type: ignore[import-not-found]  # libyang-python's cffi module

from agent.schema import violations
from agent.schema.context import (
    MODULE_NAME,
    ROOT_PATH,
    TOP_MEMBER,
    DataFormat,
    LibyangError,
    RecordingContext,
    c_text,
    quiet_libyang,
    yang_dir,
)
from agent.schema.errors import ConfigError
from agent.schema.startup_file import SECRET_LEAVES

# Every secret leaf of the module (one list, checked against the YANG's
# nacm:default-deny-all leaves by a test).
_KEY_LEAVES = tuple(sorted(SECRET_LEAVES))
_KEY_NAMES = "|".join(sorted(SECRET_LEAVES, key=len, reverse=True))
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_LOCATION = re.compile(r'(Data|Schema) location "([^"]*)"')
_LINE = re.compile(r"line number (\d+)")
# Best effort: key values as written in the document, scrubbed from any message
# that slipped through the redaction rules above.
_KEY_IN_JSON = re.compile(
    r'"(?:[\w-]+:)?(?:' + _KEY_NAMES + r')"\s*:\s*"((?:[^"\\]|\\.)*)"'
)
_KEY_IN_XML = re.compile(
    r"<(?:[\w-]+:)?(?:" + _KEY_NAMES + r")\b[^>]*>(.*?)</",
    re.DOTALL,
)
_MIN_SCRUBBED_LENGTH = 4
REDACTED = "<redacted>"


class Validator:
    """A libyang context with the module loaded, kept for many validations (a
    context costs ~7 ms to build; the datastore validates on every edit)."""

    def __init__(self) -> None:
        directory = yang_dir()
        with quiet_libyang():
            self._context = RecordingContext(str(directory))
            try:
                self._context.load_module(MODULE_NAME)
            except libyang.LibyangError:
                detail = "; ".join(e.message for e in self._context.recorded) or "not found"
                self._context.destroy()  # type: ignore[no-untyped-call]
                raise ConfigError(
                    str(directory), f"cannot load YANG module {MODULE_NAME}: {detail}"
                ) from None

    def close(self) -> None:
        self._context.destroy()  # type: ignore[no-untyped-call]

    def validate(self, text: str, fmt: DataFormat) -> dict[str, Any]:
        """The validated tree as RFC 7951 JSON with defaults filled in (the content
        of the top-level container), or ``ConfigError``."""
        context = self._context
        failure: ConfigError | None = None
        with quiet_libyang():
            context.recorded.clear()
            tree = None
            rejected: list[LibyangError] | None = None
            try:
                tree = context.parse_data_mem(text, fmt, strict=True, no_state=True)
            except libyang.LibyangError:
                rejected = list(context.recorded)
            if rejected is not None:
                # Outside the handler: the libyang exception, whose text may quote
                # a key, must not be chained to the ConfigError.
                failure = _validation_error(rejected, text, _PathFinder(context, text, fmt))
            printed: str | bytes = "{}"
            if tree is not None:
                try:
                    printed = tree.print_mem(
                        "json", with_siblings=True, pretty=False, include_implicit_defaults=True
                    )
                finally:
                    tree.free()
        if failure is not None:
            raise failure
        document: dict[str, Any] = json.loads(printed or "{}")
        top: dict[str, Any] = document.get(TOP_MEMBER, {})
        return top


def validated_document(text: str, fmt: DataFormat) -> dict[str, Any]:
    """One-shot validation with a fresh context."""
    validator = Validator()
    try:
        return validator.validate(text, fmt)
    finally:
        validator.close()



class _PathFinder:
    """Turns the locations libyang 2.1 reports into full data paths.

    Two gaps are filled from the schema: a missing mandatory node is reported by
    schema path only (which list entry lacks its key?), and a duplicate found while
    parsing is reported with its ancestors cut off.
    """

    def __init__(self, context: RecordingContext, text: str, fmt: DataFormat) -> None:
        self._context = context
        self._text = text
        self._fmt = fmt

    @property
    def context(self) -> RecordingContext:
        return self._context

    def must_app_tags(self) -> frozenset[str]:
        try:
            return violations.must_app_tags(self._context, MODULE_NAME)
        finally:
            self._context.recorded.clear()

    def data_path(self, location: str) -> str:
        found = {kind: path for kind, path in _LOCATION.findall(location)}
        if "Data" in found:
            return self._complete(found["Data"])
        if "Schema" in found:
            return self._instance_missing(found["Schema"]) or found["Schema"]
        return "/"

    def _schema_nodes(self, xpath: str) -> list[Any]:
        try:
            return list(self._context.find_path(xpath))
        except libyang.LibyangError:
            return []
        finally:
            self._context.recorded.clear()

    def _complete(self, path: str) -> str:
        if path == ROOT_PATH or path.startswith(ROOT_PATH + "/"):
            return path
        top, separator, rest = path[1:].partition("/")
        name = re.split(r"[\[]", top, maxsplit=1)[0]
        # The cut-off top has children, so it is a container or a list, and a
        # startup document holds configuration only.
        nodes = [
            node
            for node in self._schema_nodes(f"//{name}")
            if not node.config_false()
            and (not separator or isinstance(node, (libyang.SContainer, libyang.SList)))
        ]
        if len(nodes) != 1:
            return path
        ancestors = nodes[0].data_path().rsplit("/", 1)[0]
        if "%s" in ancestors:  # under a list whose keys we do not know
            return path
        return f"{ancestors}/{top.split(':', 1)[-1]}{separator}{rest}"

    def _instance_missing(self, schema_path: str) -> str | None:
        """The data path of the first list entry that lacks ``schema_path``'s last
        node (a mandatory leaf or choice)."""
        parent_path, _, missing = schema_path.rpartition("/")
        parents = self._schema_nodes(parent_path)
        if len(parents) != 1 or not isinstance(parents[0], libyang.SList):
            return None
        names = [c.name() for c in parents[0].children() if _is_or_under(c, missing)]
        if not names:
            return None
        condition = " and ".join(f"not({name})" for name in names)
        tree = None
        try:
            tree = self._context.parse_data_mem(
                self._text, self._fmt, strict=True, no_state=True, parse_only=True
            )
            if tree is None:
                return None
            entry = tree.find_one(f"{parent_path}[{condition}]")
            return entry.path() if entry is not None else None
        except libyang.LibyangError:
            return None
        finally:
            self._context.recorded.clear()
            if tree is not None:
                tree.free()


def _is_or_under(node: Any, name: str) -> bool:
    """``node`` is named ``name``, or sits in a choice named ``name``."""
    if node.name() == name:
        return True
    parent = node.cdata.parent
    while parent and parent.nodetype in (lib.LYS_CASE, lib.LYS_CHOICE):
        if parent.nodetype == lib.LYS_CHOICE and c_text(parent.name) == name:
            return True
        parent = parent.parent
    return False


_SYNTAX_ERRORS = frozenset({lib.LYVE_SYNTAX, lib.LYVE_SYNTAX_XML, lib.LYVE_SYNTAX_JSON})


def _validation_error(errors: list[LibyangError], text: str, finder: _PathFinder) -> ConfigError:
    if not errors:
        return ConfigError("/", "libyang rejected the document without a reason")
    first = errors[0]
    path = finder.data_path(first.location)
    line_match = _LINE.search(first.location)
    # A syntax error can fall inside a key and quote it; a key leaf's value
    # errors quote the key itself.
    redact = path.rsplit("/", 1)[-1] in _KEY_LEAVES or any(e.code in _SYNTAX_ERRORS for e in errors)
    messages: list[str] = []
    for error in errors:
        message = " ".join(error.message.split())  # must error-messages span lines
        if redact:
            message = _QUOTED.sub(f'"{REDACTED}"', message)
        if message not in messages:
            messages.append(message)
    detail = _scrub_keys("; ".join(messages), text)
    locations = {kind: where for kind, where in _LOCATION.findall(first.location)}
    violation = violations.classify(
        code=first.code, message=first.message, app_tag=first.app_tag,
        schema_only="Schema" in locations and "Data" not in locations,
        must_app_tags=finder.must_app_tags(),
    )
    found = violations.details(violation, path=path, schema_path=locations.get("Schema"),
                               message=first.message, context=finder.context)
    return ConfigError(
        found.path,
        detail,
        app_tag=first.app_tag,
        line=int(line_match.group(1)) if line_match else None,
        violation=violation,
        info=found.info,
        yang_info=found.yang_info if not redact else (),
    )


def _scrub_keys(message: str, text: str) -> str:
    for pattern in (_KEY_IN_JSON, _KEY_IN_XML):
        for match in pattern.finditer(text):
            value = match.group(1).strip()
            if len(value) >= _MIN_SCRUBBED_LENGTH:
                message = message.replace(value, REDACTED)
    return message


# -- building the records -------------------------------------------------------------
