"""The Agent Advertisement / Solicitation encoder checked against decoders we
did not write (RFC 5944 §2.1, §2.2; RFC 1256 §3).

Two independent oracles read our bytes, carried in IPv4 packets with TTL 1 as
the adapter sends them (RFC 5944 §2.1, §2.2):

- tshark's ``icmp`` dissector reads ICMP type 9 with the Mobility Agent
  Advertisement (16), Prefix-Lengths (19) and padding (0) extensions field by
  field, and verifies the ICMP checksum itself;
- scapy's ``ICMP`` layer reads the RFC 1256 header (type, code, checksum, and
  the 32-bit word holding Num Addrs, Addr Entry Size and Lifetime) and
  recomputes the checksum; it has no Mobile IP advertisement layer, so the rest
  of the message is its payload. scapy is used only in tests (GPL, DESIGN.md).

The expected values are taken from the records, never from our decoder.
tshark 4.0 knows no I bit (RFC 4857): it shows it inside ``icmp.mip.reserved``
(mask 0x3f), and it calls RFC 5944's r bit "VJ Comp" (RFC 2002's V).
"""

from __future__ import annotations

import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from conftest import require_module, require_tool

from agent.mobileip.advertisement import (
    ALL_MOBILITY_AGENTS,
    ALL_SYSTEMS,
    CODE_NORMAL_ROUTER,
    FLAG2_REGIONAL_REGISTRATION,
    FLAG2_REVOCATION,
    FLAG2_UDP_TUNNELLING,
    PREFERENCE_NOT_A_DEFAULT_ROUTER,
    AgentAdvertisement,
    decode_advertisement,
    decode_solicitation,
    encode_solicitation,
)
from agent.mobileip.errors import DecodeError, DecodeFault
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import AdvertisementFlag

try:
    from scapy.layers.inet import ICMP, IP
    from scapy.packet import Packet, Raw
    from scapy.utils import wrpcap

    HAVE_SCAPY = True
except ImportError:  # reported by the fixture below: failure in CI, skip elsewhere
    HAVE_SCAPY = False


@pytest.fixture(autouse=True)
def _scapy() -> None:
    if not HAVE_SCAPY:
        require_module("scapy")


F = AdvertisementFlag
FOREIGN_AGENT = IPv4Address("10.2.2.1")
SECOND_CARE_OF = IPv4Address("10.2.2.2")
ROUTER = IPv4Address("10.2.2.254")
MOBILE_NODE = IPv4Address("10.2.2.77")

#: (name, record, decodes strictly?) — each flag bit alone, both flag octets,
#: care-of address lists, router entries, prefix lengths, padding, both codes.
FA = F.FOREIGN_AGENT


def fa(**fields: object) -> AgentAdvertisement:
    base: dict[str, object] = {
        "sequence": 1,
        "registration_lifetime": 600,
        "flags": FA,
        "care_of_addresses": (FOREIGN_AGENT,),
    }
    base.update(fields)
    return AgentAdvertisement(**base)  # type: ignore[arg-type]


SAMPLES: list[tuple[str, AgentAdvertisement, bool]] = [
    ("F", fa(), True),
    ("R", fa(flags=FA | F.REGISTRATION_REQUIRED), True),
    ("B", fa(flags=FA | F.BUSY), True),
    ("H-only", fa(flags=F.HOME_AGENT, care_of_addresses=()), True),
    ("M", fa(flags=FA | F.MINIMAL_ENCAPSULATION), True),
    ("G", fa(flags=FA | F.GRE), True),
    ("r-reserved", fa(flags=FA | F.RESERVED_R), False),
    ("T", fa(flags=FA | F.REVERSE_TUNNELING), True),
    ("U", fa(flags2=FLAG2_UDP_TUNNELLING), True),
    ("X", fa(flags2=FLAG2_REVOCATION), True),
    ("I", fa(flags2=FLAG2_REGIONAL_REGISTRATION), True),
    ("reserved-0x1f", fa(flags2=0x1F), False),
    ("all-flags", fa(flags=F(0xFF), flags2=0xFF), False),
    ("all-defined-flags", fa(flags=F(0xFD), flags2=0xE0), True),
    (
        "ha-fa-code-0-routers-prefixes",
        fa(
            sequence=0xFFFF,
            registration_lifetime=0xFFFF,
            flags=F.HOME_AGENT | FA | F.REVERSE_TUNNELING,
            care_of_addresses=(FOREIGN_AGENT, SECOND_CARE_OF),
            code=CODE_NORMAL_ROUTER,
            advertisement_lifetime=9000,
            router_addresses=((FOREIGN_AGENT, PREFERENCE_NOT_A_DEFAULT_ROUTER), (ROUTER, 7)),
            prefix_lengths=(24, 16),
        ),
        True,
    ),
    ("sequence-0-lifetime-0", fa(sequence=0, registration_lifetime=0, advertisement_lifetime=0),
     True),
    ("after-wrap-256", fa(sequence=256), True),
    ("padded", fa(prefix_lengths=(), padded=True), True),
    ("prefix-lengths-one-router", fa(router_addresses=((FOREIGN_AGENT, 0),), prefix_lengths=(32,)),
     True),
    (
        "five-care-of-addresses",
        fa(care_of_addresses=tuple(IPv4Address(0x0A020201 + i) for i in range(5))),
        True,
    ),
]

TSHARK_FIELDS = [
    "icmp.type",
    "icmp.code",
    "icmp.checksum",
    "icmp.checksum.status",
    "icmp.num_addrs",
    "icmp.addr_entry_size",
    "icmp.lifetime",
    "icmp.router_address",
    "icmp.pref_level",
    "icmp.mip.type",
    "icmp.mip.length",
    "icmp.mip.seq",
    "icmp.mip.life",
    "icmp.mip.flags",
    "icmp.mip.r",
    "icmp.mip.b",
    "icmp.mip.h",
    "icmp.mip.f",
    "icmp.mip.m",
    "icmp.mip.g",
    "icmp.mip.v",  # RFC 5944's r
    "icmp.mip.rt",  # T
    "icmp.mip.u",
    "icmp.mip.x",
    "icmp.mip.reserved",  # I and the five reserved bits
    "icmp.mip.coa",
    "icmp.mip.prefixlength",
]


def rfc1071(data: bytes) -> int:
    """RFC 1071 written out here, for the checksum value we expect."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for index in range(0, len(data), 2):
        total += (data[index] << 8) | data[index + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def wire_length(advertisement: AgentAdvertisement) -> int:
    """RFC 1256 §3 + RFC 5944 §2.1.1-§2.1.3 sizes, from the record."""
    size = 8 + 8 * len(advertisement.router_addresses) + 8 + 4 * len(advertisement.care_of_addresses)
    if advertisement.prefix_lengths is not None:
        size += 2 + len(advertisement.prefix_lengths)
    return size + sum(2 + len(e.data) for e in advertisement.extensions) + advertisement.padded


def expected_row(advertisement: AgentAdvertisement, wire: bytes) -> dict[str, str]:
    flags, flags2 = int(advertisement.flags), advertisement.flags2
    bit = lambda value: "1" if value else "0"  # noqa: E731
    extension_types = ["16"]
    extension_lengths = [str(6 + 4 * len(advertisement.care_of_addresses))]
    if advertisement.prefix_lengths is not None:
        extension_types.append("19")
        extension_lengths.append(str(len(advertisement.prefix_lengths)))
    if advertisement.padded:
        extension_types.append("0")  # the padding octet has a type and no length
    checksum = rfc1071(wire[:2] + b"\x00\x00" + wire[4:])
    return {
        "icmp.type": "9",
        "icmp.code": str(advertisement.code),
        "icmp.checksum": f"0x{checksum:04x}",
        "icmp.checksum.status": "1",  # tshark computed it and found it good
        "icmp.num_addrs": str(len(advertisement.router_addresses)),
        "icmp.addr_entry_size": "2",
        "icmp.lifetime": str(advertisement.advertisement_lifetime),
        "icmp.router_address": ",".join(str(a) for a, _ in advertisement.router_addresses),
        "icmp.pref_level": ",".join(str(p) for _, p in advertisement.router_addresses),
        "icmp.mip.type": ",".join(extension_types),
        "icmp.mip.length": ",".join(extension_lengths),
        "icmp.mip.seq": str(advertisement.sequence),
        "icmp.mip.life": str(advertisement.registration_lifetime),
        "icmp.mip.flags": f"0x{flags << 8 | flags2:04x}",
        "icmp.mip.r": bit(flags & 0x80),
        "icmp.mip.b": bit(flags & 0x40),
        "icmp.mip.h": bit(flags & 0x20),
        "icmp.mip.f": bit(flags & 0x10),
        "icmp.mip.m": bit(flags & 0x08),
        "icmp.mip.g": bit(flags & 0x04),
        "icmp.mip.v": bit(flags & 0x02),
        "icmp.mip.rt": bit(flags & 0x01),
        "icmp.mip.u": bit(flags2 & 0x80),
        "icmp.mip.x": bit(flags2 & 0x40),
        "icmp.mip.reserved": f"0x{flags2 & 0x3F:04x}",
        "icmp.mip.coa": ",".join(str(a) for a in advertisement.care_of_addresses),
        "icmp.mip.prefixlength": ",".join(str(p) for p in advertisement.prefix_lengths or ()),
    }


def icmp_packet(data: bytes, *, source: IPv4Address, destination: IPv4Address) -> Packet:
    # RFC 5944 §2.1, §2.2: TTL 1 for advertisements and solicitations.
    return IP(src=str(source), dst=str(destination), ttl=1, proto=1) / Raw(data)


def run_tshark(tshark: str, *arguments: str) -> str:
    # As root tshark warns on stderr; only stdout is the oracle's answer.
    completed = subprocess.run(
        [tshark, "-n", *arguments], capture_output=True, text=True, timeout=120, check=True
    )
    return completed.stdout


def tshark_rows(tshark: str, capture: Path) -> list[dict[str, str]]:
    arguments = ["-r", str(capture), "-T", "fields", "-E", "separator=|"]
    for name in TSHARK_FIELDS:
        arguments += ["-e", name]
    lines = run_tshark(tshark, *arguments).splitlines()
    return [dict(zip(TSHARK_FIELDS, line.split("|"), strict=True)) for line in lines]


def test_samples_are_what_our_decoder_reads() -> None:
    """Sanity: the oracle inputs are what RFC 5944 §2.1.1 allows; the ones with
    reserved bits are refused strictly and read back leniently."""
    for name, advertisement, strict in SAMPLES:
        wire = advertisement.encode()
        assert len(wire) == wire_length(advertisement), name
        if strict:
            assert decode_advertisement(wire) == advertisement, name
        else:
            with pytest.raises(DecodeError) as caught:
                decode_advertisement(wire)
            assert caught.value.fault is DecodeFault.RESERVED_BITS_SET
            assert decode_advertisement(wire, strict_reserved=False) == advertisement, name


def test_tshark_reads_every_advertisement_field(tmp_path: Path) -> None:
    """tshark's dissector reads type, code, checksum (and verifies it), the
    RFC 1256 header and router entries, sequence, registration lifetime, every
    flag bit, the care-of addresses and the prefix lengths as we meant them,
    and finds nothing malformed."""
    tshark = require_tool("tshark")
    capture = tmp_path / "advertisements.pcap"
    wires = [advertisement.encode() for _, advertisement, _ in SAMPLES]
    wrpcap(
        str(capture),
        [icmp_packet(w, source=FOREIGN_AGENT, destination=ALL_SYSTEMS) for w in wires],
    )
    rows = tshark_rows(tshark, capture)
    assert len(rows) == len(SAMPLES)
    for (name, advertisement, _), wire, row in zip(SAMPLES, wires, rows, strict=True):
        assert row == expected_row(advertisement, wire), name

    verbose = run_tshark(tshark, "-r", str(capture), "-V")
    assert verbose.count("Type: 9 (Mobile IP Advertisement)") == len(SAMPLES)
    assert verbose.count("Ext: Mobility Agent Advertisement Extension") == len(SAMPLES)
    assert verbose.count("Ext: Prefix Lengths Extension") == sum(
        a.prefix_lengths is not None for _, a, _ in SAMPLES
    )
    assert verbose.count("Ext: One byte padding extension") == sum(a.padded for _, a, _ in SAMPLES)
    assert verbose.count("Code: 16 (Does not route common traffic)") == sum(
        a.code == 16 for _, a, _ in SAMPLES
    )
    assert "Malformed" not in verbose
    assert "[Checksum Status: Bad]" not in verbose


def test_tshark_reads_the_foreign_agents_own_advertisement(tmp_path: Path) -> None:
    """What the foreign agent engine sends (RFC 5944 §2.3), prefix length
    included, is read by tshark as the engine meant it."""
    import random

    from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
    from agent.mobileip.security import SecurityAssociationTable

    tshark = require_tool("tshark")
    foreign_agent = ForeignAgent(
        ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0, prefix_length=24,
                             gre=True),
        home_agents=SecurityAssociationTable(),
        rng=random.Random(1),
    )
    expected = foreign_agent.advertisement()  # the sequence moves on once sent
    foreign_agent.receive_icmp(encode_solicitation(), MOBILE_NODE, 0.0)
    [transmit] = foreign_agent.datagrams_to_send()
    capture = tmp_path / "fa.pcap"
    wrpcap(str(capture), [icmp_packet(transmit.data, source=FOREIGN_AGENT,
                                      destination=transmit.destination)])
    [row] = tshark_rows(tshark, capture)
    assert row == expected_row(expected, transmit.data)
    assert row["icmp.router_address"] == str(FOREIGN_AGENT)
    assert row["icmp.pref_level"] == "-2147483648"
    assert row["icmp.mip.prefixlength"] == "24"


def test_tshark_reads_a_skippable_extension_where_we_put_it(tmp_path: Path) -> None:
    """An extension 128-255 we keep (RFC 5944 §1.9) is re-encoded with its type
    and length in place. tshark 4.0 names it "Unknown ext 200" and reads its
    Type and Length (it then reports the rest of the frame as malformed, as it
    does for any unknown advertisement extension, so that is not checked)."""
    tshark = require_tool("tshark")
    advertisement = fa(extensions=(Extension(200, b"abc"),))
    capture = tmp_path / "skippable.pcap"
    wrpcap(str(capture), [icmp_packet(advertisement.encode(), source=FOREIGN_AGENT,
                                      destination=ALL_SYSTEMS)])
    [row] = tshark_rows(tshark, capture)
    assert (row["icmp.mip.type"], row["icmp.mip.length"]) == ("16,200", "10,3")
    assert row["icmp.mip.coa"] == str(FOREIGN_AGENT) and row["icmp.checksum.status"] == "1"
    assert "Ext: Unknown ext 200" in run_tshark(tshark, "-r", str(capture), "-V")


def test_tshark_reads_the_solicitation(tmp_path: Path) -> None:
    """RFC 1256 §3 / RFC 5944 §2.2: type 10, code 0, checksum verified."""
    tshark = require_tool("tshark")
    capture = tmp_path / "solicitation.pcap"
    wrpcap(
        str(capture),
        [icmp_packet(encode_solicitation(), source=MOBILE_NODE, destination=ALL_MOBILITY_AGENTS)],
    )
    output = run_tshark(
        tshark, "-r", str(capture), "-T", "fields", "-E", "separator=|",
        "-e", "icmp.type", "-e", "icmp.code", "-e", "icmp.checksum", "-e", "icmp.checksum.status",
        "-e", "ip.ttl",
    )
    assert output.splitlines() == [f"10|0|0x{rfc1071(bytes((10, 0, 0, 0, 0, 0, 0, 0))):04x}|1|1"]
    assert "Malformed" not in run_tshark(tshark, "-r", str(capture), "-V")


#: Inputs our decoder refuses for their structure, which tshark must call
#: malformed too; the semantic faults (RFC 5944 §1.9 unknown 0-127, §2.1.2
#: count, §2.1.1 F without a care-of address) are ours alone.
def _checksummed(message: bytes) -> bytes:
    zeroed = message[:2] + b"\x00\x00" + message[4:]
    return zeroed[:2] + rfc1071(zeroed).to_bytes(2, "big") + zeroed[4:]


_VALID = fa(care_of_addresses=(FOREIGN_AGENT, SECOND_CARE_OF)).encode()
REFUSED = [
    ("mobility-extension-cut", _checksummed(_VALID[:-3]), DecodeFault.TRUNCATED, True),
    ("prefix-lengths-cut", _checksummed(_VALID + bytes((19, 4, 24))), DecodeFault.TRUNCATED, True),
    ("bad-checksum", _VALID[:2] + b"\x00\x00" + _VALID[4:], DecodeFault.BAD_CHECKSUM, False),
    ("prefix-count", _checksummed(_VALID + bytes((19, 1, 24))), DecodeFault.BAD_EXTENSION_LENGTH,
     False),
]


def test_tshark_agrees_on_what_is_malformed(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    packets = []
    for name, data, fault, _ in REFUSED:
        with pytest.raises(DecodeError) as caught:
            decode_advertisement(data)
        assert caught.value.fault is fault, name
        packets.append(icmp_packet(data, source=FOREIGN_AGENT, destination=ALL_SYSTEMS))
    capture = tmp_path / "refused.pcap"
    wrpcap(str(capture), packets)
    frames = run_tshark(tshark, "-r", str(capture), "-V").split("\nFrame ")
    assert len(frames) == len(REFUSED)
    for (name, _, _, malformed), frame in zip(REFUSED, frames, strict=True):
        assert ("Malformed" in frame) is malformed, name
    assert "[Checksum Status: Bad]" in frames[2]


# -- scapy ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "advertisement"), [(n, a) for n, a, _ in SAMPLES],
                         ids=[n for n, _, _ in SAMPLES])
def test_scapy_reads_the_same_icmp_header_and_checksum(
    name: str, advertisement: AgentAdvertisement
) -> None:
    """scapy's ICMP layer: type 9, our code, our checksum (it recomputes the
    same one), and RFC 1256's Num Addrs | Addr Entry Size | Lifetime word; the
    Mobile IP extensions are its payload, where they must start."""
    wire = advertisement.encode()
    packet = IP(bytes(icmp_packet(wire, source=FOREIGN_AGENT, destination=ALL_SYSTEMS)))
    assert packet.ttl == 1
    icmp = packet[ICMP]
    assert (icmp.type, icmp.code) == (9, advertisement.code)
    assert icmp.chksum == int.from_bytes(wire[2:4], "big")
    rebuilt = ICMP(wire)
    rebuilt.chksum = None  # scapy computes the checksum itself
    assert bytes(rebuilt) == wire
    routers = len(advertisement.router_addresses)
    assert icmp.unused == (routers << 24) | (2 << 16) | advertisement.advertisement_lifetime
    payload = bytes(icmp.payload)
    assert payload[8 * routers] == 16
    assert payload[8 * routers + 1] == 6 + 4 * len(advertisement.care_of_addresses)


def test_we_read_what_scapy_builds() -> None:
    """The other direction: scapy builds the ICMP header and its checksum
    around hand-made RFC 1256 entries and RFC 5944 extensions."""
    entries = ROUTER.packed + (5).to_bytes(4, "big", signed=True)
    mobility = bytes((16, 10)) + (300).to_bytes(2, "big") + (1200).to_bytes(2, "big")
    mobility += bytes((0x91, 0xC0)) + FOREIGN_AGENT.packed
    extensions = mobility + bytes((19, 1, 24)) + b"\x00"
    built = ICMP(type=9, code=16, unused=(1 << 24) | (2 << 16) | 1800) / Raw(entries + extensions)
    decoded = decode_advertisement(bytes(built))
    assert decoded == AgentAdvertisement(
        sequence=300,
        registration_lifetime=1200,
        flags=F.REGISTRATION_REQUIRED | F.FOREIGN_AGENT | F.REVERSE_TUNNELING,
        care_of_addresses=(FOREIGN_AGENT,),
        advertisement_lifetime=1800,
        router_addresses=((ROUTER, 5),),
        prefix_lengths=(24,),
        flags2=FLAG2_UDP_TUNNELLING | FLAG2_REVOCATION,
        code=16,
        padded=True,
    )
    assert decoded.encode() == bytes(built)

    unknown = ICMP(type=9, code=0, unused=(0 << 24) | (2 << 16) | 60) / Raw(
        bytes((16, 6, 0, 1, 0, 60, 0x20, 0)) + bytes((200, 2, 1, 2))
    )
    assert decode_advertisement(bytes(unknown)).extensions == (Extension(200, b"\x01\x02", 16),)
    non_skippable = ICMP(type=9, code=0, unused=(0 << 24) | (2 << 16) | 60) / Raw(
        bytes((16, 6, 0, 1, 0, 60, 0x20, 0)) + bytes((24, 2, 1, 2))
    )
    with pytest.raises(DecodeError) as caught:
        decode_advertisement(bytes(non_skippable))
    assert caught.value.fault is DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION


def test_solicitation_agrees_with_scapy() -> None:
    """RFC 1256 §3: scapy's Router Solicitation is byte for byte ours, and we
    read it; its checksum check agrees."""
    ours = encode_solicitation()
    assert bytes(ICMP(type=10, code=0)) == ours
    assert decode_solicitation(bytes(ICMP(type=10, code=0))).reserved == 0
    parsed = ICMP(ours)
    assert (parsed.type, parsed.code, parsed.unused) == (10, 0, 0)
    parsed.chksum = None
    assert bytes(parsed) == ours
    reserved = bytes(ICMP(type=10, code=0, unused=7))
    with pytest.raises(DecodeError) as caught:
        decode_solicitation(reserved)
    assert caught.value.fault is DecodeFault.RESERVED_BITS_SET
    assert decode_solicitation(reserved, strict_reserved=False).reserved == 7
