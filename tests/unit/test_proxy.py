"""The proxy (access point) engine, driven sans-IO on virtual time.

The access point registers visiting clients with their home agents through a
foreign agent, on their behalf (Cisco Aironet "Proxy Mobile IP", reference
mobileip.md §1.1; the seed text: "the access point performs a longest-match
lookup on its subnet map table and obtains the home agent address", then "uses
the security association information, the visiting client's IP address, and the
information that it learns from the foreign agent advertisements to form a
Mobile IP registration request on behalf of the visiting client").

Most tests join the proxy to a real ``ForeignAgent`` and ``HomeAgent`` through
a fake link (the h11 pair pattern of ``test_pair.py``): every ``Transmit`` is
delivered by destination address, round after round, until the link is quiet.
The home agent may run on a shifted clock to provoke RFC 5944 §5.7.1 replay
denials. Time is virtual: it starts at ``NOW`` and jumps to ``get_timer()``.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.mobileip import replay
from agent.mobileip.advertisement import (
    ALL_SYSTEMS,
    AgentAdvertisement,
    encode_solicitation,
    is_solicitation,
)
from agent.mobileip.events import (
    AuthenticationFailed,
    BindingCreated,
    BindingDeleted,
    BindingRefreshed,
    ClientDeregistered,
    ClientNotProxied,
    ClientRegistered,
    ClientRegistrationDenied,
    ClientRegistrationFailed,
    DatagramDropped,
    ForeignAgentRebooted,
    NotProxiedReason,
    RemovalReason,
    ViolationReason,
)
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import (
    MOBILE_IP_PORT,
    AdvertisementFlag,
    ExtensionType,
    ReplyCode,
    RequestFlag,
)
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.proxy import (
    ALL_MOBILITY_AGENTS,
    ProxyAgent,
    ProxySettings,
    StaticForeignAgent,
    VisitorState,
)
from agent.mobileip.registration import RegistrationReply, RegistrationRequest, decode_request
from agent.mobileip.security import (
    Algorithm,
    ReplayMethod,
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
)
from agent.mobileip.subnet_map import SubnetMap, SubnetMapEntry

NOW = 1_800_000_000.0

HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
OTHER_HOME_AGENT = IPv4Address("10.9.1.1")
FOREIGN_AGENT = IPv4Address("192.0.2.1")
SECOND_FOREIGN_AGENT = IPv4Address("192.0.2.2")
CARE_OF_ADDRESS = IPv4Address("192.0.2.100")
FOREIGN_NETWORK = IPv4Network("192.0.2.0/24")
ACCESS_POINT = IPv4Address("192.0.2.50")
HOME_ACCESS_POINT = IPv4Address("10.1.0.50")
#: The proxy's registration socket (the adapter binds 434 by default).
ACCESS_POINT_PORT = MOBILE_IP_PORT

MAC = "00:11:22:33:44:55"
CLIENT = IPv4Address("10.1.2.3")
SECOND_MAC = "00:11:22:33:44:66"
SECOND_CLIENT = IPv4Address("10.1.2.4")

CLIENT_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
CLIENT_SA = SecurityAssociation(spi=0x1001, key=CLIENT_KEY)
FOREIGN_HOME_KEY = bytes.fromhex("5e4d3c2b1a0918273645546372819aab")

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
FOREIGN_AGENT_FLAGS = AdvertisementFlag.FOREIGN_AGENT | AdvertisementFlag.REGISTRATION_REQUIRED

STATIC = ProxySettings(
    local_networks=(FOREIGN_NETWORK,), foreign_agent=StaticForeignAgent(FOREIGN_AGENT)
)
DISCOVERING = ProxySettings(local_networks=(FOREIGN_NETWORK,))


# -- plumbing -----------------------------------------------------------------------------


def host_table(sa: SecurityAssociation | None = CLIENT_SA) -> SecurityAssociationTable:
    """One SA for the whole home network, as ``ip proxy-mobile secure host <lo> <hi>``
    configures it (reference §1.2)."""
    table = SecurityAssociationTable()
    if sa is not None:
        table.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, sa)
    return table


def make_proxy(
    settings: ProxySettings = STATIC,
    *,
    subnet_map: SubnetMap | None = None,
    sa: SecurityAssociation | None = CLIENT_SA,
) -> ProxyAgent:
    return ProxyAgent(
        settings,
        subnet_map=subnet_map if subnet_map is not None else SubnetMap({HOME_NETWORK: HOME_AGENT}),
        host_associations=host_table(sa),
        rng=random.Random(7),
    )


def drain(engine: ProxyAgent | HomeAgent | ForeignAgent) -> list[object]:
    events: list[object] = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    return events


def registration_requests(transmits: list[Transmit]) -> list[RegistrationRequest]:
    return [decode_request(t.data) for t in transmits if t.channel is Channel.REGISTRATION]


def only_request(proxy: ProxyAgent) -> tuple[Transmit, RegistrationRequest]:
    [transmit] = proxy.datagrams_to_send()
    assert transmit.channel is Channel.REGISTRATION
    return transmit, decode_request(transmit.data)


def reply_to(
    request: RegistrationRequest,
    *,
    code: int = ReplyCode.ACCEPTED,
    lifetime: int | None = None,
    sa: SecurityAssociation | None = CLIENT_SA,
    home_address: IPv4Address | None = None,
    identification: int | None = None,
) -> bytes:
    """A reply as a home agent builds it (RFC 5944 §3.8.3.1): fixed part, MHAE."""
    data = RegistrationReply(
        code,
        request.lifetime if lifetime is None else lifetime,
        home_address or request.home_address,
        request.home_agent,
        request.identification if identification is None else identification,
    ).encode_header()
    return authenticate(data, MHAE, sa) if sa is not None else data


def advertisement(
    sequence: int = 0,
    *,
    registration_lifetime: int = 300,
    flags: AdvertisementFlag = FOREIGN_AGENT_FLAGS,
    care_of: IPv4Address = CARE_OF_ADDRESS,
    lifetime: int = 1800,
) -> bytes:
    return AgentAdvertisement(
        sequence=sequence,
        registration_lifetime=registration_lifetime,
        flags=flags,
        care_of_addresses=(care_of,),
        advertisement_lifetime=lifetime,
    ).encode()


def run_timers(proxy: ProxyAgent, until: float) -> list[tuple[float, Transmit]]:
    """Fire the proxy's timer at each deadline up to ``until`` (nobody answers)."""
    sent: list[tuple[float, Transmit]] = []
    previous = -1.0
    while (deadline := proxy.get_timer()) is not None and deadline <= until:
        assert deadline > previous, "the timer did not move forward: busy loop"
        previous = deadline
        proxy.handle_timer(deadline)
        sent += [(deadline, t) for t in proxy.datagrams_to_send()]
    return sent


class Link:
    """Delivers datagrams between the proxies, foreign agents and home agents by
    destination address (h11's pair helper, as in ``test_pair.py``).

    Home agents may sit on several addresses and run ``home_agent_clock``
    seconds ahead of everyone else. Datagrams to an address in ``silent`` are
    lost. ``log`` keeps (source, transmit) of everything that moved.
    """

    def __init__(
        self,
        *,
        proxies: dict[IPv4Address, ProxyAgent],
        foreign_agents: dict[IPv4Address, ForeignAgent],
        home_agents: dict[IPv4Address, HomeAgent],
        home_agent_clock: float = 0.0,
    ) -> None:
        self.proxies = proxies
        self.foreign_agents = foreign_agents
        self.home_agents = home_agents
        self.home_agent_clock = home_agent_clock
        self.silent: set[IPv4Address] = set()
        self.in_flight: list[tuple[IPv4Address, int, Transmit]] = []
        self.log: list[tuple[IPv4Address, Transmit]] = []
        self.on_step: Callable[[], None] | None = None
        #: The instant of every timer fired by :meth:`advance`, in order.
        self.fired: list[float] = []
        #: When each entry of ``log`` moved.
        self.log_times: list[float] = []

    def _unique_home_agents(self) -> list[HomeAgent]:
        return list({id(h): h for h in self.home_agents.values()}.values())

    def _collect(self) -> None:
        for address, proxy in self.proxies.items():
            self.in_flight += [(address, ACCESS_POINT_PORT, t) for t in proxy.datagrams_to_send()]
        for address, foreign_agent in self.foreign_agents.items():
            self.in_flight += [
                (address, MOBILE_IP_PORT, t) for t in foreign_agent.datagrams_to_send()
            ]
        for home_agent in self._unique_home_agents():
            source = home_agent.settings.address
            self.in_flight += [(source, MOBILE_IP_PORT, t) for t in home_agent.datagrams_to_send()]

    def _deliver(self, source: IPv4Address, port: int, transmit: Transmit, now: float) -> None:
        destination = transmit.destination
        if destination in self.silent:
            return
        if transmit.channel is Channel.DISCOVERY:
            if destination == ALL_MOBILITY_AGENTS:
                for foreign_agent in self.foreign_agents.values():
                    foreign_agent.receive_icmp(transmit.data, source, now)
            elif destination == ALL_SYSTEMS:
                for proxy in self.proxies.values():
                    proxy.receive_icmp(transmit.data, source, now)
            else:
                self.proxies[destination].receive_icmp(transmit.data, source, now)
        elif destination in self.home_agents:
            self.home_agents[destination].receive_datagram(
                transmit.data, source, port, now + self.home_agent_clock
            )
        elif destination in self.foreign_agents:
            self.foreign_agents[destination].receive_datagram(transmit.data, source, port, now)
        elif destination in self.proxies:
            assert transmit.port == ACCESS_POINT_PORT
            self.proxies[destination].receive_datagram(transmit.data, source, port, now)
        else:
            raise AssertionError(f"nobody at {destination}")

    def step(self, now: float) -> int:
        self._collect()
        batch, self.in_flight = self.in_flight, []
        for source, port, transmit in batch:
            self.log.append((source, transmit))
            self.log_times.append(now)
            self._deliver(source, port, transmit, now)
        if self.on_step is not None:
            self.on_step()
        return len(batch)

    def run(self, now: float, *, rounds: int = 1000) -> None:
        for _ in range(rounds):
            if self.step(now) == 0:
                self._collect()
                if not self.in_flight:
                    return
        raise AssertionError("the link never went quiet")

    def advance(self, until: float) -> None:
        """Fire every engine's timers due up to ``until``, in deadline order."""
        while True:
            due: list[tuple[float, int, Callable[[float], None]]] = []
            for index, proxy in enumerate(self.proxies.values()):
                if (t := proxy.get_timer()) is not None:
                    due.append((t, index, proxy.handle_timer))
            for index, foreign_agent in enumerate(self.foreign_agents.values(), 100):
                if (t := foreign_agent.get_timer()) is not None:
                    due.append((t, index, foreign_agent.handle_timer))
            for index, home_agent in enumerate(self._unique_home_agents(), 200):
                if (t := home_agent.get_timer()) is not None:
                    # The home agent's deadlines are on its own (shifted) clock.
                    due.append(
                        (t - self.home_agent_clock, index, self._home_agent_timer(home_agent))
                    )
            due = [d for d in due if d[0] <= until]
            if not due:
                return
            when, _, fire = min(due, key=lambda d: (d[0], d[1]))
            self.fired.append(when)
            fire(when)
            self.run(when)

    def _home_agent_timer(self, home_agent: HomeAgent) -> Callable[[float], None]:
        def fire(now: float) -> None:
            home_agent.handle_timer(now + self.home_agent_clock)

        return fire

    def sent_by(self, source: IPv4Address) -> list[Transmit]:
        return [t for s, t in self.log if s == source]

    def requests_from(self, source: IPv4Address) -> list[RegistrationRequest]:
        return registration_requests(self.sent_by(source))


@dataclass
class World:
    proxy: ProxyAgent
    foreign_agent: ForeignAgent
    home_agent: HomeAgent
    link: Link

    def proxy_requests(self) -> list[RegistrationRequest]:
        return self.link.requests_from(ACCESS_POINT)


def make_foreign_agent(settings: ForeignAgentSettings) -> ForeignAgent:
    home_agents = SecurityAssociationTable()
    home_agents.add(HOME_AGENT, SecurityAssociation(spi=2000, key=FOREIGN_HOME_KEY))
    return ForeignAgent(settings, home_agents=home_agents, rng=random.Random(2), now=NOW)


def make_home_agent(
    settings: HomeAgentSettings | None = None, *, sa: SecurityAssociation = CLIENT_SA
) -> HomeAgent:
    peers = SecurityAssociationTable()
    peers.add(FOREIGN_AGENT, SecurityAssociation(spi=2000, key=FOREIGN_HOME_KEY))
    return HomeAgent(
        settings or HomeAgentSettings(HOME_AGENT, home_network=HOME_NETWORK),
        mobile_nodes=host_table(sa),
        peers=peers,
        rng=random.Random(1),
    )


def make_world(
    settings: ProxySettings = STATIC,
    *,
    proxy_sa: SecurityAssociation = CLIENT_SA,
    home_agent_sa: SecurityAssociation | None = None,
    home_agent_settings: HomeAgentSettings | None = None,
    foreign_agent_settings: ForeignAgentSettings | None = None,
    home_agent_clock: float = 0.0,
    subnet_map: SubnetMap | None = None,
) -> World:
    proxy = make_proxy(settings, subnet_map=subnet_map, sa=proxy_sa)
    foreign_agent = make_foreign_agent(
        foreign_agent_settings
        or ForeignAgentSettings(FOREIGN_AGENT, max_lifetime=600, advertisement_interval=0.0)
    )
    home_agent = make_home_agent(home_agent_settings, sa=home_agent_sa or proxy_sa)
    link = Link(
        proxies={ACCESS_POINT: proxy},
        foreign_agents={FOREIGN_AGENT: foreign_agent},
        home_agents={HOME_AGENT: home_agent},
        home_agent_clock=home_agent_clock,
    )
    return World(proxy, foreign_agent, home_agent, link)


def register(world: World, mac: str = MAC, address: IPv4Address = CLIENT, now: float = NOW) -> None:
    world.proxy.client_associated(mac, now, address=address)
    world.link.run(now)
    visitor = world.proxy.visitor(mac)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED


def expected_authenticator(raw: bytes, offset: int, sa: SecurityAssociation) -> bytes:
    """The MHAE authenticator computed here, independently of ``security.py``
    (RFC 5944 §3.5.1: everything before the authenticator; §5.1 algorithms)."""
    covered = raw[: offset + 6]
    if sa.algorithm is Algorithm.HMAC_MD5:
        return hmac.new(sa.key, covered, hashlib.md5).digest()
    return hashlib.md5(sa.key + covered + sa.key).digest()


# -- clients the proxy leaves alone ------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "subnet_map", "sa", "interface", "state", "counter", "reason"),
    [
        # Cisco: "the access point determines that the client is visiting from
        # another network" -- a client of one of our own networks is at home.
        (
            replace(STATIC, local_networks=(FOREIGN_NETWORK, HOME_NETWORK)),
            SubnetMap(),
            CLIENT_SA,
            None,
            VisitorState.AT_HOME,
            "not_proxied_at_home",
            NotProxiedReason.AT_HOME,
        ),
        # No subnet map entry: the longest-match lookup finds no home agent.
        (
            STATIC,
            SubnetMap({IPv4Network("10.9.0.0/16"): OTHER_HOME_AGENT}),
            CLIENT_SA,
            None,
            VisitorState.NO_HOME_AGENT,
            "not_proxied_no_home_agent",
            NotProxiedReason.NO_HOME_AGENT,
        ),
        # "The access point is configured with the mobility security association
        # of all potential visiting clients": without one, no MHAE (RFC 5944 §3.5.2).
        (
            STATIC,
            None,
            None,
            None,
            VisitorState.NO_SECURITY_ASSOCIATION,
            "not_proxied_no_security_association",
            NotProxiedReason.NO_SECURITY_ASSOCIATION,
        ),
        # Proxy Mobile IP is enabled per SSID (reference §1.1).
        (
            replace(STATIC, interfaces=frozenset({"ssid-guest"})),
            None,
            CLIENT_SA,
            "ssid-corp",
            VisitorState.NOT_ENABLED,
            "not_proxied_interface",
            NotProxiedReason.INTERFACE_NOT_ENABLED,
        ),
    ],
    ids=["at-home", "no-home-agent", "no-security-association", "not-enabled"],
)
def test_clients_not_proxied(
    settings: ProxySettings,
    subnet_map: SubnetMap | None,
    sa: SecurityAssociation | None,
    interface: str | None,
    state: VisitorState,
    counter: str,
    reason: NotProxiedReason,
) -> None:
    """A client the proxy will not register: the state says why, one counter
    moves, one ClientNotProxied event carries the reason, nothing is sent and
    no timer is armed."""
    proxy = make_proxy(settings, subnet_map=subnet_map, sa=sa)
    proxy.client_associated(MAC.upper(), NOW, address=CLIENT, interface=interface)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.mac == MAC  # MACs are kept lower-case
    assert visitor.state is state
    counters = proxy.counters.as_dict()
    assert counters.pop(counter) == 1
    assert counters.pop("associations") == 1
    assert set(counters.values()) == {0}
    assert drain(proxy) == [ClientNotProxied(MAC, CLIENT, reason)]
    assert proxy.datagrams_to_send() == []
    assert proxy.get_timer() is None
    assert proxy.visitor_by_home_address(CLIENT) is None
    assert proxy.registered_count == 0


def test_enabled_interface_is_proxied_and_address_may_come_later() -> None:
    """On an enabled SSID the client is proxied. Its address is learnt from its
    first packet (``client_address_learned``); until then it is only associated."""
    proxy = make_proxy(replace(STATIC, interfaces=frozenset({"ssid-corp"})))
    proxy.client_associated(MAC, NOW, interface="ssid-corp")
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.ASSOCIATED
    assert proxy.datagrams_to_send() == [] and proxy.get_timer() is None
    proxy.client_address_learned(MAC, CLIENT, NOW + 2)
    assert visitor.state is VisitorState.PENDING
    _, request = only_request(proxy)
    assert request.home_address == CLIENT
    assert proxy.get_timer() == NOW + 2 + STATIC.retransmit_initial



def test_a_station_moving_from_a_disabled_to_an_enabled_interface_is_proxied() -> None:
    """A station on the guest SSID (proxy Mobile IP not enabled) associates
    again, same MAC and address, on an enabled one: it is proxied at once,
    not left "not enabled" until the next configuration change. Found by the
    life-cycle driver (tests/unit/test_visitor_lifecycle.py, seed 14795)."""
    proxy = make_proxy(replace(STATIC, interfaces=frozenset({"ssid-corp"})))
    proxy.client_associated(MAC, NOW, address=CLIENT, interface="ssid-guest")
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NOT_ENABLED
    assert proxy.datagrams_to_send() == []
    proxy.client_associated(MAC, NOW + 5, address=CLIENT, interface="ssid-corp")
    assert visitor.state is VisitorState.PENDING
    _, request = only_request(proxy)
    assert request.home_address == CLIENT
    assert proxy.counters.lifecycle_errors == 0

# -- the subnet map ----------------------------------------------------------------------


def test_longest_prefix_match_picks_the_more_specific_home_agent() -> None:
    """Cisco: "performs a longest-match lookup on its subnet map table and obtains
    the home agent address": 10.0.0.0/8 -> HA A, 10.1.0.0/16 -> HA B. Both
    clients register, each with its own home agent."""
    wide, narrow = IPv4Network("10.0.0.0/8"), IPv4Network("10.1.0.0/16")
    subnet_map = SubnetMap({wide: OTHER_HOME_AGENT, narrow: HOME_AGENT})
    assert subnet_map.lookup(CLIENT) == SubnetMapEntry(narrow, HOME_AGENT)
    assert subnet_map.lookup(IPv4Address("10.200.0.1")) == SubnetMapEntry(wide, OTHER_HOME_AGENT)
    assert subnet_map.lookup(IPv4Address("172.16.0.1")) is None

    world = make_world(subnet_map=subnet_map)
    proxy = world.proxy
    other_table = SecurityAssociationTable()
    other_table.add_range(IPv4Address("10.200.0.0"), IPv4Address("10.200.255.255"), CLIENT_SA)
    proxy.host_associations.add_range(
        IPv4Address("10.200.0.0"), IPv4Address("10.200.255.255"), CLIENT_SA
    )
    other_home_agent = HomeAgent(
        HomeAgentSettings(OTHER_HOME_AGENT), mobile_nodes=other_table, rng=random.Random(3)
    )
    world.link.home_agents[OTHER_HOME_AGENT] = other_home_agent

    far_client = IPv4Address("10.200.0.1")
    proxy.client_associated(MAC, NOW, address=CLIENT)
    proxy.client_associated(SECOND_MAC, NOW, address=far_client)
    world.link.run(NOW)
    assert [(r.home_address, r.home_agent) for r in world.proxy_requests()] == [
        (CLIENT, HOME_AGENT),
        (far_client, OTHER_HOME_AGENT),
    ]
    assert [b.home_address for b in world.home_agent.bindings()] == [CLIENT]
    assert [b.home_address for b in other_home_agent.bindings()] == [far_client]
    assert proxy.registered_count == 2

    # Without the /16 the /8 covers the client.
    subnet_map.remove(narrow)
    assert subnet_map.lookup(CLIENT) == SubnetMapEntry(wide, OTHER_HOME_AGENT)
    assert subnet_map.entries() == [SubnetMapEntry(wide, OTHER_HOME_AGENT)]


# -- registration ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.value)
@pytest.mark.parametrize("discovery", ["static", "advertisement"])
def test_registration_through_foreign_and_home_agent(algorithm: Algorithm, discovery: str) -> None:
    """The proxy forms the client's RRQ (RFC 5944 §3.3, §3.6.1): home address
    from the client, home agent from the subnet map, care-of address from the
    static foreign agent or from its advertisement (§2.1.1), Lifetime not above
    what the foreign agent allows (§3.6.1.2), an NTP-timestamp Identification
    (§5.7.1), and exactly one MHAE last, with the client's SPI and the SA's
    algorithm: HMAC-MD5 or RFC 2002 keyed MD5 prefix+suffix, which Aironet APs
    use (§5.1, reference §1.1). The foreign agent relays it, the home agent
    binds, the reply comes back, and both agents agree on the registration."""
    sa = SecurityAssociation(spi=0x1001, key=CLIENT_KEY, algorithm=algorithm)
    if discovery == "static":
        settings = replace(
            STATIC, foreign_agent=StaticForeignAgent(FOREIGN_AGENT, max_lifetime=300)
        )
        care_of = FOREIGN_AGENT
    else:
        settings = DISCOVERING
        care_of = CARE_OF_ADDRESS
    world = make_world(
        settings,
        proxy_sa=sa,
        foreign_agent_settings=ForeignAgentSettings(
            FOREIGN_AGENT,
            care_of_addresses=(care_of,),
            max_lifetime=300,
            advertisement_interval=0.0,
        ),
    )
    proxy = world.proxy
    proxy.client_associated(MAC, NOW, address=CLIENT)
    if discovery == "advertisement":
        [solicitation] = proxy.datagrams_to_send()
        assert solicitation.channel is Channel.DISCOVERY
        assert proxy.visitor(MAC).state is VisitorState.WAITING_FOR_AGENT  # type: ignore[union-attr]
        proxy.receive_icmp(
            advertisement(registration_lifetime=300, care_of=care_of), FOREIGN_AGENT, NOW
        )

    transmit, request = only_request(proxy)
    assert (transmit.destination, transmit.port) == (FOREIGN_AGENT, MOBILE_IP_PORT)
    assert request.home_address == CLIENT
    assert request.home_agent == HOME_AGENT
    assert request.care_of_address == care_of
    assert request.lifetime == 300 == min(settings.lifetime, 300)
    assert request.flags == RequestFlag(0)
    assert abs(replay.ntp_seconds(request.identification) - NOW) < 1.0
    [mhae] = request.extensions_of(MHAE)
    assert request.extensions[-1] == mhae
    assert mhae.spi == 0x1001
    assert mhae.authenticator == expected_authenticator(transmit.data, mhae.offset, sa)
    other = replace(
        sa,
        algorithm=Algorithm.HMAC_MD5
        if algorithm is Algorithm.KEYED_MD5_PREFIX_SUFFIX
        else Algorithm.KEYED_MD5_PREFIX_SUFFIX,
    )
    assert mhae.authenticator != expected_authenticator(transmit.data, mhae.offset, other)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.PENDING

    world.link.in_flight.append((ACCESS_POINT, ACCESS_POINT_PORT, transmit))
    world.link.run(NOW)
    assert visitor.state is VisitorState.REGISTERED
    assert visitor.lifetime_granted == 300
    assert (visitor.registered_at, visitor.expires_at) == (NOW, NOW + 300)
    assert visitor.last_code == ReplyCode.ACCEPTED
    assert (visitor.foreign_agent, visitor.care_of_address) == (FOREIGN_AGENT, care_of)
    assert drain(proxy) == [ClientRegistered(MAC, CLIENT, HOME_AGENT, care_of, 300)]
    assert proxy.registered_count == 1
    assert proxy.visitor_by_home_address(CLIENT) is visitor

    [binding] = world.home_agent.bindings()
    [fa_visitor] = world.foreign_agent.visitors()
    assert (binding.home_address, binding.care_of_address) == (CLIENT, care_of)
    assert (fa_visitor.home_address, fa_visitor.home_agent) == (CLIENT, HOME_AGENT)
    assert fa_visitor.care_of_address == care_of
    assert (fa_visitor.source_address, fa_visitor.source_port) == (ACCESS_POINT, ACCESS_POINT_PORT)
    assert binding.identification == fa_visitor.identification == request.identification
    assert binding.lifetime == fa_visitor.lifetime == visitor.lifetime_granted
    assert binding.expires_at == fa_visitor.expires_at == visitor.expires_at
    assert drain(world.home_agent) == [BindingCreated(CLIENT, care_of, 300, FOREIGN_AGENT)]

    c = proxy.counters
    assert (c.requests_sent, c.replies_received, c.accepted) == (1, 1, 1)
    assert c.retransmissions == c.bad_replies == c.unmatched_replies == 0
    # The next deadline is the re-registration, 30 s before the lifetime ends.
    assert proxy.get_timer() == NOW + 300 - 30


def test_home_agent_may_shorten_the_lifetime() -> None:
    """RFC 5944 §3.8.2.2: the home agent may grant less than asked; the proxy
    keeps what was granted and re-registers against it."""
    world = make_world(home_agent_settings=HomeAgentSettings(HOME_AGENT, max_lifetime=120))
    register(world)
    visitor = world.proxy.visitor(MAC)
    assert visitor is not None
    assert visitor.lifetime_requested == 600 and visitor.lifetime_granted == 120
    assert world.proxy.get_timer() == NOW + 120 - 30


# -- retransmission (RFC 5944 §3.6.3) ----------------------------------------------------


def test_retransmission_doubles_with_fresh_identifications_then_fails() -> None:
    """Nobody answers. RFC 5944 §3.6.3: the first retransmission after
    retransmit_initial (at least 1 s), each period double the last (capped at
    retransmit_max), and with timestamps a new Identification every time
    (§5.7: it must increase). After max_attempts the registration has failed;
    the next try waits retry_backoff, doubling up to retry_backoff_max."""
    settings = replace(STATIC, retransmit_initial=1.0, retransmit_max=16.0, max_attempts=8)
    proxy = make_proxy(settings)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    sent = [(NOW, t) for t in proxy.datagrams_to_send()]
    visitor = proxy.visitor(MAC)
    assert visitor is not None

    fail_at = NOW + 79
    sent += run_timers(proxy, fail_at - 0.001)
    times = [when - NOW for when, _ in sent]
    assert times == [0, 1, 3, 7, 15, 31, 47, 63]
    assert [b - a for a, b in pairwise(times)] == [1, 2, 4, 8, 16, 16, 16]
    requests = registration_requests([t for _, t in sent])
    identifications = [r.identification for r in requests]
    assert identifications == sorted(set(identifications))  # all new, increasing
    for when, request in zip(times, requests):
        assert abs(replay.ntp_seconds(request.identification) - (NOW + when)) < 1.0
        assert request.lifetime == 600
    assert visitor.state is VisitorState.PENDING
    assert proxy.get_timer() == fail_at
    assert (proxy.counters.requests_sent, proxy.counters.retransmissions) == (8, 7)

    proxy.handle_timer(fail_at)
    assert proxy.datagrams_to_send() == []
    assert visitor.state is VisitorState.FAILED
    assert proxy.counters.registration_failures == 1
    assert drain(proxy) == [ClientRegistrationFailed(MAC, CLIENT, "no reply")]

    # Backoff: retry after 60 s; each failed round doubles the wait up to 600 s.
    waits = []
    last_failure = fail_at
    for _ in range(6):
        retry_at = proxy.get_timer()
        assert retry_at is not None
        waits.append(retry_at - last_failure)
        assert [when for when, _ in run_timers(proxy, retry_at)] == [retry_at]
        assert visitor.state is VisitorState.PENDING and visitor.attempts == 1
        run_timers(proxy, retry_at + 79 - 0.001)
        last_failure = retry_at + 79
        proxy.handle_timer(last_failure)
        assert visitor.state is VisitorState.FAILED
    assert waits == [60, 120, 240, 480, 600, 600]
    assert proxy.counters.registration_failures == 7


def test_silent_foreign_agent_for_an_hour_costs_a_bounded_number_of_requests() -> None:
    """No busy loop: against a foreign agent that never answers, one client costs
    rounds of 5 requests (0, 1, 3, 7, 15 s; failure at 31 s) separated by 60,
    120, 240, 480, 600, 600 ... s. In one hour that is 9 rounds, 45 requests,
    never two within 1 s (RFC 5944 §3.6.3)."""
    proxy = make_proxy()
    proxy.client_associated(MAC, NOW, address=CLIENT)
    sent = [(NOW, t) for t in proxy.datagrams_to_send()]
    sent += run_timers(proxy, NOW + 3600)
    times = [when for when, _ in sent]
    assert len(times) == 45
    assert min(b - a for a, b in pairwise(times)) >= 1.0
    starts = [
        t - NOW
        for t, previous in zip(times, [None, *times])
        if previous is None or t - previous > 16
    ]
    assert starts == [0, 91, 242, 513, 1024, 1655, 2286, 2917, 3548]
    assert proxy.counters.registration_failures == 9
    assert all(t.channel is Channel.REGISTRATION for _, t in sent)


# -- re-registration ---------------------------------------------------------------------


@pytest.mark.parametrize(("lifetime", "renew_after"), [(600, 570), (40, 20)])
def test_reregistration_before_the_lifetime_ends(lifetime: int, renew_after: float) -> None:
    """Cisco: "The access point reregisters on behalf of the visiting client
    before its registration lifetime expires", at expires - min(margin,
    lifetime / 2). The home agent refreshes its binding (RFC 5944 §3.8.2.2),
    the foreign agent its visitor entry."""
    world = make_world(replace(STATIC, lifetime=lifetime))
    register(world)
    proxy = world.proxy
    drain(proxy), drain(world.home_agent)
    assert proxy.get_timer() == NOW + renew_after
    world.link.advance(NOW + renew_after)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    assert proxy.counters.reregistrations == 1
    assert proxy.counters.accepted == 2
    assert visitor.expires_at == NOW + renew_after + lifetime
    assert drain(world.home_agent) == [BindingRefreshed(CLIENT, FOREIGN_AGENT, lifetime)]
    assert drain(proxy) == [ClientRegistered(MAC, CLIENT, HOME_AGENT, FOREIGN_AGENT, lifetime)]
    first, second = world.proxy_requests()
    assert second.identification > first.identification
    assert world.foreign_agent.visitor(CLIENT).expires_at == visitor.expires_at  # type: ignore[union-attr]
    assert proxy.get_timer() == NOW + 2 * renew_after
    # A whole day later the client is still registered, renewed every period.
    world.link.advance(NOW + 86_400)
    assert visitor.state is VisitorState.REGISTERED
    assert proxy.counters.reregistrations == int(86_400 // renew_after)
    assert len(world.home_agent.bindings()) == 1


# -- denials the proxy recovers from ------------------------------------------------------


def test_lifetime_too_long_is_retried_at_the_foreign_agents_maximum() -> None:
    """RFC 5944 §3.7.2.3: the foreign agent denies 69 with its maximum in the
    Lifetime field; the proxy asks again at once within that limit (§3.6.2.2)
    and is accepted."""
    world = make_world(
        replace(STATIC, lifetime=900),
        foreign_agent_settings=ForeignAgentSettings(
            FOREIGN_AGENT, max_lifetime=300, advertisement_interval=0.0
        ),
    )
    register(world)
    first, second = world.proxy_requests()
    assert (first.lifetime, second.lifetime) == (900, 300)
    assert second.identification > first.identification
    visitor = world.proxy.visitor(MAC)
    assert visitor is not None and visitor.lifetime_granted == 300
    c = world.proxy.counters
    assert (c.denied_by_foreign_agent, c.denied_by_home_agent, c.accepted) == (1, 0, 1)
    assert world.foreign_agent.counters.reg_lifetime_too_long == 1
    assert drain(world.proxy) == [ClientRegistered(MAC, CLIENT, HOME_AGENT, FOREIGN_AGENT, 300)]


def test_lifetime_too_long_without_a_smaller_limit_is_a_denial() -> None:
    """A 69 whose Lifetime does not lower what was asked gives the proxy nothing
    to retry with: asking again at once would loop as fast as the foreign agent
    answers (RFC 5944 §3.6.1: no more than one request a second). It is a
    denial, retried after the backoff."""
    proxy = make_proxy(replace(STATIC, lifetime=600))
    proxy.client_associated(MAC, NOW, address=CLIENT)
    _, request = only_request(proxy)
    proxy.receive_datagram(
        reply_to(request, code=ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG, lifetime=300, sa=None),
        FOREIGN_AGENT,
        MOBILE_IP_PORT,
        NOW,
    )
    _, retry = only_request(proxy)
    assert retry.lifetime == 300
    # The same limit again (or a larger one): no immediate retry.
    proxy.receive_datagram(
        reply_to(retry, code=ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG, lifetime=300, sa=None),
        FOREIGN_AGENT,
        MOBILE_IP_PORT,
        NOW,
    )
    assert proxy.datagrams_to_send() == []
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DENIED
    assert visitor.last_code == ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG
    assert proxy.get_timer() == NOW + 60
    assert proxy.counters.denied_by_foreign_agent == 2


@pytest.mark.parametrize("clock", [100.0, -100.0], ids=["ahead", "behind"])
def test_identification_mismatch_resynchronises_the_clock(clock: float) -> None:
    """RFC 5944 §5.7.1: the home agent's clock is 100 s off, beyond its 7 s
    tolerance, so it denies 133 with its own time in the high 32 bits and our
    low 32 bits. The proxy checks the low bits, takes the offset, and the next
    request is accepted; later requests to that home agent keep the offset."""
    world = make_world(home_agent_clock=clock)
    register(world)
    first, second = world.proxy_requests()
    assert abs(replay.ntp_seconds(first.identification) - NOW) < 1
    assert abs(replay.ntp_seconds(second.identification) - (NOW + clock)) < 1
    c = world.proxy.counters
    assert (c.denied_due_to_identification, c.denied_by_home_agent, c.accepted) == (1, 1, 1)
    assert world.home_agent.counters.id_mismatch == 1
    assert drain(world.proxy) == [ClientRegistered(MAC, CLIENT, HOME_AGENT, FOREIGN_AGENT, 600)]

    # Re-registration and a second client: no more 133s.
    world.link.advance(NOW + 570)
    world.proxy.client_associated(SECOND_MAC, NOW + 571, address=SECOND_CLIENT)
    world.link.run(NOW + 571)
    assert world.proxy.registered_count == 2
    assert world.home_agent.counters.id_mismatch == 1
    assert len(world.proxy_requests()) == 4


def test_identification_mismatch_with_nonces() -> None:
    """RFC 5944 §5.7.2: with nonces the first request cannot carry the home
    agent's nonce: 133, with a fresh nonce in the high 32 bits. The proxy uses
    it and is accepted. The home agent puts a new nonce in every reply, so the
    proxy's next request (the re-registration) uses the latest one and is
    accepted at once, and so is the deregistration."""
    sa = SecurityAssociation(spi=0x1001, key=CLIENT_KEY, replay_method=ReplayMethod.NONCES)
    world = make_world(proxy_sa=sa)
    register(world)
    first, second = world.proxy_requests()
    assert replay.high32(first.identification) == 0
    node = world.home_agent.mobile_node(CLIENT)
    assert node is not None and node.nonce is not None
    assert world.home_agent.counters.id_mismatch == 1
    assert world.proxy.counters.denied_due_to_identification == 1
    assert replay.high32(second.identification) != 0
    assert world.home_agent.bindings()[0].identification == second.identification

    world.link.advance(NOW + 570)
    third = world.proxy_requests()[2]
    assert replay.high32(third.identification) != replay.high32(second.identification)
    assert world.proxy.counters.reregistrations == 1
    assert world.home_agent.counters.id_mismatch == 1
    assert world.proxy.visitor(MAC).state is VisitorState.REGISTERED  # type: ignore[union-attr]

    drain(world.proxy)
    world.proxy.client_disassociated(MAC, NOW + 600)
    world.link.run(NOW + 600)
    assert world.home_agent.counters.id_mismatch == 1
    assert world.home_agent.bindings() == []
    assert world.foreign_agent.visitors() == []
    assert drain(world.proxy) == [ClientDeregistered(MAC, CLIENT)]


def test_deregistration_denied_133_is_resynchronised_not_taken_as_done() -> None:
    """The home agent's clock steps 100 s after the client registered; the
    deregistration then draws 133 (RFC 5944 §5.7.1). A denied deregistration
    is not a deregistration: the proxy resynchronises and sends it again, and
    only the accepted reply removes the binding and reports ClientDeregistered."""
    world = make_world()
    register(world)
    drain(world.proxy)
    world.link.home_agent_clock = 100.0
    world.proxy.client_disassociated(MAC, NOW + 10)
    world.link.run(NOW + 10)
    assert world.home_agent.counters.id_mismatch == 1
    assert world.home_agent.bindings() == []
    assert world.foreign_agent.visitors() == []
    assert drain(world.proxy) == [ClientDeregistered(MAC, CLIENT)]
    assert world.proxy.visitor(MAC) is None
    assert [r.lifetime for r in world.proxy_requests()] == [600, 0, 0]


# -- denials that stick ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("home_agent_settings", "foreign_agent_settings", "code", "counter", "reason"),
    [
        (
            HomeAgentSettings(HOME_AGENT, max_bindings=0),
            ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0),
            ReplyCode.HA_INSUFFICIENT_RESOURCES,
            "denied_by_home_agent",
            f"denied by home agent {HOME_AGENT}: code 130, insufficient resources",
        ),
        (
            HomeAgentSettings(HOME_AGENT),
            ForeignAgentSettings(FOREIGN_AGENT, max_visitors=0, advertisement_interval=0.0),
            ReplyCode.FA_INSUFFICIENT_RESOURCES,
            "denied_by_foreign_agent",
            f"denied by foreign agent {FOREIGN_AGENT}: code 66, insufficient resources",
        ),
    ],
    ids=["home-agent-130", "foreign-agent-66"],
)
def test_denial_backs_off_and_retries(
    home_agent_settings: HomeAgentSettings,
    foreign_agent_settings: ForeignAgentSettings,
    code: ReplyCode,
    counter: str,
    reason: str,
) -> None:
    """A denial the proxy cannot fix by itself: state denied, last_code kept,
    the reason in words, counted against the agent that denied (RFC 5944 §3.4
    ranges; MIP-MIB mnRegRequestsDeniedByHA/ByFA) and by code, and a retry
    after retry_backoff, doubling. Once the agent is reconfigured the retry
    succeeds and the backoff starts over."""
    world = make_world(
        STATIC,
        home_agent_settings=home_agent_settings,
        foreign_agent_settings=foreign_agent_settings,
    )
    proxy = world.proxy
    proxy.client_associated(MAC, NOW, address=CLIENT)
    world.link.run(NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DENIED
    assert visitor.last_code == code and visitor.expires_at is None
    assert visitor.reason == reason
    assert getattr(proxy.counters, counter) == 1
    assert proxy.reply_counters.denials == {code: 1}
    assert drain(proxy) == [ClientRegistrationDenied(MAC, CLIENT, code)]
    assert proxy.get_timer() == NOW + 60

    world.link.advance(NOW + 60)
    assert visitor.state is VisitorState.DENIED
    assert proxy.get_timer() == NOW + 60 + 120
    assert getattr(proxy.counters, counter) == 2
    assert proxy.reply_counters.denials == {code: 2}
    assert len(world.proxy_requests()) == 2  # no retransmission of a denied request
    assert proxy.counters.denied_by_home_agent + proxy.counters.denied_by_foreign_agent == 2

    world.home_agent.settings = replace(world.home_agent.settings, max_bindings=10)
    world.foreign_agent.settings = replace(world.foreign_agent.settings, max_visitors=10)
    world.link.advance(NOW + 180)
    assert visitor.state is VisitorState.REGISTERED and visitor.backoff == 0.0
    assert visitor.last_code == ReplyCode.ACCEPTED and visitor.reason is None
    assert proxy.counters.unmatched_replies == proxy.reply_counters.late_replies == 0


def test_reply_signed_with_another_key_is_discarded() -> None:
    """The proxy's key for the client differs from the home agent's: the home
    agent denies 131 (RFC 5944 §3.8.2.1) and signs that reply with its own key.
    The proxy cannot authenticate it and so MUST NOT act on it (§3.6.2.1): the
    reply is counted bad, the request is retransmitted and, never answered
    acceptably, the registration fails and backs off. (A 131 the proxy *can*
    authenticate would be a plain denial, as the 137 above.)"""
    wrong = SecurityAssociation(spi=0x1001, key=bytes(16))
    world = make_world(proxy_sa=wrong, home_agent_sa=CLIENT_SA)
    proxy = world.proxy
    proxy.client_associated(MAC, NOW, address=CLIENT)
    world.link.run(NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.PENDING
    assert proxy.counters.bad_replies == 1
    assert drain(proxy) == [
        # The client it was for: the MAC and home address (PROXY-MOBILE-IP-MIB
        # pmipAuthenticationFailure is instanced by the MAC).
        AuthenticationFailed(FOREIGN_AGENT, 0x1001, ViolationReason.BAD_AUTHENTICATOR, MAC, CLIENT)
    ]
    world.link.advance(NOW + 31)
    assert visitor.state is VisitorState.FAILED
    assert world.home_agent.counters.mn_authentication_failure == 5
    c = proxy.counters
    assert (c.bad_replies, c.registration_failures, c.denied_by_home_agent) == (5, 1, 0)
    assert world.home_agent.bindings() == []


# -- replies that must not move the state ------------------------------------------------


def test_unmatched_forged_and_malformed_replies_change_nothing() -> None:
    """RFC 5944 §3.6.2.1: a reply must match a request we sent (home address,
    low 32 bits of Identification) and carry a valid MHAE. Anything else is
    counted and dropped, and the real reply still works afterwards."""
    proxy = make_proxy()
    proxy.client_associated(MAC, NOW, address=CLIENT)
    _, request = only_request(proxy)
    drain(proxy)
    visitor = proxy.visitor(MAC)
    assert visitor is not None

    def feed(data: bytes) -> list[object]:
        proxy.receive_datagram(data, FOREIGN_AGENT, MOBILE_IP_PORT, NOW)
        assert visitor.state is VisitorState.PENDING
        assert proxy.datagrams_to_send() == []
        assert proxy.get_timer() == NOW + 1
        return drain(proxy)

    stranger = IPv4Address("10.1.9.9")
    assert feed(reply_to(request, home_address=stranger)) == [
        DatagramDropped(FOREIGN_AGENT, f"unmatched reply for {stranger}")
    ]
    assert feed(reply_to(request, identification=request.identification ^ 1)) != []
    # Matches, but forged: the MHAE is computed with another key.
    forged = SecurityAssociation(spi=0x1001, key=bytes(range(16)))
    assert feed(reply_to(request, sa=forged)) == [
        AuthenticationFailed(FOREIGN_AGENT, 0x1001, ViolationReason.BAD_AUTHENTICATOR, MAC, CLIENT)
    ]
    assert len(feed(reply_to(request, sa=None))) == 1  # accepted, yet no MHAE
    other_spi = SecurityAssociation(spi=0x1002, key=CLIENT_KEY)
    assert len(feed(reply_to(request, sa=other_spi))) == 1
    assert isinstance(feed(reply_to(request)[:12])[0], DatagramDropped)  # truncated
    assert isinstance(feed(reply_to(request)[:-3])[0], DatagramDropped)  # cut extension
    c = proxy.counters
    assert (c.unmatched_replies, c.bad_replies, c.replies_received) == (2, 5, 7)
    # Not a reply at all: dropped before counting.
    assert isinstance(feed(b"\x01" + bytes(30))[0], DatagramDropped)
    assert isinstance(feed(b"")[0], DatagramDropped)
    assert proxy.counters.replies_received == 7
    assert proxy.counters.accepted == 0

    proxy.receive_datagram(reply_to(request), FOREIGN_AGENT, MOBILE_IP_PORT, NOW)
    assert visitor.state is VisitorState.REGISTERED
    # The same reply again (a duplicate or a replay) answers a request of an
    # exchange already settled: a late reply, acted on no more.
    proxy.receive_datagram(reply_to(request), FOREIGN_AGENT, MOBILE_IP_PORT, NOW + 1)
    assert (proxy.counters.unmatched_replies, proxy.reply_counters.late_replies) == (2, 1)
    assert drain(proxy)[-1:] == [DatagramDropped(FOREIGN_AGENT, f"late reply for {CLIENT}")]
    assert visitor.state is VisitorState.REGISTERED and visitor.registered_at == NOW


def test_reply_to_an_earlier_transmission_is_accepted() -> None:
    """RFC 5944 §3.6.3 retransmits with new Identifications; a reply to any of
    the recent ones is a reply to this registration."""
    proxy = make_proxy()
    proxy.client_associated(MAC, NOW, address=CLIENT)
    _, first = only_request(proxy)
    proxy.handle_timer(NOW + 1)
    _, second = only_request(proxy)
    assert second.identification != first.identification
    proxy.receive_datagram(reply_to(first), FOREIGN_AGENT, MOBILE_IP_PORT, NOW + 1.5)
    assert proxy.visitor(MAC).state is VisitorState.REGISTERED  # type: ignore[union-attr]


def _replies(identification: int) -> st.SearchStrategy[bytes]:
    """Bytes that reach the proxy's reply path: anything, anything typed 3, and
    well-formed replies for the client with its real Identification but no
    valid authenticator (random extensions, or an MHAE with the right SPI and a
    random authenticator). Foreign-agent denials (64-127) are left out: they
    carry no MHAE by design (RFC 5944 §3.6.2.1), see the test below."""
    not_fa = st.integers(0, 255).filter(lambda c: not 64 <= c <= 127)

    def header(code: int, lifetime: int) -> bytes:
        return RegistrationReply(code, lifetime, CLIENT, HOME_AGENT, identification).encode_header()

    return st.one_of(
        st.binary(max_size=120),
        st.binary(max_size=100).map(lambda b: b"\x03" + b),
        st.builds(
            lambda c, l, b: header(c, l) + b, not_fa, st.integers(0, 0xFFFF), st.binary(max_size=40)
        ),
        st.builds(
            lambda c, l, a: header(c, l) + bytes((MHAE, 20)) + struct.pack("!I", 0x1001) + a,
            not_fa,
            st.integers(0, 0xFFFF),
            st.binary(min_size=16, max_size=16),
        ),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_arbitrary_bytes_never_raise_nor_change_state(data: st.DataObject) -> None:
    """Whatever arrives on UDP 434, the proxy answers malformed input with a
    counted drop (STYLE.md) and never leaves PENDING for a reply it cannot
    authenticate (RFC 5944 §3.6.2.1)."""
    proxy = make_proxy()
    proxy.client_associated(MAC, NOW, address=CLIENT)
    _, request = only_request(proxy)
    payload = data.draw(_replies(request.identification))
    proxy.receive_datagram(payload, FOREIGN_AGENT, MOBILE_IP_PORT, NOW)
    assert proxy.visitor(MAC).state is VisitorState.PENDING  # type: ignore[union-attr]
    assert proxy.datagrams_to_send() == []
    assert proxy.counters.accepted == 0
    assert proxy.get_timer() == NOW + 1


def test_foreign_agent_denial_needs_no_authenticator() -> None:
    """A foreign agent denial (64-127) carries no MHAE: the foreign agent shares
    no SA with the client (RFC 5944 §3.7.2.1, §3.6.2.1), so the proxy takes it
    on the Identification match alone."""
    proxy = make_proxy()
    proxy.client_associated(MAC, NOW, address=CLIENT)
    _, request = only_request(proxy)
    denial = reply_to(request, code=ReplyCode.FA_ADMINISTRATIVELY_PROHIBITED, lifetime=0, sa=None)
    proxy.receive_datagram(denial, FOREIGN_AGENT, MOBILE_IP_PORT, NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DENIED
    assert proxy.counters.denied_by_foreign_agent == 1
    assert drain(proxy) == [
        ClientRegistrationDenied(MAC, CLIENT, ReplyCode.FA_ADMINISTRATIVELY_PROHIBITED)
    ]


# -- leaving -----------------------------------------------------------------------------


def test_disassociation_deregisters_and_forgets_the_client() -> None:
    """The client leaves: the proxy sends Lifetime 0 with the care-of address it
    registered (RFC 5944 §3.6.1.2) through the foreign agent; the home agent
    deletes the binding, the foreign agent the visitor entry, and the proxy
    reports ClientDeregistered and forgets the client."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy), drain(world.home_agent)
    proxy.client_disassociated(MAC, NOW + 100)
    transmit, request = only_request(proxy)
    assert (transmit.destination, transmit.port) == (FOREIGN_AGENT, MOBILE_IP_PORT)
    assert (request.lifetime, request.care_of_address) == (0, FOREIGN_AGENT)
    assert (request.home_address, request.home_agent) == (CLIENT, HOME_AGENT)
    assert proxy.visitor(MAC).state is VisitorState.DEREGISTERING  # type: ignore[union-attr]
    world.link.in_flight.append((ACCESS_POINT, ACCESS_POINT_PORT, transmit))
    world.link.run(NOW + 100)
    assert drain(proxy) == [ClientDeregistered(MAC, CLIENT)]
    assert proxy.visitor(MAC) is None and proxy.visitor_by_home_address(CLIENT) is None
    assert proxy.visitors() == [] and proxy.get_timer() is None
    assert world.home_agent.bindings() == [] and world.foreign_agent.visitors() == []
    assert drain(world.home_agent) == [
        BindingDeleted(CLIENT, FOREIGN_AGENT, RemovalReason.DEREGISTERED)
    ]
    c = proxy.counters
    assert (c.disassociations, c.deregistrations) == (1, 1)
    proxy.client_disassociated(MAC, NOW + 101)  # unknown now: nothing happens
    assert proxy.counters.disassociations == 1 and proxy.datagrams_to_send() == []


def test_unanswered_deregistration_is_sent_twice_then_given_up() -> None:
    """If the deregistration is never answered the proxy tries once more and then
    forgets the client anyway (the binding ages out at the agents). It still
    reports ClientDeregistered: the event means "no longer ours", not "the home
    agent confirmed"."""
    world = make_world()
    register(world)
    drain(world.proxy)
    world.link.silent.add(FOREIGN_AGENT)
    world.proxy.client_disassociated(MAC, NOW + 100)
    world.link.advance(NOW + 200)
    assert [r.lifetime for r in world.proxy_requests()] == [600, 0, 0]
    assert world.proxy.visitor(MAC) is None
    assert drain(world.proxy) == [ClientDeregistered(MAC, CLIENT)]
    assert len(world.home_agent.bindings()) == 1


@pytest.mark.parametrize("how", ["address-learned", "associated", "left-then-new-address"])
def test_a_new_address_does_not_orphan_the_old_addresses_deregistration(how: str) -> None:
    """A registered station takes a new address (DHCP, or an association
    carrying another one): the old address is deregistered (Lifetime 0,
    RFC 5944 §3.6.1.2) while the new one registers. The old visitor's
    timer was keyed by the MAC, which the new visitor took: its
    deregistration was never retransmitted (§3.6.3) nor given up, no
    ClientDeregistered ever came, and it stayed held by its address for
    ever (a leak per address change). Set aside under its home address, it
    is retransmitted once and given up like any departure, then freed. A
    station that left, then came back with another address before its
    deregistration ended, had it abandoned (never retransmitted)."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    world.link.silent.add(FOREIGN_AGENT)
    if how == "address-learned":
        proxy.client_address_learned(MAC, SECOND_CLIENT, NOW + 100)
    elif how == "left-then-new-address":
        proxy.client_disassociated(MAC, NOW + 99.5)
        proxy.client_address_learned(MAC, SECOND_CLIENT, NOW + 100)
    else:
        proxy.client_associated(MAC, NOW + 100, address=SECOND_CLIENT)
    new = proxy.visitor(MAC)
    assert new is not None and new.home_address == SECOND_CLIENT
    assert [v.mac for v in proxy.visitors()] == [MAC]
    world.link.advance(NOW + 104)
    old_requests = [r.lifetime for r in world.proxy_requests() if r.home_address == CLIENT]
    assert old_requests == [600, 0, 0]  # registered, deregistration, its retransmission
    assert ClientDeregistered(MAC, CLIENT) in drain(proxy)
    assert proxy.visitor_by_home_address(CLIENT) is None
    assert proxy.visitor_by_home_address(SECOND_CLIENT) is new


def test_a_set_aside_deregistration_is_answered_and_freed() -> None:
    """The same with the foreign agent answering: the old address's
    deregistration reply finds its visitor (not "unmatched"), the new
    address registers, and only the new visitor is left."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    proxy.client_address_learned(MAC, SECOND_CLIENT, NOW + 100)
    world.link.run(NOW + 100)
    events = drain(proxy)
    assert ClientDeregistered(MAC, CLIENT) in events
    assert ClientRegistered(MAC, SECOND_CLIENT, HOME_AGENT, FOREIGN_AGENT, 600) in events
    assert proxy.counters.unmatched_replies == 0
    assert proxy.visitor_by_home_address(CLIENT) is None
    assert [b.home_address for b in world.home_agent.bindings()] == [SECOND_CLIENT]
    assert proxy.get_timer() == NOW + 100 + 570  # the new registration's renewal only


def test_reassociation_during_deregistration_registers_again() -> None:
    """The client comes back before the deregistration was answered: the proxy
    starts a new registration, whose Identification is newer than the
    deregistration's, so the home agent ends with a binding; the stale
    deregistration reply matches nothing."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    proxy.client_disassociated(MAC, NOW + 100)
    proxy.client_associated(MAC, NOW + 100, address=CLIENT)
    world.link.run(NOW + 100)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    _, deregistration, registration = world.proxy_requests()
    assert (deregistration.lifetime, registration.lifetime) == (0, 600)
    assert registration.identification > deregistration.identification
    assert [b.home_address for b in world.home_agent.bindings()] == [CLIENT]
    assert [v.home_address for v in world.foreign_agent.visitors()] == [CLIENT]
    assert proxy.counters.unmatched_replies == 1
    assert drain(proxy) == [
        DatagramDropped(FOREIGN_AGENT, f"unmatched reply for {CLIENT}"),
        ClientRegistered(MAC, CLIENT, HOME_AGENT, FOREIGN_AGENT, 600),
    ]
    assert proxy.get_timer() == NOW + 100 + 570


def test_client_that_came_home_is_deregistered_directly_with_its_home_agent() -> None:
    """The client roams back to an access point on its home network. That AP
    finds it at home but knows its home agent, so it deregisters it straight
    with the home agent: Lifetime 0 and care-of address = home address (RFC 5944
    §3.6.1.2), to settings.home_agent_port."""
    world = make_world()
    register(world)
    home_settings = ProxySettings(local_networks=(HOME_NETWORK,), home_agent_port=4434)
    home_proxy = make_proxy(home_settings)
    world.link.proxies[HOME_ACCESS_POINT] = home_proxy

    home_proxy.client_associated(MAC, NOW + 50, address=CLIENT)
    transmit, request = only_request(home_proxy)
    assert (transmit.destination, transmit.port) == (HOME_AGENT, 4434)
    assert (request.lifetime, request.care_of_address) == (0, CLIENT)
    assert (request.home_address, request.home_agent) == (CLIENT, HOME_AGENT)
    visitor = home_proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DEREGISTERING
    assert drain(home_proxy) == [ClientNotProxied(MAC, CLIENT, NotProxiedReason.AT_HOME)]

    world.link.in_flight.append((HOME_ACCESS_POINT, ACCESS_POINT_PORT, transmit))
    world.link.run(NOW + 50)
    assert world.home_agent.bindings() == []
    assert visitor.state is VisitorState.AT_HOME
    assert drain(home_proxy) == [ClientDeregistered(MAC, CLIENT)]
    assert home_proxy.visitor(MAC) is visitor  # still associated here
    assert home_proxy.visitor_by_home_address(CLIENT) is None
    assert home_proxy.get_timer() is None
    c = home_proxy.counters
    assert (c.not_proxied_at_home, c.deregistrations, c.requests_sent) == (1, 1, 1)
    assert c.solicitations_sent == 0


def test_an_unanswered_deregistration_from_home_waits_twice_as_long_for_its_retransmission() -> None:
    """RFC 5944 §3.6.3: "Each successive retransmission timeout period
    SHOULD be at least twice the previous period". A client found at home
    is deregistered straight with its home agent (§3.6.1.2); unanswered,
    the request goes again after 1 s, and the answer to that is awaited
    2 s more before giving up. The period was left at 0 for a client new
    to the access point (only a registration set it), so the proxy gave up
    the moment it retransmitted, and an answer 100 ms later was "late"."""
    home_proxy = make_proxy(ProxySettings(local_networks=(HOME_NETWORK,)))
    home_proxy.client_associated(MAC, NOW, address=CLIENT)
    assert [r.lifetime for r in registration_requests(home_proxy.datagrams_to_send())] == [0]
    sent = run_timers(home_proxy, NOW + 60)
    assert [(when - NOW, decode_request(t.data).lifetime) for when, t in sent] == [(1.0, 0)]
    visitor = home_proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.AT_HOME
    assert home_proxy.counters.retransmissions == 1
    events = drain(home_proxy)
    assert events[-1] == ClientDeregistered(MAC, CLIENT)
    # Given up 2 s after the retransmission, not at once.
    home_proxy.client_associated(SECOND_MAC, NOW, address=SECOND_CLIENT)
    home_proxy.datagrams_to_send()
    home_proxy.handle_timer(NOW + 1.0)
    [retransmission] = registration_requests(home_proxy.datagrams_to_send())
    assert home_proxy.get_timer() == NOW + 3.0
    second = home_proxy.visitor(SECOND_MAC)
    assert second is not None and second.state is VisitorState.DEREGISTERING
    reply = reply_to(retransmission)
    home_proxy.receive_datagram(reply, HOME_AGENT, MOBILE_IP_PORT, NOW + 1.1)
    assert second.state is VisitorState.AT_HOME
    assert home_proxy.reply_counters.late_replies == 0


def test_a_client_that_left_is_not_registered_again_by_a_configuration_change() -> None:
    """A registered client leaves: its deregistration (Lifetime 0, RFC 5944
    §3.6.1.2) is in flight when the configuration changes (here its SA is
    replaced). The re-evaluation took the departed client for a present one:
    it withdrew it and registered it again through the foreign agent, for a
    node that is no longer there, and renewed that binding for ever. A
    departed client is left to finish its deregistration, then forgotten."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    world.link.silent.add(FOREIGN_AGENT)
    proxy.client_disassociated(MAC, NOW + 100)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DEREGISTERING
    new_sa = SecurityAssociation(spi=0x1002, key=bytes(16))
    proxy.host_associations.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, new_sa)
    proxy.host_associations.remove_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address,
                                         CLIENT_SA.spi)
    proxy.reevaluate(NOW + 100.5)
    assert visitor.state is VisitorState.DEREGISTERING
    world.link.advance(NOW + 200)
    assert [r.lifetime for r in world.proxy_requests()] == [600, 0, 0]
    assert proxy.visitor(MAC) is None and proxy.visitors() == []
    assert proxy.get_timer() is None


# -- agent discovery (RFC 5944 §2) -------------------------------------------------------


def test_solicitations_three_at_one_second_then_exponential_backoff() -> None:
    """RFC 5944 §2.4: with no foreign agent known, up to three Agent
    Solicitations once a second to 224.0.0.11, then binary exponential backoff
    up to solicitation_max_interval (60 s)."""
    proxy = make_proxy(DISCOVERING)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    sent = [(NOW, t) for t in proxy.datagrams_to_send()]
    sent += run_timers(proxy, NOW + 300)
    times = [when - NOW for when, _ in sent]
    assert times == [0, 1, 2, 4, 8, 16, 32, 64, 124, 184, 244]
    for _, transmit in sent:
        assert transmit.channel is Channel.DISCOVERY
        assert (transmit.destination, transmit.port) == (ALL_MOBILITY_AGENTS, 0)
        assert is_solicitation(transmit.data) and transmit.data == encode_solicitation()
    assert proxy.counters.solicitations_sent == 11
    assert proxy.visitor(MAC).state is VisitorState.WAITING_FOR_AGENT  # type: ignore[union-attr]
    # A second waiting client does not start a second solicitation schedule.
    proxy.client_associated(SECOND_MAC, NOW + 300, address=SECOND_CLIENT)
    assert proxy.datagrams_to_send() == []
    assert proxy.get_timer() == NOW + 304


def test_solicitation_disabled() -> None:
    proxy = make_proxy(replace(DISCOVERING, solicit=False))
    proxy.client_associated(MAC, NOW, address=CLIENT)
    assert proxy.datagrams_to_send() == [] and proxy.get_timer() is None
    assert proxy.visitor(MAC).state is VisitorState.WAITING_FOR_AGENT  # type: ignore[union-attr]


def test_advertisement_stops_soliciting_and_registers_waiting_clients() -> None:
    """An advertisement with F and a care-of address (RFC 5944 §2.1.1) ends
    discovery and every waiting client registers through that agent, asking
    for no more than its Registration Lifetime (§3.6.1.2)."""
    proxy = make_proxy(DISCOVERING)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    proxy.client_associated(SECOND_MAC, NOW, address=SECOND_CLIENT)
    run_timers(proxy, NOW + 5)
    proxy.datagrams_to_send()
    proxy.receive_icmp(advertisement(registration_lifetime=240), FOREIGN_AGENT, NOW + 5)
    transmits = proxy.datagrams_to_send()
    assert [(t.destination, t.port, t.channel) for t in transmits] == [
        (FOREIGN_AGENT, MOBILE_IP_PORT, Channel.REGISTRATION)
    ] * 2
    requests = registration_requests(transmits)
    assert [r.home_address for r in requests] == [CLIENT, SECOND_CLIENT]
    assert {(r.care_of_address, r.lifetime) for r in requests} == {(CARE_OF_ADDRESS, 240)}
    assert proxy.counters.advertisements_received == 1
    [heard] = proxy.foreign_agents()
    assert (heard.address, heard.expires_at) == (FOREIGN_AGENT, NOW + 5 + 1800)
    solicitations = proxy.counters.solicitations_sent
    later = run_timers(proxy, NOW + 600)
    assert later and all(t.channel is Channel.REGISTRATION for _, t in later)
    assert proxy.counters.solicitations_sent == solicitations


def test_discovery_end_to_end_with_the_foreign_agent_answering() -> None:
    """The solicitation reaches the real foreign agent, which answers with a
    unicast advertisement (RFC 5944 §2.4); the proxy registers through it."""
    world = make_world(DISCOVERING)
    register(world)
    assert world.foreign_agent.counters.solicitations_received == 1
    assert world.proxy.counters.solicitations_sent == 1
    assert world.proxy_requests()[0].lifetime == 600
    assert [v.home_address for v in world.foreign_agent.visitors()] == [CLIENT]


def test_busy_foreign_agent_is_not_chosen() -> None:
    """RFC 5944 §2.1.1: B set means the agent will not accept registrations from
    more mobile nodes. The client waits; it registers through another agent
    that is not busy, or through the same one once it stops being busy."""
    busy = FOREIGN_AGENT_FLAGS | AdvertisementFlag.BUSY
    proxy = make_proxy(DISCOVERING)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    proxy.datagrams_to_send()
    proxy.receive_icmp(advertisement(0, flags=busy), FOREIGN_AGENT, NOW + 1)
    assert registration_requests(proxy.datagrams_to_send()) == []
    assert proxy.visitor(MAC).state is VisitorState.WAITING_FOR_AGENT  # type: ignore[union-attr]

    proxy.receive_icmp(advertisement(1), FOREIGN_AGENT, NOW + 11)  # no longer busy
    [request] = registration_requests(proxy.datagrams_to_send())
    assert request.care_of_address == CARE_OF_ADDRESS

    proxy2 = make_proxy(DISCOVERING)
    proxy2.client_associated(MAC, NOW, address=CLIENT)
    proxy2.datagrams_to_send()
    proxy2.receive_icmp(advertisement(0, flags=busy), FOREIGN_AGENT, NOW + 1)
    second_care_of = IPv4Address("192.0.2.200")
    proxy2.receive_icmp(advertisement(0, care_of=second_care_of), SECOND_FOREIGN_AGENT, NOW + 2)
    [transmit] = proxy2.datagrams_to_send()
    assert transmit.destination == SECOND_FOREIGN_AGENT
    assert decode_request(transmit.data).care_of_address == second_care_of
    # The busy agent advertising again (more recently) is still not chosen.
    proxy2.client_associated(SECOND_MAC, NOW + 3, address=SECOND_CLIENT)
    proxy2.receive_icmp(advertisement(1, flags=busy), FOREIGN_AGENT, NOW + 3)
    assert [t.destination for t in proxy2.datagrams_to_send()] == [SECOND_FOREIGN_AGENT]


def accept_all(proxy: ProxyAgent, now: float) -> None:
    """Answer every request in the proxy's outbox as a home agent would."""
    for transmit in proxy.datagrams_to_send():
        if transmit.channel is Channel.REGISTRATION:
            request = decode_request(transmit.data)
            proxy.receive_datagram(reply_to(request), transmit.destination, MOBILE_IP_PORT, now)


def test_foreign_agent_reboot_makes_its_clients_register_again() -> None:
    """RFC 5944 §2.4.2: after 0xffff the sequence continues at 256, so a drop
    into 0-255 means the agent rebooted and lost its visitor list; every
    client registered through it registers again. Clients of other agents
    are left alone, and a wrap from 0xffff to 256 is not a reboot."""
    proxy = make_proxy(DISCOVERING)
    proxy.receive_icmp(advertisement(300), FOREIGN_AGENT, NOW)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    accept_all(proxy, NOW)
    # Heard later, so the newcomer registers through the second agent.
    proxy.receive_icmp(
        advertisement(0xFFFF, care_of=IPv4Address("192.0.2.200")), SECOND_FOREIGN_AGENT, NOW + 1
    )
    proxy.client_associated(SECOND_MAC, NOW + 1, address=SECOND_CLIENT)
    accept_all(proxy, NOW + 1)
    first, second = proxy.visitor(MAC), proxy.visitor(SECOND_MAC)
    assert first is not None and second is not None
    assert (first.foreign_agent, second.foreign_agent) == (FOREIGN_AGENT, SECOND_FOREIGN_AGENT)
    assert first.state is second.state is VisitorState.REGISTERED
    drain(proxy)

    proxy.receive_icmp(
        advertisement(256, care_of=IPv4Address("192.0.2.200")), SECOND_FOREIGN_AGENT, NOW + 5
    )
    assert proxy.datagrams_to_send() == [] and proxy.counters.agent_reboots_detected == 0

    proxy.receive_icmp(advertisement(0), FOREIGN_AGENT, NOW + 10)
    assert drain(proxy) == [ForeignAgentRebooted(FOREIGN_AGENT, 0)]
    assert proxy.counters.agent_reboots_detected == 1
    transmit, request = only_request(proxy)
    assert (transmit.destination, request.home_address) == (FOREIGN_AGENT, CLIENT)
    assert first.state is VisitorState.PENDING and second.state is VisitorState.REGISTERED
    assert proxy.counters.reregistrations == 1


def test_foreign_agent_reboot_end_to_end() -> None:
    """The same through real agents: the foreign agent restarts empty (sequence
    0, no visitors); its next advertisement makes the proxy register both
    clients again and the visitor list is rebuilt."""
    world = make_world(DISCOVERING)
    register(world)
    register(world, SECOND_MAC, SECOND_CLIENT)
    world.foreign_agent.sequence = 300
    world.foreign_agent.receive_icmp(encode_solicitation(), ACCESS_POINT, NOW + 10)
    world.link.run(NOW + 10)
    assert world.proxy.counters.agent_reboots_detected == 0

    rebooted = make_foreign_agent(world.foreign_agent.settings)
    world.link.foreign_agents[FOREIGN_AGENT] = rebooted
    rebooted.receive_icmp(encode_solicitation(), ACCESS_POINT, NOW + 20)
    world.link.run(NOW + 20)
    assert world.proxy.counters.agent_reboots_detected == 1
    assert [v.home_address for v in rebooted.visitors()] == [CLIENT, SECOND_CLIENT]
    assert world.proxy.registered_count == 2
    assert world.proxy.counters.reregistrations == 2


def test_advertisement_lifetime_expiry_sends_clients_back_to_discovery() -> None:
    """RFC 5944 §2.4.2 / RFC 1256: an agent not heard from within the
    advertisement Lifetime is gone. Its clients wait for an agent again and
    soliciting starts over (three at 1 s); the next advertisement registers
    them again."""
    proxy = make_proxy(DISCOVERING)
    proxy.receive_icmp(advertisement(5, lifetime=30), FOREIGN_AGENT, NOW)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    accept_all(proxy, NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    assert proxy.get_timer() == NOW + 30

    sent = run_timers(proxy, NOW + 33)
    assert visitor.state is VisitorState.WAITING_FOR_AGENT
    assert proxy.foreign_agents() == []
    assert [(when - NOW, t.channel) for when, t in sent] == [
        (30, Channel.DISCOVERY),
        (31, Channel.DISCOVERY),
        (32, Channel.DISCOVERY),
    ]
    proxy.receive_icmp(advertisement(6, lifetime=30), FOREIGN_AGENT, NOW + 33)
    [request] = registration_requests(proxy.datagrams_to_send())
    assert request.home_address == CLIENT
    assert visitor.state is VisitorState.PENDING


def test_advertisements_refresh_the_agent_lifetime() -> None:
    """An agent that keeps advertising never expires (RFC 5944 §2.3: interval at
    most a third of the lifetime)."""
    proxy = make_proxy(DISCOVERING)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    for index in range(10):
        proxy.receive_icmp(advertisement(index, lifetime=30), FOREIGN_AGENT, NOW + 10 * index)
        accept_all(proxy, NOW + 10 * index)
        run_timers(proxy, NOW + 10 * index + 9)
    assert proxy.visitor(MAC).state is VisitorState.REGISTERED  # type: ignore[union-attr]
    assert proxy.counters.solicitations_sent == 1


def test_icmp_that_is_not_a_foreign_agent_advertisement_is_ignored() -> None:
    proxy = make_proxy(DISCOVERING)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    proxy.datagrams_to_send()
    home_only = AgentAdvertisement(0, 300, AdvertisementFlag.HOME_AGENT, ()).encode()
    corrupt = bytearray(advertisement())
    corrupt[-1] ^= 0xFF  # checksum no longer matches
    for data in (home_only, bytes(corrupt), encode_solicitation(), b"", b"\x09"):
        proxy.receive_icmp(data, FOREIGN_AGENT, NOW + 1)
    assert proxy.foreign_agents() == []
    assert proxy.counters.advertisements_received == 0
    assert registration_requests(proxy.datagrams_to_send()) == []


# -- many clients at once ----------------------------------------------------------------


def test_flood_of_clients_is_bounded_by_max_outstanding() -> None:
    """1000 clients associate in the same instant with max_outstanding = 10: at
    most 10 registrations are ever in flight (at the proxy and pending at the
    foreign agent), the rest wait in order in the queue, and all 1000 end
    registered, with bindings and visitor entries for each."""
    world = make_world(replace(STATIC, max_outstanding=10))
    proxy = world.proxy
    clients = [
        (f"02:00:00:00:{index >> 8:02x}:{index & 0xFF:02x}", IPv4Address(int(CLIENT) + index))
        for index in range(1000)
    ]
    peak = {"proxy": 0, "foreign_agent": 0}

    def observe() -> None:
        pending = sum(1 for v in proxy.visitors() if v.state is VisitorState.PENDING)
        assert pending <= 10
        assert world.foreign_agent.pending_count <= 10
        peak["proxy"] = max(peak["proxy"], pending)
        peak["foreign_agent"] = max(peak["foreign_agent"], world.foreign_agent.pending_count)

    for mac, address in clients:
        proxy.client_associated(mac, NOW, address=address)
    states = [v.state for v in proxy.visitors()]
    assert states.count(VisitorState.PENDING) == 10
    assert states.count(VisitorState.QUEUED) == 990
    assert proxy.counters.queued == 990
    assert proxy.counters.requests_sent == 10
    world.link.on_step = observe
    world.link.run(NOW, rounds=1000)
    assert peak == {"proxy": 10, "foreign_agent": 10}
    assert proxy.registered_count == 1000
    assert len(world.home_agent.bindings()) == 1000
    assert world.foreign_agent.visitor_count == 1000
    c = proxy.counters
    assert (c.requests_sent, c.accepted, c.retransmissions, c.queued) == (1000, 1000, 0, 990)
    # Registered in association order: the queue is first in, first out.
    order = [r.home_address for r in world.proxy_requests()]
    assert order == [address for _, address in clients]
    # Every slot was given back: a newcomer goes straight out.
    proxy.client_associated("02:ff:00:00:00:01", NOW + 1, address=IPv4Address("10.1.200.1"))
    assert proxy.visitor("02:ff:00:00:00:01").state is VisitorState.PENDING  # type: ignore[union-attr]


def test_clients_leaving_the_queue_or_in_flight_free_their_slot() -> None:
    """Queued clients that leave are dropped from the queue; a pending one that
    leaves gives its slot to the next in line. Nothing is lost or leaked."""
    world = make_world(replace(STATIC, max_outstanding=2))
    proxy = world.proxy
    addresses = [IPv4Address(int(CLIENT) + index) for index in range(6)]
    macs = [f"02:00:00:00:00:{index:02x}" for index in range(6)]
    for mac, address in zip(macs, addresses):
        proxy.client_associated(mac, NOW, address=address)
    proxy.client_disassociated(macs[3], NOW)  # queued
    proxy.client_disassociated(macs[0], NOW)  # in flight
    assert proxy.visitor(macs[3]) is None
    assert proxy.visitor(macs[2]).state is VisitorState.PENDING  # type: ignore[union-attr]
    world.link.run(NOW)
    assert sorted(v.mac for v in proxy.visitors()) == [macs[1], macs[2], macs[4], macs[5]]
    assert proxy.registered_count == 4
    assert [b.home_address for b in world.home_agent.bindings()] == [
        addresses[1],
        addresses[2],
        addresses[4],
        addresses[5],
    ]


# -- configuration changes ---------------------------------------------------------------


def test_reevaluate_registers_a_client_newly_covered_by_the_subnet_map() -> None:
    """The subnet map learns the client's home agent later (Cisco: the AAP pushes
    subnet map updates, reference §1.1): the waiting client registers."""
    world = make_world(subnet_map=SubnetMap())
    proxy = world.proxy
    proxy.client_associated(MAC, NOW, address=CLIENT)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NO_HOME_AGENT
    proxy.reevaluate(NOW + 1)  # nothing changed yet
    assert visitor.state is VisitorState.NO_HOME_AGENT and proxy.datagrams_to_send() == []
    proxy.subnet_map.add(HOME_NETWORK, HOME_AGENT)
    proxy.reevaluate(NOW + 10)
    world.link.run(NOW + 10)
    assert visitor.state is VisitorState.REGISTERED
    assert [b.home_address for b in world.home_agent.bindings()] == [CLIENT]
    assert proxy.counters.not_proxied_no_home_agent == 2


def test_reevaluate_withdraws_a_client_whose_home_agent_entry_is_removed() -> None:
    """The subnet map entry goes away: the SA is still there, so the proxy can
    and does deregister the client (Lifetime 0, RFC 5944 §3.6.1.2) before
    marking it no-home-agent."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    proxy.subnet_map.remove(HOME_NETWORK)
    proxy.reevaluate(NOW + 10)
    world.link.run(NOW + 10)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NO_HOME_AGENT
    assert [r.lifetime for r in world.proxy_requests()] == [600, 0]
    assert world.home_agent.bindings() == [] and world.foreign_agent.visitors() == []
    # The deregistration is fire-and-forget: its reply arrives when the client
    # is no longer pending anything: ours, so a late reply, not an unmatched one.
    assert drain(proxy) == [
        ClientNotProxied(MAC, CLIENT, NotProxiedReason.NO_HOME_AGENT),
        DatagramDropped(FOREIGN_AGENT, f"late reply for {CLIENT}"),
    ]
    assert (proxy.reply_counters.late_replies, proxy.counters.unmatched_replies) == (1, 0)
    assert visitor.reason == f"no subnet-map entry holds {CLIENT}"
    assert proxy.get_timer() is None
    assert proxy.counters.deregistrations == 1


def test_reevaluate_moves_a_client_to_its_new_home_agent() -> None:
    """The subnet map now names another home agent for the client: deregister
    from the old one, register with the new one."""
    world = make_world()
    register(world)
    proxy = world.proxy
    new_table = SecurityAssociationTable()
    new_table.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, CLIENT_SA)
    new_home_agent = HomeAgent(HomeAgentSettings(OTHER_HOME_AGENT), mobile_nodes=new_table)
    world.link.home_agents[OTHER_HOME_AGENT] = new_home_agent
    proxy.subnet_map.add(HOME_NETWORK, OTHER_HOME_AGENT)
    proxy.reevaluate(NOW + 10)
    world.link.run(NOW + 10)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    assert visitor.home_agent == OTHER_HOME_AGENT
    assert world.home_agent.bindings() == []
    assert [b.home_address for b in new_home_agent.bindings()] == [CLIENT]


def test_reevaluate_after_the_security_association_is_removed() -> None:
    """The client's SA is removed from the proxy's configuration. The proxy kept
    the SA it registered with, so it can still authenticate a deregistration
    (Lifetime 0, RFC 5944 §3.5.2, §3.6.1.2): the binding at the home agent and
    the foreign agent's visitor entry go at once instead of ageing out; the
    client ends no-security-association and is not renewed."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    proxy.host_associations = SecurityAssociationTable()
    proxy.reevaluate(NOW + 10)
    world.link.run(NOW + 10)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert world.proxy_requests()[-1].lifetime == 0
    assert world.home_agent.bindings() == [] and world.foreign_agent.visitors() == []
    assert ClientNotProxied(MAC, CLIENT, NotProxiedReason.NO_SECURITY_ASSOCIATION) in drain(proxy)
    world.link.advance(NOW + 3600)
    assert world.proxy_requests()[-1].lifetime == 0  # nothing sent after the deregistration


def test_reevaluate_keeps_clients_whose_configuration_did_not_change() -> None:
    world = make_world()
    register(world)
    proxy = world.proxy
    proxy.reevaluate(NOW + 10)
    assert proxy.datagrams_to_send() == []
    assert proxy.visitor(MAC).state is VisitorState.REGISTERED  # type: ignore[union-attr]
    assert proxy.get_timer() == NOW + 570


# -- secrets -----------------------------------------------------------------------------


def test_no_key_material_in_reprs() -> None:
    """Visitors, events, settings and counters are logged; none of them may show
    a key (security.py keeps keys out of SecurityAssociation's repr)."""
    world = make_world()
    register(world)
    proxy = world.proxy
    proxy.client_disassociated(MAC, NOW + 10)
    proxy.client_associated(SECOND_MAC, NOW + 10, address=SECOND_CLIENT)
    world.link.run(NOW + 10)
    proxy.receive_datagram(b"\x03junk", FOREIGN_AGENT, MOBILE_IP_PORT, NOW + 11)
    texts = [repr(proxy.visitors()), repr(proxy.counters), repr(proxy.settings)]
    texts += [repr(event) for event in drain(proxy)]
    texts += [repr(proxy.host_associations.entries()), repr(CLIENT_SA)]
    texts += [repr(proxy.foreign_agents()), repr(proxy.subnet_map.entries())]
    assert len(texts) > 8
    for text in texts:
        for secret in (CLIENT_KEY, FOREIGN_HOME_KEY):
            assert secret.hex() not in text.lower()
            assert repr(secret) not in text
            assert repr(secret)[2:-1] not in text


# -- a silent home agent (faults, RFC 5944 §3.6.3, §3.7.1) -------------------------------


@pytest.mark.parametrize("pending_timeout", [7.0, 60.0], ids=["fa-answers-78", "fa-slower-than-us"])
def test_silent_home_agent_backs_off_reports_and_counts_every_reply(pending_timeout: float) -> None:
    """The foreign agent relays, the home agent never answers. With the FA's
    default 7 s pending timeout (RFC 5944 §3.7.1: it MAY drop a pending request
    after 7 s and SHOULD answer 78) the first 78 settles the registration as a
    denial by the foreign agent; the 78s for the retransmissions still pending
    there arrive after that and are *late* replies to our own requests, not
    unmatched ones (a review once saw 27 of them counted as unmatched in an
    hour). With an FA slower than our retransmissions, the registration fails
    for want of any reply and every 78 is late. Either way: rounds of at most
    max_attempts requests at least 1 s apart, backoff doubling to 600 s, the
    failure reported and in the visitor's reason, the FA's pending entries
    bounded, and no timer firing twice at one instant (no busy loop)."""
    world = make_world(
        foreign_agent_settings=ForeignAgentSettings(
            FOREIGN_AGENT, max_lifetime=600, advertisement_interval=0.0, pending_timeout=pending_timeout
        )
    )
    proxy, foreign_agent, link = world.proxy, world.foreign_agent, world.link
    link.silent.add(HOME_AGENT)
    most_pending = 0

    def watch() -> None:
        nonlocal most_pending
        most_pending = max(most_pending, foreign_agent.pending_count)

    link.on_step = watch
    proxy.client_associated(MAC, NOW, address=CLIENT)
    link.run(NOW)
    link.advance(NOW + 3600)
    visitor = proxy.visitor(MAC)
    assert visitor is not None

    # No busy loop: time only moves forward, and at most one timer per engine
    # fires at any one instant (the proxy's retransmission and the FA's
    # timeout may coincide).
    assert link.fired == sorted(link.fired)
    assert max(link.fired.count(t) for t in set(link.fired)) <= 2
    assert len(link.fired) < 200
    sent = [when for when, (source, t) in zip(link.log_times, link.log)
            if source == ACCESS_POINT and t.channel is Channel.REGISTRATION]
    assert min(b - a for a, b in pairwise(sent)) >= 1.0
    c, r = proxy.counters, proxy.reply_counters
    timeouts = foreign_agent.counters.registration_timeouts
    assert foreign_agent.counters.reg_requests_relayed == c.requests_sent == len(sent)
    assert most_pending <= foreign_agent.settings.max_pending_per_node
    assert c.accepted == 0 and c.unmatched_replies == 0 and c.bad_replies == 0
    assert c.replies_received == timeouts  # every 78 arrived and was one of ours
    events = drain(proxy)
    if pending_timeout == 7.0:
        # 0, 1, 3, 7 s: the 78 for the first one comes at 7 s, after the fourth.
        rounds = r.denials[ReplyCode.FA_REGISTRATION_TIMEOUT]
        assert c.requests_sent == 4 * rounds and c.retransmissions == 3 * rounds
        assert c.denied_by_foreign_agent == rounds and c.denied_by_home_agent == 0
        assert r.late_replies == timeouts - rounds
        assert c.registration_failures == 0
        assert visitor.state is VisitorState.DENIED
        assert visitor.last_code == ReplyCode.FA_REGISTRATION_TIMEOUT
        assert visitor.reason == f"denied by foreign agent {FOREIGN_AGENT}: code 78, registration timeout"
        reported = [e for e in events if isinstance(e, ClientRegistrationDenied)]
        assert reported == [ClientRegistrationDenied(MAC, CLIENT, 78)] * rounds
        starts = [0, 67, 194, 441, 928, 1535, 2142, 2749, 3356]
    else:
        rounds = c.registration_failures
        assert c.requests_sent == 5 * rounds and r.denials == {}
        assert r.late_replies == timeouts
        assert visitor.state in (VisitorState.FAILED, VisitorState.PENDING)
        reported = [e for e in events if isinstance(e, ClientRegistrationFailed)]
        assert reported == [ClientRegistrationFailed(MAC, CLIENT, "no reply")] * rounds
        starts = [0, 91, 242, 513, 1024, 1655, 2286, 2917, 3548]
        assert visitor.reason is not None and visitor.reason.startswith("no reply: 5 requests")
    round_starts = [t - NOW for t, previous in zip(sent, [None, *sent])
                    if previous is None or t - previous > 16]
    assert round_starts == starts
    assert visitor.backoff == 600.0

    # The home agent comes back: the next round registers and the backoff resets.
    link.silent.clear()
    link.advance(NOW + 3600 + 600)
    assert visitor.state is VisitorState.REGISTERED and visitor.backoff == 0.0
    assert visitor.reason is None and proxy.counters.unmatched_replies == 0



# -- choosing a foreign agent from its advertised bits (RFC 5944 §2.1.1, RFC 3024) ------

REVERSE = FOREIGN_AGENT_FLAGS | AdvertisementFlag.REVERSE_TUNNELING


def test_reverse_tunnel_prefers_a_foreign_agent_advertising_t() -> None:
    """RFC 3024 §3.1: T in the advertisement means the agent offers reverse
    tunnelling. Asked to reverse-tunnel, the proxy registers through an agent
    advertising T with T set, even when another was heard more recently; with
    only agents without T it registers through one of them without T (asking
    would only earn a 74) and says so in the visitor's reason."""
    settings = replace(DISCOVERING, reverse_tunnel=True)
    proxy = make_proxy(settings)
    second_care_of = IPv4Address("192.0.2.200")
    proxy.receive_icmp(advertisement(0, flags=REVERSE), FOREIGN_AGENT, NOW)
    proxy.receive_icmp(advertisement(0, care_of=second_care_of), SECOND_FOREIGN_AGENT, NOW + 1)
    proxy.client_associated(MAC, NOW + 2, address=CLIENT)
    [transmit] = proxy.datagrams_to_send()
    assert transmit.destination == FOREIGN_AGENT
    request = decode_request(transmit.data)
    assert request.flags & RequestFlag.REVERSE_TUNNELING
    assert request.care_of_address == CARE_OF_ADDRESS
    accept_all_sent(proxy, [transmit], NOW + 2)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    assert visitor.reason is None

    alone = make_proxy(settings)
    alone.receive_icmp(advertisement(0, care_of=second_care_of), SECOND_FOREIGN_AGENT, NOW)
    alone.client_associated(MAC, NOW + 1, address=CLIENT)
    [transmit] = alone.datagrams_to_send()
    assert transmit.destination == SECOND_FOREIGN_AGENT
    assert not decode_request(transmit.data).flags & RequestFlag.REVERSE_TUNNELING
    accept_all_sent(alone, [transmit], NOW + 1)
    visitor = alone.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    assert visitor.reason == (
        f"registered without reverse tunnelling: foreign agent {SECOND_FOREIGN_AGENT}"
        " does not advertise T (RFC 3024)"
    )


def accept_all_sent(proxy: ProxyAgent, transmits: list[Transmit], now: float) -> None:
    for transmit in transmits:
        request = decode_request(transmit.data)
        proxy.receive_datagram(reply_to(request), transmit.destination, MOBILE_IP_PORT, now)


@pytest.mark.parametrize(
    ("proxy_reverse", "home_agent_settings", "foreign_agent_settings", "code", "flags", "reason"),
    [
        (
            True,
            HomeAgentSettings(HOME_AGENT),
            ForeignAgentSettings(FOREIGN_AGENT, reverse_tunnel=False, advertisement_interval=0.0),
            ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE,
            [True, False],
            f"registered without reverse tunnelling: foreign agent {FOREIGN_AGENT}"
            " does not offer it (74) (RFC 3024)",
        ),
        (
            True,
            HomeAgentSettings(HOME_AGENT, reverse_tunnel=False),
            ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0),
            ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE,
            [True, False],
            f"registered without reverse tunnelling: home agent {HOME_AGENT}"
            " does not offer it (137) (RFC 3024)",
        ),
        (
            False,
            HomeAgentSettings(HOME_AGENT),
            ForeignAgentSettings(
                FOREIGN_AGENT, reverse_tunnel_required=True, advertisement_interval=0.0
            ),
            ReplyCode.FA_REVERSE_TUNNEL_MANDATORY,
            [False, True],
            None,
        ),
        (
            False,
            HomeAgentSettings(HOME_AGENT, reverse_tunnel_required=True),
            ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0),
            ReplyCode.HA_REVERSE_TUNNEL_MANDATORY,
            [False, True],
            None,
        ),
    ],
    ids=["fa-74", "ha-137", "fa-75", "ha-138"],
)
def test_reverse_tunnel_refused_or_required_is_asked_again_the_other_way(
    proxy_reverse: bool,
    home_agent_settings: HomeAgentSettings,
    foreign_agent_settings: ForeignAgentSettings,
    code: ReplyCode,
    flags: list[bool],
    reason: str | None,
) -> None:
    """RFC 3024 §3.3 / §4.2: an agent without reverse tunnelling answers a
    request with T by 74 (FA) or 137 (HA); one that requires it answers a
    request without T by 75 / 138. Backing off and asking the same thing again
    would be refused for ever, so the proxy asks again at once the other way,
    remembers what that agent said (renewals ask the same way), counts the
    denial by code and range, and tells in the reason when the client got less
    than configured."""
    world = make_world(
        replace(STATIC, reverse_tunnel=proxy_reverse),
        home_agent_settings=home_agent_settings,
        foreign_agent_settings=foreign_agent_settings,
    )
    proxy = world.proxy
    proxy.client_associated(MAC, NOW, address=CLIENT)
    world.link.run(NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    sent = [bool(r.flags & RequestFlag.REVERSE_TUNNELING) for r in world.proxy_requests()]
    assert sent == flags
    c, r = proxy.counters, proxy.reply_counters
    assert r.denials == {code: 1} and r.reverse_tunnel_retries == 1
    assert (c.denied_by_foreign_agent, c.denied_by_home_agent) == ((1, 0) if code < 128 else (0, 1))
    assert visitor.reason == reason
    assert drain(proxy)[-1] == ClientRegistered(MAC, CLIENT, HOME_AGENT, FOREIGN_AGENT, 600)
    binding = world.home_agent.bindings()[0]
    assert bool(binding.flags & RequestFlag.REVERSE_TUNNELING) == flags[-1]

    world.link.advance(NOW + 600 - 30)  # the renewal asks as the agent wants
    assert [bool(r.flags & RequestFlag.REVERSE_TUNNELING) for r in world.proxy_requests()][2:] == [flags[-1]]
    assert visitor.state is VisitorState.REGISTERED and r.reverse_tunnel_retries == 1


def test_reverse_tunnel_required_by_one_agent_and_refused_by_the_other_is_a_denial() -> None:
    """The foreign agent requires reverse tunnelling (75), the home agent does not
    offer it (137): nothing the proxy can ask is accepted. After one try each
    way it is a denial that backs off like any other (no loop)."""
    world = make_world(
        STATIC,
        home_agent_settings=HomeAgentSettings(HOME_AGENT, reverse_tunnel=False),
        foreign_agent_settings=ForeignAgentSettings(
            FOREIGN_AGENT, reverse_tunnel_required=True, advertisement_interval=0.0
        ),
    )
    proxy = world.proxy
    proxy.client_associated(MAC, NOW, address=CLIENT)
    world.link.run(NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DENIED
    sent = [bool(r.flags & RequestFlag.REVERSE_TUNNELING) for r in world.proxy_requests()]
    assert sent == [False, True, False]
    assert proxy.reply_counters.denials == {75: 2, 137: 1}
    assert proxy.reply_counters.reverse_tunnel_retries == 2
    assert visitor.last_code == ReplyCode.FA_REVERSE_TUNNEL_MANDATORY
    assert visitor.reason == (
        f"denied by foreign agent {FOREIGN_AGENT}: code 75, reverse tunnel mandatory"
    )
    assert proxy.get_timer() == NOW + 60


def test_busy_foreign_agent_still_renews_the_clients_it_serves() -> None:
    """RFC 5944 §2.1.1: B means no registrations from *additional* mobile nodes.
    A client registered through the agent before it became busy renews through
    it (no hand-over to another agent, no gap in service); a new client waits,
    with the reason saying why."""
    proxy = make_proxy(DISCOVERING)
    proxy.receive_icmp(advertisement(0), FOREIGN_AGENT, NOW)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    accept_all(proxy, NOW)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    busy = FOREIGN_AGENT_FLAGS | AdvertisementFlag.BUSY
    proxy.receive_icmp(advertisement(1, flags=busy), FOREIGN_AGENT, NOW + 10)

    proxy.client_associated(SECOND_MAC, NOW + 20, address=SECOND_CLIENT)
    second = proxy.visitor(SECOND_MAC)
    assert second is not None and second.state is VisitorState.WAITING_FOR_AGENT
    assert second.reason == "every foreign agent heard is busy (B bit)"
    assert proxy.datagrams_to_send() == []

    renew_at = NOW + 300 - 30  # the FA's advertised Registration Lifetime is 300
    proxy.handle_timer(renew_at)
    [transmit] = proxy.datagrams_to_send()
    assert transmit.destination == FOREIGN_AGENT
    assert decode_request(transmit.data).care_of_address == CARE_OF_ADDRESS
    assert visitor.state is VisitorState.PENDING


def test_renewal_stays_with_the_foreign_agent_that_serves_the_client() -> None:
    """Two agents advertise on the link; the client renews through the one it
    is registered with even when the other was heard more recently (a renewal
    that hopped between agents would move the tunnel every time)."""
    proxy = make_proxy(DISCOVERING)
    proxy.receive_icmp(advertisement(0), FOREIGN_AGENT, NOW)
    proxy.client_associated(MAC, NOW, address=CLIENT)
    accept_all(proxy, NOW)
    second_care_of = IPv4Address("192.0.2.200")
    proxy.receive_icmp(advertisement(0, care_of=second_care_of), SECOND_FOREIGN_AGENT, NOW + 100)
    proxy.receive_icmp(advertisement(1), FOREIGN_AGENT, NOW + 50)
    proxy.handle_timer(NOW + 270)
    [transmit] = proxy.datagrams_to_send()
    assert transmit.destination == FOREIGN_AGENT
    # A new client takes the most recently heard agent.
    proxy.client_associated(SECOND_MAC, NOW + 271, address=SECOND_CLIENT)
    [transmit] = proxy.datagrams_to_send()
    assert transmit.destination == SECOND_FOREIGN_AGENT


@pytest.mark.parametrize(
    "flags",
    [FOREIGN_AGENT_FLAGS, AdvertisementFlag.FOREIGN_AGENT],
    ids=["registration-required", "registration-not-required"],
)
def test_registration_always_goes_through_the_foreign_agent(flags: AdvertisementFlag) -> None:
    """RFC 5944 §2.1.1: R means registration through a foreign agent is required
    even with a co-located care-of address. The proxy speaks for clients that
    have no co-located address, so it registers through the agent and its
    advertised care-of address whether R is set or not — never straight to the
    home agent (only a client back home deregisters there, §3.6.1.2)."""
    world = make_world(DISCOVERING)
    world.proxy.receive_icmp(advertisement(0, flags=flags, care_of=FOREIGN_AGENT), FOREIGN_AGENT, NOW)
    register(world)
    [request] = world.proxy_requests()
    assert request.care_of_address == FOREIGN_AGENT  # the one advertised
    assert [t.destination for t in world.link.sent_by(ACCESS_POINT)
            if t.channel is Channel.REGISTRATION] == [FOREIGN_AGENT]
