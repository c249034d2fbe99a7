"""The encoder checked against decoders we did not write (RFC 5944 §3.3, §3.4, §3.5).

Two independent oracles read our bytes: scapy's ``scapy.layers.mobileip`` (fixed
part only: it has no extensions, they come out as ``Raw``) and tshark's ``mip``
dissector (fixed part and every extension, but it verifies no authenticator). The
expected authenticators are computed here with ``hmac`` so neither side of the
comparison is the code under test. scapy is used only in tests (GPL, DESIGN.md).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from conftest import require_module, require_tool

from agent.mobileip.errors import DecodeError, DecodeFault
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import MOBILE_IP_PORT, ExtensionType, RequestFlag
from agent.mobileip.registration import (
    RegistrationReply,
    RegistrationRequest,
    decode_reply,
    decode_request,
)
from agent.mobileip.replay import ntp_identification
from agent.mobileip.security import SecurityAssociation, authenticate

try:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.mobileip import MobileIP, MobileIPRRP, MobileIPRRQ
    from scapy.packet import Packet, Raw
    from scapy.utils import wrpcap

    HAVE_SCAPY = True
except ImportError:  # reported by the fixture below: failure in CI, skip elsewhere
    HAVE_SCAPY = False


@pytest.fixture(autouse=True)
def _scapy() -> None:
    if not HAVE_SCAPY:
        require_module("scapy")


MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
MFAE = ExtensionType.MOBILE_FOREIGN_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION
NAI = ExtensionType.MOBILE_NODE_NAI
DELIVERY_STYLE = ExtensionType.ENCAPSULATING_DELIVERY_STYLE

HOME_ADDRESS = IPv4Address("10.1.1.50")
HOME_AGENT = IPv4Address("10.1.1.1")
FOREIGN_AGENT = IPv4Address("10.2.2.1")
MOBILE_NODE_PORT = 50_000

MN_HA = SecurityAssociation(0x100, bytes.fromhex("00112233445566778899aabbccddeeff"))
MN_FA = SecurityAssociation(0x101, bytes.fromhex("0123456789abcdef0123456789abcdef"))
FA_HA = SecurityAssociation(0xFFFF_FFFF, bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f"))


def identification(seconds_after: float, low_random: int = 0) -> int:
    """NTP-format (RFC 5944 §5.7.1), in NTP era 0 so tshark shows it as such."""
    return ntp_identification(1_694_127_424 + seconds_after, low_random)


@dataclass(frozen=True)
class Sample:
    """A message as we encode it, and what an oracle must read back."""

    name: str
    message: RegistrationRequest | RegistrationReply
    #: Authentication extensions appended in order: (type, SA).
    authentication: tuple[tuple[int, SecurityAssociation], ...]

    @property
    def is_request(self) -> bool:
        return isinstance(self.message, RegistrationRequest)

    def wire(self) -> bytes:
        """Encoded by the code under test: the codec, then ``authenticate``."""
        data = self.message.encode()
        for ext_type, sa in self.authentication:
            data = authenticate(data, ext_type, sa)
        return data

    def expected_extensions(self) -> list[tuple[int, bytes]]:
        """(type, data) of every extension, MACs computed independently with hmac
        (RFC 5944 §3.5.1: fixed part + prior extensions + own Type/Length/SPI)."""
        extensions = [(ext.type, ext.data) for ext in self.message.extensions]
        data = self.message.encode()
        for ext_type, sa in self.authentication:
            covered = data + struct.pack("!BBI", ext_type, 20, sa.spi)
            mac = hmac.new(sa.key, covered, hashlib.md5).digest()
            extensions.append((ext_type, struct.pack("!I", sa.spi) + mac))
            data = covered + mac
        return extensions


def request_sample(
    name: str,
    *,
    flags: int = 0,
    lifetime: int = 1800,
    care_of_address: IPv4Address = FOREIGN_AGENT,
    ident: int = identification(0),
    extensions: tuple[tuple[int, bytes], ...] = (),
    authentication: tuple[tuple[int, SecurityAssociation], ...] = ((MHAE, MN_HA),),
) -> Sample:
    message = RegistrationRequest(
        RequestFlag(flags),
        lifetime,
        HOME_ADDRESS,
        HOME_AGENT,
        care_of_address,
        ident,
        tuple(Extension(t, d) for t, d in extensions),
    )
    return Sample(name, message, authentication)


def reply_sample(
    name: str,
    *,
    code: int = 0,
    lifetime: int = 1800,
    ident: int = identification(0),
    extensions: tuple[tuple[int, bytes], ...] = (),
    authentication: tuple[tuple[int, SecurityAssociation], ...] = ((MHAE, MN_HA),),
) -> Sample:
    message = RegistrationReply(
        code,
        lifetime,
        HOME_ADDRESS,
        HOME_AGENT,
        ident,
        tuple(Extension(t, d) for t, d in extensions),
    )
    return Sample(name, message, authentication)


SAMPLES = [
    request_sample("plain-no-extensions", authentication=()),
    request_sample("S", flags=RequestFlag.SIMULTANEOUS_BINDINGS),
    request_sample("B", flags=RequestFlag.BROADCAST),
    request_sample(
        "D-colocated",
        flags=RequestFlag.DECAPSULATION_BY_MOBILE_NODE,
        care_of_address=IPv4Address("192.0.2.77"),
    ),
    request_sample("M", flags=RequestFlag.MINIMAL_ENCAPSULATION),
    request_sample("G", flags=RequestFlag.GRE),
    request_sample("T", flags=RequestFlag.REVERSE_TUNNELING, extensions=((DELIVERY_STYLE, b""),)),
    request_sample("all-flags", flags=0xFA, ident=identification(1.5, 0xBEEF)),
    request_sample(
        "deregistration", lifetime=0, care_of_address=HOME_ADDRESS, ident=identification(0.75, 1)
    ),
    request_sample("infinite", lifetime=0xFFFF, ident=identification(0.999)),
    request_sample("nai-mhae", extensions=((NAI, b"mn1@example.com"),)),
    request_sample(
        "nai-mhae-mfae",
        extensions=((NAI, b"mn1@example.com"),),
        authentication=((MHAE, MN_HA), (MFAE, MN_FA)),
    ),
    request_sample(
        "relayed-nai-mhae-fhae",
        flags=RequestFlag.REVERSE_TUNNELING,
        lifetime=600,
        extensions=((NAI, b"mn1@example.com"),),
        authentication=((MHAE, MN_HA), (FHAE, FA_HA)),
    ),
    request_sample("skippable-unknown-200", extensions=((200, b"abc"), (NAI, b"x@y"))),
    reply_sample("accepted"),
    reply_sample("accepted-no-simultaneous", code=1, lifetime=0xFFFF),
    reply_sample("deregistered", lifetime=0, ident=identification(3, 7)),
    reply_sample("fa-lifetime-too-long", code=69, lifetime=300, authentication=()),
    reply_sample("id-mismatch-133", code=133, ident=identification(-40, 0x1234)),
    reply_sample("unknown-ha-136", code=136, extensions=((NAI, b"mn1@example.com"),)),
    reply_sample("to-fa-mhae-fhae", authentication=((MHAE, MN_HA), (FHAE, FA_HA))),
    reply_sample("mhae-mfae", authentication=((MHAE, MN_HA), (MFAE, MN_FA))),
]


@pytest.fixture(params=SAMPLES, ids=[s.name for s in SAMPLES])
def sample(request: pytest.FixtureRequest) -> Sample:
    return request.param  # type: ignore[no-any-return]


def test_samples_round_trip_through_our_decoder(sample: Sample) -> None:
    """Sanity: the oracle inputs are well formed by our own decoder too."""
    data = sample.wire()
    decoded = decode_request(data) if sample.is_request else decode_reply(data)
    assert [(ext.type, ext.data) for ext in decoded.extensions] == sample.expected_extensions()
    assert decoded.encode() == data


# -- scapy ---------------------------------------------------------------------------


def datagram(sample: Sample) -> Packet:
    """RFC 5944 §3.1, §3.8.3.1: requests go to UDP 434 from any port, replies come
    from 434 back to that port."""
    if sample.is_request:
        udp = UDP(sport=MOBILE_NODE_PORT, dport=MOBILE_IP_PORT)
        return IP(src=str(FOREIGN_AGENT), dst=str(HOME_AGENT)) / udp / Raw(sample.wire())
    udp = UDP(sport=MOBILE_IP_PORT, dport=MOBILE_NODE_PORT)
    return IP(src=str(HOME_AGENT), dst=str(FOREIGN_AGENT)) / udp / Raw(sample.wire())


def extension_bytes(sample: Sample) -> bytes:
    return b"".join(bytes((t, len(d))) + d for t, d in sample.expected_extensions())


def test_scapy_reads_the_same_fixed_part(sample: Sample) -> None:
    """scapy dispatches UDP/434 to MobileIP by port and reads RFC 5944 §3.3/§3.4
    fields; the extensions must start exactly where its fixed part ends."""
    parsed = UDP(bytes(datagram(sample)[UDP]))
    assert MobileIP in parsed
    message = sample.message
    if isinstance(message, RegistrationRequest):
        assert parsed[MobileIP].type == 1
        fixed = parsed[MobileIPRRQ]
        assert fixed.flags == int(message.flags)
        assert fixed.coaddr == str(message.care_of_address)
    else:
        assert parsed[MobileIP].type == 3
        fixed = parsed[MobileIPRRP]
        assert fixed.code == message.code
    assert fixed.lifetime == message.lifetime
    assert fixed.homeaddr == str(message.home_address)
    assert fixed.haaddr == str(message.home_agent)
    assert fixed.id == message.identification
    assert bytes(fixed.payload) == extension_bytes(sample)


SCAPY_BUILT = [
    pytest.param(0x00, 1800, 0, id="zero"),
    pytest.param(0x80, 0, 2**64 - 1, id="S-dereg-max-id"),
    pytest.param(0x7A, 0xFFFF, identification(2), id="BDMGT-infinite"),
]


@pytest.mark.parametrize("flags, lifetime, ident", SCAPY_BUILT)
def test_we_read_what_scapy_builds(flags: int, lifetime: int, ident: int) -> None:
    """The other direction: scapy's encoder, our decoder (RFC 5944 §3.3, §3.4)."""
    built = MobileIP(type=1) / MobileIPRRQ(
        flags=flags,
        lifetime=lifetime,
        homeaddr="10.1.1.50",
        haaddr="10.1.1.1",
        coaddr="10.2.2.1",
        id=ident,
    )
    decoded = decode_request(bytes(built))
    assert (int(decoded.flags), decoded.lifetime, decoded.identification) == (
        flags,
        lifetime,
        ident,
    )
    assert decoded.home_address == HOME_ADDRESS
    assert decoded.home_agent == HOME_AGENT
    assert decoded.care_of_address == FOREIGN_AGENT
    assert decoded.extensions == ()

    built_reply = MobileIP(type=3) / MobileIPRRP(
        code=flags, lifetime=lifetime, homeaddr="10.1.1.50", haaddr="10.1.1.1", id=ident
    )
    decoded_reply = decode_reply(bytes(built_reply))
    assert (decoded_reply.code, decoded_reply.lifetime, decoded_reply.identification) == (
        flags,
        lifetime,
        ident,
    )


# -- tshark --------------------------------------------------------------------------

TSHARK_FIELDS = [
    "mip.type",
    "mip.flags",
    "mip.life",  # not "mip.lifetime": checked with `tshark -G fields`
    "mip.homeaddr",
    "mip.haaddr",
    "mip.coa",
    "mip.ident",
    "mip.code",
    "mip.ext.type",
    "mip.ext.len",
    "mip.auth.spi",
    "mip.auth.auth",
    "mip.nai",
]

NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


def tshark_time(ident: int) -> str:
    """How tshark 4.0 shows an NTP-format Identification (era 0): UTC, with the
    fraction truncated to nanoseconds."""
    moment = NTP_EPOCH + timedelta(seconds=ident >> 32)
    nanoseconds = ((ident & 0xFFFF_FFFF) * 10**9) >> 32
    return f"{moment:%b} {moment.day:2d}, {moment.year} {moment:%H:%M:%S}.{nanoseconds:09d} UTC"


def expected_row(sample: Sample) -> list[str]:
    """The TSHARK_FIELDS row for a sample; fields a message lacks are empty and
    repeated fields are joined with commas."""
    message = sample.message
    extensions = sample.expected_extensions()
    authentication = [(t, d) for t, d in extensions if t in (MHAE, MFAE, FHAE)]
    if isinstance(message, RegistrationRequest):
        message_type, code = "1", ""
        flags, care_of_address = f"0x{int(message.flags):02x}", str(message.care_of_address)
    else:
        message_type, code = "3", str(message.code)
        flags, care_of_address = "", ""
    return [
        message_type,
        flags,
        str(message.lifetime),
        str(message.home_address),
        str(message.home_agent),
        care_of_address,
        tshark_time(message.identification),
        code,
        ",".join(str(t) for t, _ in extensions),
        ",".join(str(len(d)) for _, d in extensions),
        ",".join(f"0x{int.from_bytes(d[:4], 'big'):08x}" for _, d in authentication),
        ",".join(d[4:].hex() for _, d in authentication),
        ",".join(d.decode() for t, d in extensions if t == NAI),
    ]


def run_tshark(tshark: str, *arguments: str) -> str:
    # As root tshark warns on stderr; only stdout is the oracle's answer.
    completed = subprocess.run(
        [tshark, "-n", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout


def test_tshark_reads_the_same_fields(tmp_path: Path) -> None:
    """tshark's mip dissector reads every fixed field and every extension (type,
    length, SPI, authenticator, NAI) as we meant them, and finds nothing
    malformed (RFC 5944 §3.3, §3.4, §3.5.2-§3.5.4; RFC 2794)."""
    tshark = require_tool("tshark")
    capture = tmp_path / "registrations.pcap"
    wrpcap(str(capture), [datagram(sample) for sample in SAMPLES])

    arguments = ["-r", str(capture), "-T", "fields", "-E", "separator=|"]
    for name in TSHARK_FIELDS:
        arguments += ["-e", name]
    rows = [line.split("|") for line in run_tshark(tshark, *arguments).splitlines()]
    assert len(rows) == len(SAMPLES)
    for sample, row in zip(SAMPLES, rows, strict=True):
        assert dict(zip(TSHARK_FIELDS, row, strict=True)) == dict(
            zip(TSHARK_FIELDS, expected_row(sample), strict=True)
        ), sample.name

    verbose = run_tshark(tshark, "-r", str(capture), "-V")
    assert verbose.count("Mobile IP\n") == len(SAMPLES)
    assert "Malformed" not in verbose
    assert "Unknown Extension 200" in verbose


#: Inputs our decoder refuses, and whether tshark calls them malformed. Structural
#: faults must agree; the semantic ones (RFC 5944 §1.9, §3.3) are ours alone, since
#: a dissector shows what is there rather than judging it.
HEADER = struct.pack(
    "!BBHIIIQ", 1, 0x02, 600, 0x0A010132, 0x0A010101, 0x0A020201, identification(0)
)
REPLY_HEADER = struct.pack("!BBHIIQ", 3, 0, 600, 0x0A010132, 0x0A010101, identification(0))
MHAE_BYTES = bytes((MHAE, 20)) + struct.pack("!I", 0x100) + bytes(16)
REFUSED = [
    ("truncated-header", HEADER[:20], DecodeFault.TRUNCATED, True),
    ("truncated-reply-header", REPLY_HEADER[:15], DecodeFault.TRUNCATED, True),
    ("truncated-extension", HEADER + bytes((NAI, 15)) + b"mn1@", DecodeFault.TRUNCATED, True),
    ("truncated-reply-mhae", REPLY_HEADER + MHAE_BYTES[:-1], DecodeFault.TRUNCATED, True),
    ("single-trailing-byte", HEADER + MHAE_BYTES + b"\xc8", DecodeFault.TRUNCATED, True),
    ("auth-length-2", HEADER + bytes((MHAE, 2, 0, 0)), DecodeFault.BAD_EXTENSION_LENGTH, True),
    ("auth-length-0", HEADER + bytes((FHAE, 0)), DecodeFault.BAD_EXTENSION_LENGTH, True),
    (
        "reserved-bits",
        HEADER[:1] + b"\x05" + HEADER[2:] + MHAE_BYTES,
        DecodeFault.RESERVED_BITS_SET,
        False,
    ),
    (
        "unknown-99",
        HEADER + bytes((99, 1, 0)) + MHAE_BYTES,
        DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION,
        False,
    ),
]


def test_tshark_agrees_on_what_is_malformed(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    packets = []
    for _, data, fault, _ in REFUSED:
        decode = decode_request if data[0] == 1 else decode_reply
        with pytest.raises(DecodeError) as caught:
            decode(data)
        assert caught.value.fault is fault
        packets.append(
            IP(src=str(FOREIGN_AGENT), dst=str(HOME_AGENT))
            / UDP(sport=MOBILE_NODE_PORT, dport=MOBILE_IP_PORT)
            / Raw(data)
        )
    capture = tmp_path / "refused.pcap"
    wrpcap(str(capture), packets)
    output = run_tshark(
        tshark, "-r", str(capture), "-T", "fields", "-e", "frame.number", "-e", "_ws.malformed"
    )
    malformed = {}
    for line in output.splitlines():
        number, _, flag = line.partition("\t")
        malformed[int(number)] = flag != ""
    assert malformed == {
        index: tshark_says_malformed
        for index, (_, _, _, tshark_says_malformed) in enumerate(REFUSED, start=1)
    }
