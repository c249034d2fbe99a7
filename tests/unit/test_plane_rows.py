"""Real engines through the plane (agent/plane/rows.py -> stream -> codec ->
mirror -> agent/plane/render.py): what the mirror renders equals what
``agent/operational.py`` reads from the engines today — the home agent's
bindings after a resync and after deltas from its events (registrations,
simultaneous bindings, a move, a deregistration, a denial), and every role's
lists after a resync."""

from __future__ import annotations

from ipaddress import IPv4Address

from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import RequestFlag
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.operational import home_agent_state
from agent.plane import codec
from agent.plane import messages as m
from agent.plane.mirror import MirrorState, OperationalMirror
from agent.plane.render import binding_entries, mobile_node_counter_entries
from agent.plane.rows import HomeAgentBindings, HomeAgentMobileNodes, HomeAgentRecorder
from agent.plane.stream import StateStream
from agent.plane.tables import TableId

HOME_AGENT = IPv4Address("198.51.100.1")
FIRST = IPv4Address("198.18.0.0")
KEY = bytes(range(16))
NOW = 1_800_000_000.0


class Rig:
    def __init__(self) -> None:
        self.sa = SecurityAssociation(256, KEY)
        table = SecurityAssociationTable()
        table.add_range(FIRST, FIRST + 65535, self.sa)
        self.agent = HomeAgent(HomeAgentSettings(HOME_AGENT), mobile_nodes=table)
        self.wire: list[bytes] = []
        self.stream = StateStream(
            epoch=1, sources={TableId.BINDING: HomeAgentBindings(self.agent),
                              TableId.MOBILE_NODE: HomeAgentMobileNodes(self.agent)},
            send=lambda message: self.wire.append(codec.encode(message)), clock=lambda: 0.0)
        self.mirror = OperationalMirror()
        self.recorder = HomeAgentRecorder(self.agent, self.stream, clock=lambda: NOW)
        self.stream.add_drain(self.recorder.drain)
        self.identification = 0

    def register(self, home: IPv4Address, care_of: str, *, lifetime: int = 600,
                 flags: RequestFlag = RequestFlag(0), sa: SecurityAssociation | None = None) -> None:
        self.identification += 1
        self.agent.receive_datagram(
            build_request(home_address=home, home_agent=HOME_AGENT,
                          care_of_address=IPv4Address(care_of),
                          identification=replay.ntp_identification(NOW, self.identification),
                          lifetime=lifetime, sa=sa or self.sa, flags=flags),
            IPv4Address(care_of), 434, NOW)
        self.agent.datagrams_to_send()
        while (event := self.agent.next_event()) is not None:
            self.recorder(event)

    def deliver(self) -> None:
        """The turn's flush, then the period's counters (the marked
        mobile-node-counters rows go with them)."""
        self.stream.flush()
        self.stream.send_counters(NOW, {})
        for body in codec.FrameReader().feed(b"".join(self.wire)):
            assert self.mirror.apply(codec.decode(body), NOW) is None  # type: ignore[arg-type]
        self.wire.clear()

    def check(self) -> None:
        self.deliver()
        expected = home_agent_state(self.agent, NOW + 7)
        assert binding_entries(self.mirror.sorted_rows(TableId.BINDING), NOW + 7) == expected["binding"]
        assert mobile_node_counter_entries(self.mirror.sorted_rows(TableId.MOBILE_NODE),
                                           self.mirror.sorted_rows(TableId.BINDING), NOW + 7) \
            == expected["mobile-node-counters"]


def test_mirror_renders_what_the_engine_holds() -> None:
    rig = Rig()
    for i in range(40):
        simultaneous = i % 4 == 0
        for care_of in (("203.0.113.9", "203.0.113.2") if simultaneous else ("203.0.113.1",)):
            rig.register(FIRST + (40 - i), care_of, flags=RequestFlag.SIMULTANEOUS_BINDINGS
                         if simultaneous else RequestFlag.REVERSE_TUNNELING)
    rig.wire.clear()  # deltas before any resync are not the mirror's business
    rig.stream.begin_resync()
    while rig.stream.resync_step():
        pass
    rig.check()
    assert rig.mirror.state is MirrorState.SYNCED
    assert rig.mirror.count(TableId.BINDING) == rig.agent.binding_count == 50

    # Then the engine's events only.
    rig.register(FIRST + 100, "203.0.113.5")  # a new node
    rig.register(FIRST + 3, "203.0.113.7")  # moves: its binding is replaced
    rig.register(FIRST + 5, "203.0.113.1", lifetime=0)  # deregistration (RFC 5944 §3.8.3)
    rig.register(FIRST + 6, "203.0.113.1", sa=SecurityAssociation(256, bytes(16)))  # denied 131
    rig.check()
    node = rig.mirror.row(TableId.MOBILE_NODE, (int(FIRST + 6),))
    assert node is not None and node[2] == 1 and node[6] == 131  # one denial, code 131
    assert rig.mirror.count(TableId.BINDING) == rig.agent.binding_count


def test_a_mobile_node_row_goes_with_the_counters_once_per_period() -> None:
    """The binding's row goes in the turn's StateDeltas; the node's counter
    row is marked and sent once, with the period's Counters, however many
    times it changed."""
    rig = Rig()
    rig.stream.begin_resync()
    rig.stream.resync_step()
    rig.wire.clear()
    rig.register(FIRST + 1, "203.0.113.1")
    rig.register(FIRST + 1, "203.0.113.1")  # a renewal
    rig.stream.flush()
    rig.stream.send_counters(NOW, {"home-agent": {"registrations-accepted": 2}})
    messages = [codec.decode(body) for body in codec.FrameReader().feed(b"".join(rig.wire))]
    assert [type(message) for message in messages] == [m.StateDeltas, m.StateDeltas, m.Counters]
    kinds = [[(d.table, d.kind) for d in message.deltas] for message in messages[:2]]  # type: ignore[union-attr]
    assert kinds == [[(TableId.BINDING, m.ChangeKind.CREATED), (TableId.BINDING, m.ChangeKind.MODIFIED)],
                     [(TableId.MOBILE_NODE, m.ChangeKind.MODIFIED)]]
    node = messages[1].deltas[0].row  # type: ignore[union-attr]
    assert node is not None and node[0] == int(FIRST + 1) and node[1] == 2  # both accepted
    rig.wire.clear()
    rig.stream.send_counters(NOW + 1, {})  # nothing marked since: no deltas
    assert [type(codec.decode(body)) for body in codec.FrameReader().feed(b"".join(rig.wire))] \
        == [m.Counters]


def test_events_drained_after_the_binding_is_gone_send_a_deletion() -> None:
    """An EngineRunner drains up to 64 datagrams before it reads the events:
    a BindingCreated may be read after the same batch deregistered it."""
    rig = Rig()
    rig.stream.begin_resync()
    rig.stream.resync_step()
    for identification, lifetime in ((1, 600), (2, 0)):
        rig.agent.receive_datagram(
            build_request(home_address=FIRST + 9, home_agent=HOME_AGENT,
                          care_of_address=IPv4Address("203.0.113.1"),
                          identification=replay.ntp_identification(NOW, identification),
                          lifetime=lifetime, sa=rig.sa),
            IPv4Address("203.0.113.1"), 434, NOW)
    rig.agent.datagrams_to_send()
    while (event := rig.agent.next_event()) is not None:
        rig.recorder(event)
    rig.check()
    assert rig.mirror.count(TableId.BINDING) == 0


def test_every_role_rendered_from_the_mirror_equals_today() -> None:
    """The lab network of test_operational (HA, FA, proxy with five
    registered clients and one at home): resync all four tables into a
    mirror, render, compare with agent/operational.py."""
    from agent.operational import foreign_agent_state, proxy_state
    from agent.plane.render import mobile_node_counter_entries, proxy_visitor_entries, visitor_entries
    from agent.plane.rows import ForeignAgentVisitors, ProxyVisitors
    from tests.unit.test_operational import NOW as LAB_NOW
    from tests.unit.test_operational import _network

    home_agent, foreign_agent, proxy = _network()
    wire: list[bytes] = []
    stream = StateStream(epoch=3, sources={
        TableId.BINDING: HomeAgentBindings(home_agent),
        TableId.MOBILE_NODE: HomeAgentMobileNodes(home_agent),
        TableId.VISITOR: ForeignAgentVisitors(foreign_agent),
        TableId.PROXY_CLIENT: ProxyVisitors(proxy),
    }, send=lambda message: wire.append(codec.encode(message)), clock=lambda: 0.0)
    mirror = OperationalMirror()
    stream.begin_resync()
    while stream.resync_step():
        pass
    for body in codec.FrameReader().feed(b"".join(wire)):
        assert mirror.apply(codec.decode(body), LAB_NOW) is None  # type: ignore[arg-type]
    assert mirror.state is MirrorState.SYNCED
    later = LAB_NOW + 42.5
    ha_state = home_agent_state(home_agent, later)
    bindings = mirror.sorted_rows(TableId.BINDING)
    assert binding_entries(bindings, later) == ha_state["binding"]
    assert mobile_node_counter_entries(mirror.sorted_rows(TableId.MOBILE_NODE), bindings, later) \
        == ha_state["mobile-node-counters"]
    assert visitor_entries(mirror.sorted_rows(TableId.VISITOR), later) \
        == foreign_agent_state(foreign_agent, later)["visitor"]
    assert proxy_visitor_entries(mirror.sorted_rows(TableId.PROXY_CLIENT), later) \
        == proxy_state(proxy, later)["visitor"]
    assert mirror.count(TableId.PROXY_CLIENT) == 6 and mirror.count(TableId.VISITOR) == 5


def test_foreign_agent_and_proxy_deltas_keep_the_mirror_equal() -> None:
    """The lab network of test_operational built while a stream follows it
    from an empty resync: the FA's VisitorAdded/VisitorRemoved and the
    proxy's client events (each naming a MAC) are the only source of the
    mirror's visitor rows; after the registrations, and after a client
    leaves (deregistered through the FA: RFC 5944 §3.8.3), the mirror renders
    what agent/operational.py reads."""
    import random
    from ipaddress import IPv4Network

    from agent.mobileip.advertisement import AgentAdvertisement
    from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
    from agent.mobileip.proxy import ProxyAgent, ProxySettings
    from agent.mobileip.subnet_map import SubnetMap
    from agent.mobileip.numbers import AdvertisementFlag
    from agent.mobileip.outputs import Channel
    from agent.operational import foreign_agent_state, proxy_state
    from agent.plane.render import proxy_visitor_entries, visitor_entries
    from agent.plane.rows import ForeignAgentVisitors, ProxyVisitors, foreign_agent_deltas, proxy_deltas

    ha_address, fa_address, ap_address = (IPv4Address("198.51.100.1"), IPv4Address("198.51.100.2"),
                                          IPv4Address("198.51.100.3"))
    sa = SecurityAssociation(256, KEY)
    hosts = SecurityAssociationTable()
    hosts.add_range(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"), sa)
    ha = HomeAgent(HomeAgentSettings(ha_address), mobile_nodes=hosts, rng=random.Random(1))
    fa = ForeignAgent(ForeignAgentSettings(fa_address, advertisement_interval=0), rng=random.Random(2))
    proxy = ProxyAgent(ProxySettings(reverse_tunnel=True, solicit=False),
                       subnet_map=SubnetMap({IPv4Network("192.0.2.0/24"): ha_address}),
                       host_associations=hosts, rng=random.Random(3))
    wire: list[bytes] = []
    stream = StateStream(epoch=5, sources={
        TableId.VISITOR: ForeignAgentVisitors(fa), TableId.PROXY_CLIENT: ProxyVisitors(proxy)},
        send=lambda message: wire.append(codec.encode(message)), clock=lambda: 0.0)
    mirror = OperationalMirror()
    stream.begin_resync()
    while stream.resync_step():
        pass
    engines = {ha_address: (ha, 434), fa_address: (fa, 434), ap_address: (proxy, 5000)}

    def settle(touched_macs: tuple[str, ...] = (), now: float = NOW) -> None:
        for mac in touched_macs:  # client events the proxy took without an event
            for delta in proxy_deltas(proxy, mac):
                stream.record(*delta)
        moved = True
        while moved:
            moved = False
            for source, (engine, port) in list(engines.items()):
                for transmit in engine.datagrams_to_send():
                    if transmit.channel is Channel.REGISTRATION and transmit.destination in engines:
                        moved = True
                        engines[transmit.destination][0].receive_datagram(transmit.data, source, port, now)
            while (event := fa.next_event()) is not None:
                for delta in foreign_agent_deltas(fa, event):
                    stream.record(*delta)
            while (event := proxy.next_event()) is not None:
                for delta in proxy_deltas(proxy, getattr(event, "mac", None)):
                    stream.record(*delta)
            while ha.next_event() is not None:
                pass
        stream.flush()
        for body in codec.FrameReader().feed(b"".join(wire)):
            assert mirror.apply(codec.decode(body), NOW) is None  # type: ignore[arg-type]
        wire.clear()
        later = now + 9.5
        assert visitor_entries(mirror.sorted_rows(TableId.VISITOR), later) \
            == foreign_agent_state(fa, later)["visitor"]
        assert proxy_visitor_entries(mirror.sorted_rows(TableId.PROXY_CLIENT), later) \
            == proxy_state(proxy, later)["visitor"]

    advert = AgentAdvertisement(300, 600, AdvertisementFlag.FOREIGN_AGENT | AdvertisementFlag.REVERSE_TUNNELING
                                | AdvertisementFlag.REGISTRATION_REQUIRED, (fa_address,))
    proxy.receive_icmp(advert.encode(), fa_address, NOW)
    macs = tuple(f"02:00:00:00:00:0{i}" for i in range(5))
    for i, mac in enumerate(macs):
        proxy.client_associated(mac, NOW, address=IPv4Address("192.0.2.10") + i, interface="wlan0")
    settle(macs)
    assert mirror.count(TableId.VISITOR) == fa.visitor_count == 5
    assert mirror.count(TableId.PROXY_CLIENT) == 5
    proxy.client_disassociated(macs[2], NOW)
    settle((macs[2],))
    assert mirror.count(TableId.VISITOR) == fa.visitor_count == 4
    # The proxy renews its clients before their lifetime ends, through the
    # same FA (same care-of address, RFC 5944 §3.7.3.2): VisitorRenewed
    # carries each visitor's new identification and expiry to the mirror.
    before = {v.home_address: v.expires_at for v in fa.visitors()}
    now = NOW
    for _ in range(16):
        when = proxy.get_timer()
        assert when is not None
        now = max(now, when)
        proxy.handle_timer(now)
        settle(now=now)
        if all(v.expires_at > before[v.home_address] for v in fa.visitors()):
            break
    assert all(v.expires_at > before[v.home_address] for v in fa.visitors())
    assert sorted(row[9] for row in mirror.rows(TableId.VISITOR)) \
        == sorted(v.expires_at for v in fa.visitors())


def test_tunnel_deltas_keep_the_mirror_equal_to_the_data_plane() -> None:
    """The data plane's tunnels (RFC 2003, one per remote endpoint, shared by
    the bindings through it) streamed from ``DataPlane.on_tunnel_change``: a
    binding, a second one through the same care-of address, a move, a
    deregistration; the mirror renders what ``DataPlaneService.state()``
    reads. (The kernel is the test_dataplane fake rtnetlink.)"""
    from agent.dataplane.kernel import KernelIpipTunnels
    from agent.dataplane.plane import DataPlane, DataPlaneSettings
    from agent.dataplane.routes import KernelRoutes
    from agent.dataplane.service import DataPlaneService
    from agent.mobileip.events import BindingCreated, BindingDeleted, RemovalReason
    from agent.plane.render import tunnel_entries
    from agent.plane.rows import DataPlaneTunnels, tunnel_deltas
    from tests.unit.test_dataplane import FakeArp, FakeNetlink

    netlink = FakeNetlink()
    plane = DataPlane(DataPlaneSettings(home_interface="home0"),
                      tunnels=KernelIpipTunnels(HOME_AGENT, netlink=netlink),  # type: ignore[arg-type]
                      routes=KernelRoutes(netlink), arp=FakeArp())  # type: ignore[arg-type]
    service = DataPlaneService(plane, netlink, "kernel-ipip")  # type: ignore[arg-type]
    wire: list[bytes] = []
    stream = StateStream(epoch=9, sources={TableId.TUNNEL: DataPlaneTunnels(plane)},
                         send=lambda message: wire.append(codec.encode(message)), clock=lambda: 0.0)
    plane.on_tunnel_change = lambda remote: [stream.record(*d) for d in tunnel_deltas(plane, remote)]
    mirror = OperationalMirror()
    coa_a, coa_b = IPv4Address("198.51.100.6"), IPv4Address("198.51.100.10")
    plane.handle("home-agent", BindingCreated(FIRST + 1, coa_a, 600, coa_a))  # before the resync
    stream.begin_resync()
    while stream.resync_step():
        pass

    def check(expected_tunnels: int) -> None:
        stream.flush()
        for body in codec.FrameReader().feed(b"".join(wire)):
            assert mirror.apply(codec.decode(body), NOW) is None  # type: ignore[arg-type]
        wire.clear()
        assert tunnel_entries(mirror.sorted_rows(TableId.TUNNEL)) == service.state().get("tunnel", [])
        assert mirror.count(TableId.TUNNEL) == expected_tunnels

    check(1)
    plane.handle("home-agent", BindingCreated(FIRST + 2, coa_a, 600, coa_a))  # users 2
    check(1)
    assert mirror.row(TableId.TUNNEL, (int(coa_a),))[3] == 2  # type: ignore[index]
    plane.handle("home-agent", BindingCreated(FIRST + 2, coa_b, 600, coa_b))  # moves
    check(2)
    plane.handle("home-agent", BindingDeleted(FIRST + 1, coa_a, RemovalReason.DEREGISTERED))
    check(1)
    assert mirror.row(TableId.TUNNEL, (int(coa_a),)) is None
