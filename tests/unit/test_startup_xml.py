"""A startup file in XML (RFC 7950 §14 encoding) is the startup datastore as a
JSON one is (RFC 6241 §8.7 :startup): it is read at start, ``copy-config running
-> startup`` rewrites it atomically in XML, ``delete-config startup`` empties it,
and an invalid one is refused naming the path and the rule, never a key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from lxml import etree

from agent.config.loader import load_config_text
from agent.schema.context import TOP_MEMBER
from agent.datastore.edits import Edit, Operation
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import parse_path
from agent.datastore.store import RUNNING, STARTUP, Datastore

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY_HEX = "00112233445566778899aabbccddeeff"
STARTUP_XML = f"""<?xml version="1.0"?>
<!-- written by hand: libyang rewrites the file, comments are not kept -->
<mobile-ip xmlns="{NS}">
  <home-agent><address>192.0.2.1</address></home-agent>
  <security>
    <host><address>192.0.2.10</address><spi>256</spi><key-hex>{KEY_HEX}</key-hex></host>
  </security>
</mobile-ip>
"""


def merge(path: str, value: object) -> Edit:
    return Edit(Operation.MERGE, parse_path(path), value)


def test_xml_startup_is_read_and_copy_config_writes_it_back_in_xml(tmp_path: Path) -> None:
    path = tmp_path / "startup.xml"
    path.write_text(STARTUP_XML)
    path.chmod(0o600)  # it holds keys
    datastore = Datastore(startup_file=path)
    try:
        expected = {TOP_MEMBER: {
            "home-agent": {"address": "192.0.2.1"},
            "security": {"host": [{"address": "192.0.2.10", "spi": 256, "key-hex": KEY_HEX}]},
        }}
        assert datastore.get_config(STARTUP) == datastore.get_config(RUNNING) == expected
        datastore.edit(RUNNING, [merge("/mobile-ip/subnet-map[prefix='10.1.0.0/16']",
                                       {"home-agent": "192.0.2.1"})])
        assert path.read_text() == STARTUP_XML  # running is not persisted by itself
        datastore.copy_config(RUNNING, STARTUP)
        written = path.read_text()
        document = etree.fromstring(written.encode())
        assert document.tag == f"{{{NS}}}mobile-ip"
        assert document.findtext(f"{{{NS}}}subnet-map/{{{NS}}}prefix") == "10.1.0.0/16"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds keys
        # Only what was set is written (no defaults), and it is a valid startup.
        assert document.find(f"{{{NS}}}home-agent/{{{NS}}}max-lifetime") is None
        load_config_text(written, "xml")
        assert datastore.get_config(STARTUP) == datastore.get_config(RUNNING)
    finally:
        datastore.close()
    reborn = Datastore(startup_file=path)
    try:
        assert reborn.get_config(RUNNING) == reborn.get_config(STARTUP)
        assert reborn.get_config(RUNNING)[TOP_MEMBER]["subnet-map"] == [
            {"prefix": "10.1.0.0/16", "home-agent": "192.0.2.1"}]
        reborn.delete_config(STARTUP)
        assert etree.fromstring(path.read_text().encode()).tag == f"{{{NS}}}mobile-ip"
    finally:
        reborn.close()
    empty = Datastore(startup_file=path)
    try:
        assert empty.get_config(STARTUP) == empty.get_config(RUNNING) == {}
    finally:
        empty.close()


def test_json_startup_stays_json(tmp_path: Path) -> None:
    path = tmp_path / "startup.json"
    datastore = Datastore(startup_file=path)
    try:
        datastore.edit(RUNNING, [merge("/mobile-ip/home-agent", {"address": "192.0.2.1"})])
        datastore.copy_config(RUNNING, STARTUP)
        assert path.read_text().lstrip().startswith("{")
    finally:
        datastore.close()


def test_invalid_xml_startup_is_refused_with_path_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "startup.xml"
    text = STARTUP_XML.replace("<spi>256</spi>", "<spi>5</spi>")
    path.write_text(text)
    with pytest.raises(DatastoreError) as caught:
        Datastore(startup_file=path)
    error = caught.value
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.path is not None and error.path.endswith("/spi")
    assert KEY_HEX not in str(error)
    assert path.read_text() == text
    path.write_text("<mobile-ip")  # not well-formed
    with pytest.raises(DatastoreError):
        Datastore(startup_file=path)
