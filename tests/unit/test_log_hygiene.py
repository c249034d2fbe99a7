"""No key in a log (issue 2, item 9; RFC 5944 §5.1 keys are the whole of an
SA's secret).

A proxy access point, a foreign agent and a home agent — the real sans-IO
engines, on virtual time — exchange good and bad traffic through a fake link:
registrations (HMAC-MD5 and RFC 2002 keyed-MD5 prefix+suffix SAs, timestamps
and nonces), renewals, deregistrations, expiries, and forged authenticators
(MHAE, FHAE, the reply's FHAE), wrong SPIs, replays, malformed and mutated
datagrams, bad ICMP. Every
event goes through the runtime's own event handler (``agent.runtime``, which
logs ``describe_event`` lines on ``proxymip.events``), and the ``proxymip`` and
``agent`` loggers are captured at DEBUG. No key, nor an HMAC pad derived from
one (RFC 2104 §2: key XOR ipad/opad), may appear in any line: as hex (any case,
any separator), raw, Python bytes repr, or base64, whole or any 8-byte run.
"""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest

from agent.config.model import AgentConfig
from agent.mobileip import replay
from agent.mobileip.advertisement import ALL_MOBILITY_AGENTS, ALL_SYSTEMS, encode_solicitation
from agent.mobileip.builder import build_request
from agent.mobileip.events import (
    AuthenticationFailed,
    BindingCreated,
    DatagramDropped,
    RegistrationDenied,
)
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import MOBILE_IP_PORT, ExtensionType, ReplyCode
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent
from agent.mobileip.registration import RegistrationReply, decode_reply, decode_request
from agent.mobileip.security import (
    Algorithm,
    ReplayMethod,
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
)
from agent.mobileip.subnet_map import SubnetMap
from agent.runtime import Agent, describe_event

NOW = 1_800_000_000.0

HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
FOREIGN_AGENT = IPv4Address("192.0.2.1")
FOREIGN_NETWORK = IPv4Network("192.0.2.0/24")
ACCESS_POINT = IPv4Address("192.0.2.50")
CLIENT = IPv4Address("10.1.2.3")
CLIENT_MAC = "02:00:00:00:00:01"
#: Mobile nodes that register themselves through the foreign agent.
NODE = IPv4Address("10.1.3.1")
OLD_NODE = IPv4Address("10.1.4.1")
#: A node whose SA uses nonces (RFC 5944 §5.7.2) instead of timestamps.
NONCE_NODE = IPv4Address("10.1.5.1")
NODE_PORT = 49152

# Distinct, recognisable keys: every SA of the scene has its own.
CLIENT_KEY = bytes.fromhex("c1a55e5c0ffee0ddba11ad0be5eed5a1")
NODE_KEY = bytes.fromhex("0d15ea5e5ca1ab1e0ddc0ffeedeadbea")
OLD_NODE_KEY = bytes.fromhex("a11ce0fb0b5ec12e7deadf00dcafe123") + b"\x00\xffOpen-Sesame!"
PEER_KEY = bytes.fromhex("feedfacecafebeef8badf00d0ddba115")
NONCE_NODE_KEY = b"nonce node key, ascii as key-ascii writes it"
#: Keys an attacker guessed: a forgery is built with them, and they must not
#: surface either (nothing may echo an authenticator's key, right or wrong).
FORGED_KEY = bytes.fromhex("bad0bad0bad0bad0bad0bad0bad0bad0")

CLIENT_SA = SecurityAssociation(0x1001, CLIENT_KEY)
NODE_SA = SecurityAssociation(0x2002, NODE_KEY)
OLD_NODE_SA = SecurityAssociation(0x3003, OLD_NODE_KEY, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX)
PEER_SA = SecurityAssociation(0x4004, PEER_KEY)
NONCE_NODE_SA = SecurityAssociation(0x5005, NONCE_NODE_KEY, replay_method=ReplayMethod.NONCES)
SECRETS = (CLIENT_KEY, NODE_KEY, OLD_NODE_KEY, PEER_KEY, NONCE_NODE_KEY, FORGED_KEY)


# -- what a leak looks like ------------------------------------------------------------------


def _hmac_pads(key: bytes) -> list[bytes]:
    block = key.ljust(64, b"\x00")
    return [bytes(b ^ 0x36 for b in block)[: len(key)], bytes(b ^ 0x5C for b in block)[: len(key)]]


def _forms(secret: bytes) -> Iterator[str]:
    """Every way ``secret`` could be written into a line of text."""
    for run in {secret[i : i + 8] for i in range(max(1, len(secret) - 7))} | {secret}:
        hexed = run.hex()
        yield hexed
        yield hexed.upper()
        for separator in (":", " ", "-"):
            yield run.hex(separator)
            yield run.hex(separator).upper()
        yield repr(run)[2:-1]
        yield run.decode("latin-1")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(secret).decode("ascii")
        yield text
        yield text.rstrip("=")


FORBIDDEN = sorted(
    {form for key in SECRETS for secret in (key, *_hmac_pads(key)) for form in _forms(secret)}
)


def leaks(text: str) -> list[str]:
    return [form for form in FORBIDDEN if form in text]


def test_the_leak_detector_finds_every_form() -> None:
    """The check below must be able to fail: each form of a key is caught."""
    key = PEER_KEY
    for line in (
        f"key {key.hex()}",
        f"key={key.hex(':').upper()}",
        f"auth {key!r}",
        f"secret {base64.b64encode(key).decode()}",
        f"raw {key.decode('latin-1')}",
        f"partial {key[4:12].hex()}",
        f"pad {_hmac_pads(key)[0].hex()}",
    ):
        assert leaks(line), line
    assert not leaks(describe_event("home-agent", DatagramDropped(HOME_AGENT, "truncated")))


# -- the scene: three engines on a fake link, events through the runtime's handler ---------


class Scene:
    def __init__(self) -> None:
        hosts = SecurityAssociationTable()
        hosts.add_range(IPv4Address("10.1.2.0"), IPv4Address("10.1.2.255"), CLIENT_SA)
        hosts.add(NODE, NODE_SA)
        hosts.add(OLD_NODE, OLD_NODE_SA)
        hosts.add(NONCE_NODE, NONCE_NODE_SA)
        ha_peers = SecurityAssociationTable()
        ha_peers.add(FOREIGN_AGENT, PEER_SA)
        fa_peers = SecurityAssociationTable()
        fa_peers.add(HOME_AGENT, PEER_SA)
        self.home_agent = HomeAgent(
            HomeAgentSettings(HOME_AGENT, home_network=HOME_NETWORK, max_lifetime=300),
            mobile_nodes=hosts, peers=ha_peers, rng=random.Random(1),
        )
        self.foreign_agent = ForeignAgent(
            ForeignAgentSettings(FOREIGN_AGENT, max_lifetime=600, advertisement_interval=10.0,
                                 prefix_length=24),
            home_agents=fa_peers, rng=random.Random(2), now=NOW,
        )
        proxy_hosts = SecurityAssociationTable()
        proxy_hosts.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, CLIENT_SA)
        self.proxy = ProxyAgent(
            ProxySettings(local_networks=(FOREIGN_NETWORK,),
                          foreign_agent=StaticForeignAgent(FOREIGN_AGENT)),
            subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}),
            host_associations=proxy_hosts, rng=random.Random(3),
        )
        # The runtime's per-role event handler: logs describe_event lines.
        runtime = Agent(config=AgentConfig(), clock=lambda: NOW)
        self.handlers: dict[str, Callable[[object], None]] = {
            role: runtime._event_handler(role)
            for role in ("home-agent", "foreign-agent", "proxy")
        }
        self.events: list[tuple[str, object]] = []
        self.in_flight: list[tuple[IPv4Address, int, Transmit]] = []
        self.node_replies: list[bytes] = []
        #: Every datagram that moved, for mutation later.
        self.seen: list[tuple[IPv4Address, int, Transmit]] = []

    def engines(self) -> dict[str, HomeAgent | ForeignAgent | ProxyAgent]:
        return {"home-agent": self.home_agent, "foreign-agent": self.foreign_agent,
                "proxy": self.proxy}

    def _collect(self) -> None:
        for source, port, engine in (
            (HOME_AGENT, MOBILE_IP_PORT, self.home_agent),
            (FOREIGN_AGENT, MOBILE_IP_PORT, self.foreign_agent),
            (ACCESS_POINT, MOBILE_IP_PORT, self.proxy),
        ):
            self.in_flight += [(source, port, t) for t in engine.datagrams_to_send()]
        for role, engine in self.engines().items():
            while (event := engine.next_event()) is not None:
                self.events.append((role, event))
                self.handlers[role](event)

    def deliver(self, source: IPv4Address, port: int, transmit: Transmit, now: float) -> None:
        destination = transmit.destination
        if transmit.channel is Channel.DISCOVERY:
            if destination in (ALL_SYSTEMS, ACCESS_POINT):
                self.proxy.receive_icmp(transmit.data, source, now)
            elif destination in (ALL_MOBILITY_AGENTS, FOREIGN_AGENT):
                self.foreign_agent.receive_icmp(transmit.data, source, now)
        elif destination == HOME_AGENT:
            self.home_agent.receive_datagram(transmit.data, source, port, now)
        elif destination == FOREIGN_AGENT:
            self.foreign_agent.receive_datagram(transmit.data, source, port, now)
        elif destination == ACCESS_POINT:
            self.proxy.receive_datagram(transmit.data, source, port, now)
        else:
            self.node_replies.append(transmit.data)  # a mobile node's own reply

    def run(self, now: float) -> None:
        for _ in range(1000):
            self._collect()
            if not self.in_flight:
                return
            batch, self.in_flight = self.in_flight, []
            for source, port, transmit in batch:
                self.seen.append((source, port, transmit))
                self.deliver(source, port, transmit, now)
        raise AssertionError("the link never went quiet")

    def send(self, data: bytes, source: IPv4Address, destination: IPv4Address, now: float,
             *, port: int = NODE_PORT) -> None:
        self.deliver(source, port, Transmit(data, destination, MOBILE_IP_PORT), now)
        self.run(now)

    def advance(self, until: float) -> None:
        while True:
            due = [(t, e) for e in self.engines().values() if (t := e.get_timer()) is not None]
            due = [(t, e) for t, e in due if t <= until]
            if not due:
                return
            when = min(t for t, _ in due)
            for t, engine in due:
                if t == when:
                    engine.handle_timer(when)
            self.run(when)


def node_request(sa: SecurityAssociation, home: IPv4Address, now: float, sequence: int, *,
                 lifetime: int = 120, key: bytes | None = None,
                 identification: int | None = None) -> bytes:
    signing = SecurityAssociation(sa.spi, key, algorithm=sa.algorithm) if key else sa
    if identification is None:
        identification = replay.ntp_identification(now, sequence)
    return build_request(home_address=home, home_agent=HOME_AGENT, care_of_address=FOREIGN_AGENT,
                         identification=identification,
                         lifetime=lifetime, sa=signing, nai="mn@example.net")


def drive(scene: Scene) -> None:
    """Good traffic, then every kind of bad traffic, then time passing."""
    now = NOW
    # Agent discovery and the proxy's client (HMAC-MD5 SA), relayed with an FHAE.
    scene.foreign_agent.receive_icmp(encode_solicitation(), ACCESS_POINT, now)
    scene.proxy.client_associated(CLIENT_MAC, now, address=CLIENT)
    scene.run(now)
    # Mobile nodes registering themselves: HMAC-MD5 and keyed-MD5 prefix+suffix.
    first = node_request(NODE_SA, NODE, now, 1)
    scene.send(first, NODE, FOREIGN_AGENT, now)
    scene.send(node_request(OLD_NODE_SA, OLD_NODE, now, 1), OLD_NODE, FOREIGN_AGENT, now)
    # Nonces (RFC 5944 §5.7.2): the first guess is answered 133 with the home
    # agent's nonce in the high 32 bits, the second request uses it.
    scene.send(node_request(NONCE_NODE_SA, NONCE_NODE, now, 1, identification=0x1234_0000_0001),
               NONCE_NODE, FOREIGN_AGENT, now)
    challenge = decode_reply(scene.node_replies[-1])
    assert challenge.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    nonce = replay.high32(challenge.identification)
    scene.send(node_request(NONCE_NODE_SA, NONCE_NODE, now, 2,
                            identification=(nonce << 32) | 0xABCD),
               NONCE_NODE, FOREIGN_AGENT, now)
    assert decode_reply(scene.node_replies[-1]).code == ReplyCode.ACCEPTED

    now += 1
    # Forged MHAE (right SPI, wrong key): 131 at the home agent.
    scene.send(node_request(NODE_SA, NODE, now, 2, key=FORGED_KEY), NODE, FOREIGN_AGENT, now)
    # Wrong SPI (no such SA for this node): 131, violation "bad SPI".
    wrong_spi = SecurityAssociation(0x9999, NODE_KEY)
    scene.send(node_request(wrong_spi, NODE, now, 3), NODE, FOREIGN_AGENT, now)
    # Replay of the first request: 133.
    scene.send(first, NODE, FOREIGN_AGENT, now)
    # A request straight to the home agent "from" the foreign agent, its FHAE
    # forged: 132.
    relayed = authenticate(node_request(NODE_SA, NODE, now, 4),
                           ExtensionType.FOREIGN_HOME_AUTHENTICATION,
                           SecurityAssociation(PEER_SA.spi, FORGED_KEY))
    scene.send(relayed, FOREIGN_AGENT, HOME_AGENT, now, port=MOBILE_IP_PORT)
    # A reply to the foreign agent whose FHAE is forged (68 to the node).
    # The relayed request is held back from the home agent, so the foreign
    # agent's pending entry is still there when the forged reply arrives.
    scene.deliver(NODE, NODE_PORT,
                  Transmit(node_request(NODE_SA, NODE, now, 5), FOREIGN_AGENT, MOBILE_IP_PORT), now)
    [relay] = [t for t in scene.foreign_agent.datagrams_to_send() if t.destination == HOME_AGENT]
    ident = decode_request(relay.data).identification
    forged_reply = RegistrationReply(0, 120, NODE, HOME_AGENT, ident).encode_header()
    forged_reply = authenticate(forged_reply, ExtensionType.MOBILE_HOME_AUTHENTICATION, NODE_SA)
    forged_reply = authenticate(forged_reply, ExtensionType.FOREIGN_HOME_AUTHENTICATION,
                                SecurityAssociation(PEER_SA.spi, FORGED_KEY))
    scene.send(forged_reply, HOME_AGENT, FOREIGN_AGENT, now, port=MOBILE_IP_PORT)
    # A forged reply to the proxy (MHAE with the wrong key).
    proxy_reply = RegistrationReply(0, 120, CLIENT, HOME_AGENT, ident).encode_header()
    proxy_reply = authenticate(proxy_reply, ExtensionType.MOBILE_HOME_AUTHENTICATION,
                               SecurityAssociation(CLIENT_SA.spi, FORGED_KEY))
    scene.send(proxy_reply, FOREIGN_AGENT, ACCESS_POINT, now, port=MOBILE_IP_PORT)

    # Malformed datagrams to every engine.
    good = node_request(NODE_SA, NODE, now, 6)
    malformed = [
        b"", b"\x01", good[:23], good[:-1], good + b"\x00",
        good[:24] + bytes((99, 2, 0, 0)) + good[24:],  # unknown 0-127 (RFC 5944 §1.9)
        good[:1] + bytes((good[1] | 0x05,)) + good[2:],  # reserved r/x bits
        bytes((3,)) + good[1:20], bytes((200,)) + good[1:],
        good + bytes(2000),  # oversized
    ]
    for data in malformed:
        for destination in (HOME_AGENT, FOREIGN_AGENT, ACCESS_POINT):
            scene.send(data, NODE, destination, now)
    # Bad ICMP to the foreign agent and the proxy.
    advertisement = scene.foreign_agent.advertisement().encode()
    for data in (encode_solicitation()[:7], encode_solicitation() + b"\x01",
                 advertisement[:-1], advertisement[:2] + b"\x00\x00" + advertisement[4:],
                 advertisement + bytes((24, 1, 0))):
        scene.foreign_agent.receive_icmp(data, NODE, now)
        scene.proxy.receive_icmp(data, FOREIGN_AGENT, now)
    scene.run(now)

    # Random mutations of every datagram that moved so far, to every engine.
    rng = random.Random(2026)
    for source, port, transmit in list(scene.seen):
        for _ in range(8):
            mutated = bytearray(transmit.data)
            for _ in range(rng.randint(1, 3)):
                if mutated and rng.random() < 0.6:
                    mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
                elif mutated:
                    del mutated[rng.randrange(len(mutated)):]
            data = bytes(mutated)
            scene.deliver(source, port, Transmit(data, transmit.destination, MOBILE_IP_PORT,
                                                 transmit.channel), now)
    scene.run(now)

    # Time passes: renewals, pending timeouts (78), expiries; the client leaves.
    scene.advance(now + 400)
    scene.proxy.client_disassociated(CLIENT_MAC, now + 400)
    scene.run(now + 400)
    scene.advance(now + 2000)


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``proxymip`` and ``agent`` logger trees, at DEBUG."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("proxymip", "agent")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_no_key_reaches_a_log_line(captured: list[logging.LogRecord]) -> None:
    scene = Scene()
    drive(scene)

    # The scene did what it claims: accepted and denied registrations of every
    # kind, authentication failures, drops, and log lines for all of it.
    kinds = {type(event) for _, event in scene.events}
    assert {BindingCreated, RegistrationDenied, AuthenticationFailed, DatagramDropped} <= kinds
    codes = {e.code for _, e in scene.events if isinstance(e, RegistrationDenied)}
    assert {
        ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION,
        ReplyCode.HA_FOREIGN_AGENT_FAILED_AUTHENTICATION,
        ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH,
    } <= codes, codes
    assert {role for role, _ in scene.events} == {"home-agent", "foreign-agent", "proxy"}
    counters = scene.home_agent.counters
    assert counters.mn_authentication_failure >= 2
    assert counters.fa_authentication_failure >= 1 and counters.id_mismatch >= 1
    assert counters.poorly_formed_request >= 1 and counters.datagrams_discarded >= 1
    assert scene.foreign_agent.counters.ha_authentication_failure >= 1
    assert scene.foreign_agent.counters.poorly_formed_requests >= 1
    assert len(scene.home_agent.violations.rows()) >= 2
    event_lines = [r for r in captured if r.name == "proxymip.events"]
    assert len(event_lines) == len(scene.events) > 50

    texts = []
    for record in captured:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    # The lines the runtime would write for each event, and the events' reprs.
    texts += [describe_event(role, event) for role, event in scene.events]
    texts += [repr(event) for _, event in scene.events]
    found = {text: leaks(text) for text in texts if leaks(text)}
    assert not found, found


def test_counters_and_state_shown_to_operators_carry_no_key() -> None:
    """What the runtime reports besides events (counters, violation log,
    visitor and binding lists, settings) is text an operator or a log sees."""
    scene = Scene()
    drive(scene)
    texts = []
    for engine in scene.engines().values():
        texts.append(repr(engine.counters))
        texts.append(repr(engine.settings))
    texts.append(repr(scene.home_agent.violations.rows()))
    texts.append(repr(scene.foreign_agent.visitors()))
    texts.append(repr(scene.proxy.visitors()))
    texts.append(repr(scene.home_agent.export_state()))
    texts.append(repr(scene.foreign_agent.export_state()))
    texts += [repr(sa) for sa in (CLIENT_SA, NODE_SA, OLD_NODE_SA, PEER_SA, NONCE_NODE_SA)]
    found = {text[:200]: leaks(text) for text in texts if leaks(text)}
    assert not found, found


def test_a_replayed_mobile_node_request_is_logged_by_address_and_spi_only(
    captured: list[logging.LogRecord],
) -> None:
    """The lines say who and which SA (RFC 2006 mipSecViolation: address, SPI),
    which is what an operator needs, and nothing of the key."""
    scene = Scene()
    request = node_request(NODE_SA, NODE, NOW, 1)
    scene.send(request, NODE, FOREIGN_AGENT, NOW)
    scene.send(request, NODE, FOREIGN_AGENT, NOW + 1)
    lines = [r.getMessage() for r in captured if r.name == "proxymip.events"]
    denied = [line for line in lines if "RegistrationDenied" in line and "code=133" in line]
    assert denied, lines
    assert all(not leaks(line) for line in lines)
    [violation] = [line for line in lines if "AuthenticationFailed" in line]
    assert f"peer={NODE}" in violation and f"spi={NODE_SA.spi}" in violation
    assert "reason=3" in violation  # mipSecViolationReason badIdentifier (RFC 2006)
