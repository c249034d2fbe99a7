"""Data paths in the subset of XPath that instance-identifiers use (RFC 7950
§9.13): ``/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.0.0.0/8']/home-agent``.
The module prefix is optional after the first step."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.datastore.errors import DatastoreError, ErrorTag

_STEP = re.compile(r"(?:(?P<module>[\w.-]+):)?(?P<name>[\w.-]+)(?P<predicates>(?:\[[^\]]*\])*)")
_PREDICATE = re.compile(r"\[\s*(?:[\w.-]+:)?(?P<key>[\w.-]+)\s*=\s*(?P<q>['\"])(?P<value>.*?)(?P=q)\s*\]")


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    keys: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        return self.name + "".join(f"[{k}='{v}']" for k, v in self.keys)


Path = tuple[Step, ...]


def parse_path(text: str) -> Path:
    """Parse a path; raises ``DatastoreError(invalid-value)`` when malformed."""
    if not text.startswith("/"):
        raise DatastoreError(ErrorTag.INVALID_VALUE, "a path starts with '/'", path=text)
    if text == "/":
        return ()
    steps = []
    for raw in _split(text[1:]):
        if not raw:  # '//' (descendant) or a trailing '/': not an instance-identifier
            raise DatastoreError(ErrorTag.INVALID_VALUE, "empty path step", path=text)
        match = _STEP.fullmatch(raw)
        if match is None:
            raise DatastoreError(ErrorTag.INVALID_VALUE, f"bad path step {raw!r}", path=text)
        keys = tuple(
            (p.group("key"), p.group("value")) for p in _PREDICATE.finditer(match.group("predicates"))
        )
        if "".join(p.group(0) for p in _PREDICATE.finditer(match.group("predicates"))) != match.group("predicates"):
            raise DatastoreError(ErrorTag.INVALID_VALUE, f"bad predicate in {raw!r}", path=text)
        steps.append(Step(match.group("name"), keys))
    return tuple(steps)


def _split(text: str) -> list[str]:
    """Split on '/' outside predicates (values such as prefixes contain '/')."""
    parts, depth, current = [], 0, []
    quote = ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"" and depth:
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def render_path(path: Path, *, module: str = "proxy-mobile-ip") -> str:
    if not path:
        return "/"
    first, *rest = path
    return "/" + "/".join([f"{module}:{first.render()}", *(s.render() for s in rest)])
