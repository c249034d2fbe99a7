"""Startup files that are not a configuration, or that others can read
(issue 13 item 9), through the datastore that ``proxymip run`` builds on the
file (``agent.datastore.store.Datastore``) and the ``proxymip`` command
itself: a top level that is an array, a module member that is a list, an
unknown member and 100,000-deep nesting are each one clear error naming the
data path (no silent empty configuration, no RecursionError); a file holding
keys that group or others can access is refused with its mode named, as
OpenSSH refuses a private key file ("Permissions 0644 ... are too open"); a
file anyone can write is refused whatever it holds; ``config validate`` only
warns about the mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import libyang
import pytest

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.schema.startup_file import SECRET_LEAVES, holds_secrets, mode_problem
from agent.datastore.errors import DatastoreError
from agent.datastore.store import Datastore
from tests.conftest import ROOT

KEY = "00112233445566778899aabbccddeeff"
WITH_KEY = {TOP_MEMBER: {"home-agent": {"address": "192.0.2.1"},
                         "security": {"host": [{"address": "192.0.2.10", "spi": 256, "key-hex": KEY}]}}}
WITHOUT_KEY = {TOP_MEMBER: {"home-agent": {"address": "192.0.2.1"}}}


def startup(tmp_path: Path, text: str, mode: int = 0o600, name: str = "startup.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(DatastoreError) as caught:
        Datastore(startup_file=path).close()
    return str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("[]", "Expected top-level JSON object, but empty array found"),
    (json.dumps([WITH_KEY]), "Expected top-level JSON object, but array found"),
    (json.dumps({TOP_MEMBER: []}), "expected to be represented as JSON name/object"),
    (json.dumps({TOP_MEMBER: {"home-agent": []}}), "expected to be represented as JSON name/object"),
    (json.dumps({"proxy-mobile-ip:mobileip": {}}), 'Node "mobileip" not found'),
    ("[" * 100_000 + "]" * 100_000, "Expected top-level JSON object"),
    ('{"proxy-mobile-ip:mobile-ip": {"home-agent": ' + '{"x":' * 100_000 + "1" + "}" * 100_000 + "}}",
     'Node "x" not found'),
    ("{not json", "Invalid character sequence"),
])
def test_a_document_that_is_not_a_configuration_is_one_clear_error(tmp_path: Path, text: str,
                                                                   expected: str) -> None:
    message = refusal(startup(tmp_path, text))
    assert expected in message and "\n" not in message


def test_keys_readable_by_group_or_others_are_refused(tmp_path: Path) -> None:
    for mode in (0o644, 0o640, 0o604, 0o620, 0o601):
        message = refusal(startup(tmp_path, json.dumps(WITH_KEY), mode))
        assert f"mode {mode:04o} lets group or others at the keys it holds" in message
        assert KEY not in message
    Datastore(startup_file=startup(tmp_path, json.dumps(WITH_KEY), 0o600)).close()
    Datastore(startup_file=startup(tmp_path, json.dumps(WITH_KEY), 0o400)).close()
    # Without keys, others may read it; nobody else may write it.
    Datastore(startup_file=startup(tmp_path, json.dumps(WITHOUT_KEY), 0o644)).close()
    assert "lets anyone write it" in refusal(startup(tmp_path, json.dumps(WITHOUT_KEY), 0o646))


def test_secrets_in_either_encoding_are_found() -> None:
    for name in SECRET_LEAVES:
        assert holds_secrets(f'{{"{TOP_MEMBER}": {{"x": {{"{name}": "v"}}}}}}')
        assert holds_secrets(f'{{"proxy-mobile-ip:{name}": 1}}')
        assert holds_secrets(f"<mobile-ip><{name}>v</{name}></mobile-ip>")
        assert holds_secrets(f'<a><pmip:{name} xmlns:pmip="x">v</pmip:{name}></a>')
    assert not holds_secrets(json.dumps(WITHOUT_KEY))
    assert not holds_secrets('{"system-name": "my key-hex secret"}')
    assert mode_problem(0o600, json.dumps(WITH_KEY)) is None


def test_the_secret_leaves_are_those_the_yang_module_marks() -> None:
    """SECRET_LEAVES is the set of configuration leaves marked
    nacm:default-deny-all (RFC 8341 §3.5.2) outside the nacm container."""
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        marked: set[str] = set()

        def walk(node: libyang.SNode) -> None:
            try:
                children = list(node.children())  # type: ignore[attr-defined]
            except (AttributeError, TypeError):  # leaves, and node types libyang-python leaves out
                return
            for child in children:
                if child.name() == "nacm" or child.config_false():
                    continue
                if isinstance(child, libyang.SLeaf) and any(
                        e.name() == "default-deny-all" for e in child.extensions()):
                    marked.add(child.name())
                walk(child)

        walk(next(context.find_path(f"/{TOP_MEMBER}")))
    finally:
        context.destroy()
    assert marked == SECRET_LEAVES


def proxymip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_run_refuses_in_one_line_and_validate_warns(tmp_path: Path) -> None:
    readable = startup(tmp_path, json.dumps(WITH_KEY), 0o644)
    ran = proxymip("run", "--startup", str(readable))
    assert ran.returncode == 2 and "ready" not in ran.stdout
    assert ran.stderr.count("\n") == 1 and "mode 0644" in ran.stderr and "Traceback" not in ran.stderr
    validated = proxymip("config", "validate", str(readable))
    assert validated.returncode == 0 and "valid" in validated.stdout
    assert "warning" in validated.stderr and "mode 0644" in validated.stderr
    array = startup(tmp_path, "[" * 100_000 + "]" * 100_000, name="array.json")
    for args in (("run", "--startup", str(array)), ("config", "validate", str(array))):
        result = proxymip(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and "Expected top-level JSON object" in result.stderr
