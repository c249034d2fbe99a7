"""Traffic for the namespace labs (no ping/arping binaries needed).

    python3 -m tools.lab.traffic ping --source S --destination D [--count N]
    python3 -m tools.lab.traffic echo-server --address A --port P
    python3 -m tools.lab.traffic tcp-client --source S --destination D --port P
    python3 -m tools.lab.traffic spoof --outer-source S --outer-destination D \
        --inner-source S2 --inner-destination D2 [--count N]

``ping`` prints one JSON line; ``echo-server`` prints ``peer ADDRESS PORT`` for
each connection and echoes lines; ``tcp-client`` prints ``connected``, then
sends each stdin line and prints ``echo <line>`` (or ``timeout``). ``spoof``
sends IP-in-IP with a forged outer source. ``announce`` sends one gratuitous
ARP Request for an address on an interface (RFC 5227 §2.3), as a client stack
does after a (re)association; ``radio`` sends such announcements and
EAPOL-Logoffs on command. ``tcp-sink`` and ``tcp-source`` measure one TCP
stream: the source writes paced, counted bytes until its stdin closes; the sink
reports the bytes, their digest and the longest gap between arrivals."""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import time

from agent.dataplane.packet import encapsulate


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(identifier: int, sequence: int, payload: bytes = b"proxymip" * 4) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, identifier, sequence)
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), identifier, sequence) + payload


def ping(source: str, destination: str, count: int, interval: float, timeout: float) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.bind((source, 0))
    identifier = os.getpid() & 0xFFFF
    rtts: list[float] = []
    for sequence in range(1, count + 1):
        sent = time.monotonic()
        sock.sendto(icmp_echo(identifier, sequence), (destination, 0))
        deadline = sent + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            packet, (peer, _) = sock.recvfrom(65535)
            icmp = packet[(packet[0] & 0x0F) * 4:]
            kind, _, _, got_id, got_seq = struct.unpack("!BBHHH", icmp[:8])
            if kind == 0 and got_id == identifier and got_seq == sequence and peer == destination:
                rtts.append((time.monotonic() - sent) * 1000)
                break
        if sequence < count:
            time.sleep(interval)
    return {"sent": count, "received": len(rtts), "rtt_ms": [round(r, 3) for r in rtts]}


def echo_server(address: str, port: int) -> None:
    server = socket.create_server((address, port), reuse_port=False)
    print("listening", flush=True)
    sockets = [server]
    while True:
        ready, _, _ = select.select(sockets, [], [])
        for sock in ready:
            if sock is server:
                conn, (peer, peer_port) = server.accept()
                print(f"peer {peer} {peer_port}", flush=True)
                sockets.append(conn)
                continue
            data = sock.recv(65535)
            if not data:
                sockets.remove(sock)
                sock.close()
            else:
                sock.sendall(data)


def tcp_client(source: str, destination: str, port: int, timeout: float) -> None:
    sock = socket.create_connection((destination, port), timeout=timeout, source_address=(source, 0))
    print(f"connected {sock.getsockname()[0]} {sock.getsockname()[1]}", flush=True)
    for line in sys.stdin:
        message = line.rstrip("\n").encode() + b"\n"
        sock.settimeout(timeout)
        try:
            sock.sendall(message)
            got = b""
            while not got.endswith(b"\n"):
                chunk = sock.recv(65535)
                if not chunk:
                    print("closed", flush=True)
                    return
                got += chunk
        except TimeoutError:
            # TCP keeps retransmitting; a later line may still get through.
            print("timeout", flush=True)
            continue
        print("echo " + got.decode().rstrip("\n"), flush=True)


def spoof(outer_source: str, outer_destination: str, inner_source: str,
          inner_destination: str, count: int) -> None:
    icmp = icmp_echo(0x5555, 1)
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                        socket.inet_aton(inner_source), socket.inet_aton(inner_destination)) + icmp
    packet = encapsulate(inner, socket.inet_aton(outer_source), socket.inet_aton(outer_destination))
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as sock:
        for _ in range(count):
            sock.sendto(packet, (outer_destination, 0))
    print(json.dumps({"sent": count}), flush=True)


def udp_blast(source: str, destination: str, port: int, size: int, duration: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    payload = bytes(size)
    address = (destination, port)
    sent = errors = 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        for _ in range(256):
            try:
                sock.sendto(payload, address)
                sent += 1
            except OSError:
                errors += 1
    print(json.dumps({"sent": sent, "errors": errors, "seconds": duration}), flush=True)


def udp_sink(address: str, port: int, duration: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((address, port))
    print("listening", flush=True)
    buffer = bytearray(65535)
    packets = octets = 0
    first = last = 0.0
    end = time.monotonic() + duration
    sock.settimeout(0.2)
    while time.monotonic() < end:
        try:
            n = sock.recv_into(buffer)
        except TimeoutError:
            continue
        last = time.monotonic()
        if not packets:
            first = last
        packets += 1
        octets += n
    print(json.dumps({"packets": packets, "octets": octets, "first": first, "last": last}),
          flush=True)


def probe(source: str, destination: str, interval: float, duration: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.bind((source, 0))
    sock.setblocking(False)
    identifier = os.getpid() & 0xFFFF
    sent: dict[int, float] = {}
    replies: list[tuple[float, float]] = []
    sequence = 0
    start = time.monotonic()
    next_send = start
    while (now := time.monotonic()) < start + duration:
        if now >= next_send:
            sequence = (sequence + 1) & 0xFFFF
            sent[sequence] = now
            try:
                sock.sendto(icmp_echo(identifier, sequence), (destination, 0))
            except OSError:
                pass  # no route or no neighbour yet: that is the outage measured
            next_send += interval
        ready, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
        while ready:
            try:
                packet = sock.recv(65535)
            except BlockingIOError:
                break
            icmp = packet[(packet[0] & 0x0F) * 4:]
            kind, _, _, got_id, got_seq = struct.unpack("!BBHHH", icmp[:8])
            if kind == 0 and got_id == identifier and got_seq in sent:
                replies.append((sent.pop(got_seq), time.monotonic()))
    print(json.dumps({"sent": sequence, "replies": replies}), flush=True)


def announce(interface: str, address: str) -> None:
    from agent.dataplane.arp import gratuitous_arp_frame

    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806)) as sock:
        sock.bind((interface, 0x0806))
        mac = bytes(sock.getsockname()[4])
        sock.send(gratuitous_arp_frame(mac, socket.inet_aton(address)))


#: IEEE 802.1X PAE group address and EAPOL-Logoff (version 1, type 2, no body).
_PAE_GROUP = bytes.fromhex("0180c2000003")
_EAPOL_LOGOFF = b"\x01\x02\x00\x00"


def radio(address: str | None) -> None:
    """Link-layer frames on command (stdin lines), each answered by ``done``:
    ``announce IFACE`` sends a gratuitous ARP for ``address`` with IFACE's MAC
    (the client's stack after a (re)association); ``logoff IFACE MAC`` an
    EAPOL-Logoff from MAC (IEEE 802.1X; on a wired port what a Wi-Fi
    station's disassociation is). Raw frames, not a supplicant's state."""
    from agent.dataplane.arp import gratuitous_arp_frame

    sockets: dict[str, socket.socket] = {}
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        sock = sockets.get(words[1])
        if sock is None:
            sock = sockets[words[1]] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((words[1], 0))
        if words[0] == "logoff":
            sock.send(_PAE_GROUP + bytes.fromhex(words[2].replace(":", "")) + b"\x88\x8e"
                      + _EAPOL_LOGOFF)
        elif words[0] == "announce" and address is not None:
            mac = bytes(sock.getsockname()[4])
            sock.send(gratuitous_arp_frame(mac, socket.inet_aton(address)))
        print("done", flush=True)


def tcp_sink(address: str, port: int) -> None:
    """Accept one connection, read it to the end; print bytes, SHA-256 and the
    longest gap between two arrivals (after the first) as JSON."""
    import hashlib

    server = socket.create_server((address, port))
    print("listening", flush=True)
    conn, _ = server.accept()
    digest, total, longest, last, error = hashlib.sha256(), 0, 0.0, None, None
    while True:
        try:
            data = conn.recv(65536)
        except OSError as exc:  # a reset
            error = str(exc)
            break
        if not data:
            break
        now = time.monotonic()
        if last is not None:
            longest = max(longest, now - last)
        last = now
        digest.update(data)
        total += len(data)
    print(json.dumps({"bytes": total, "sha256": digest.hexdigest(),
                      "longest-gap-ms": round(longest * 1000, 1), "error": error}), flush=True)


def tcp_source(source: str, destination: str, port: int, rate: int, chunk: int) -> None:
    """Connect, write ``chunk`` bytes ``rate`` times a second (a counter's
    bytes) until stdin closes, then close; print bytes and SHA-256 as JSON."""
    import hashlib

    sock = socket.create_connection((destination, port), timeout=10, source_address=(source, 0))
    sock.settimeout(None)
    print("connected", flush=True)
    digest, total, sequence, error = hashlib.sha256(), 0, 0, None
    interval = 1.0 / rate
    next_send = time.monotonic()
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], max(0.0, next_send - time.monotonic()))
        if ready and not sys.stdin.readline():
            break
        if time.monotonic() < next_send:
            continue
        data = (sequence.to_bytes(8, "big") * (chunk // 8 + 1))[:chunk]
        try:
            sock.sendall(data)
        except OSError as exc:
            error = str(exc)
            break
        digest.update(data)
        total += len(data)
        sequence += 1
        next_send += interval
    if error is None:
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the sink closes after reading everything
    sock.close()
    print(json.dumps({"bytes": total, "sha256": digest.hexdigest(), "error": error}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ping")
    p.add_argument("--source", required=True)
    p.add_argument("--destination", required=True)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=1.0)
    s = sub.add_parser("echo-server")
    s.add_argument("--address", required=True)
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("tcp-client")
    c.add_argument("--source", required=True)
    c.add_argument("--destination", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--timeout", type=float, default=5.0)
    f = sub.add_parser("spoof")
    f.add_argument("--outer-source", required=True)
    f.add_argument("--outer-destination", required=True)
    f.add_argument("--inner-source", required=True)
    f.add_argument("--inner-destination", required=True)
    f.add_argument("--count", type=int, default=5)
    b = sub.add_parser("udp-blast")
    b.add_argument("--source", required=True)
    b.add_argument("--destination", required=True)
    b.add_argument("--port", type=int, default=9000)
    b.add_argument("--size", type=int, default=64)
    b.add_argument("--duration", type=float, default=2.0)
    k = sub.add_parser("udp-sink")
    k.add_argument("--address", default="0.0.0.0")
    k.add_argument("--port", type=int, default=9000)
    k.add_argument("--duration", type=float, default=3.0)
    r = sub.add_parser("probe")
    r.add_argument("--source", required=True)
    r.add_argument("--destination", required=True)
    r.add_argument("--interval", type=float, default=0.002)
    r.add_argument("--duration", type=float, default=10.0)
    a = sub.add_parser("announce")
    a.add_argument("--interface", required=True)
    a.add_argument("--address", required=True)
    d = sub.add_parser("radio")
    d.add_argument("--address")
    t = sub.add_parser("tcp-sink")
    t.add_argument("--address", required=True)
    t.add_argument("--port", type=int, required=True)
    o = sub.add_parser("tcp-source")
    o.add_argument("--source", required=True)
    o.add_argument("--destination", required=True)
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--rate", type=int, default=200)
    o.add_argument("--chunk", type=int, default=512)
    args = parser.parse_args(argv)
    if args.command == "announce":
        announce(args.interface, args.address)
    elif args.command == "radio":
        radio(args.address)
    elif args.command == "tcp-sink":
        tcp_sink(args.address, args.port)
    elif args.command == "tcp-source":
        tcp_source(args.source, args.destination, args.port, args.rate, args.chunk)
    elif args.command == "udp-blast":
        udp_blast(args.source, args.destination, args.port, args.size, args.duration)
    elif args.command == "udp-sink":
        udp_sink(args.address, args.port, args.duration)
    elif args.command == "probe":
        probe(args.source, args.destination, args.interval, args.duration)
    elif args.command == "ping":
        print(json.dumps(ping(args.source, args.destination, args.count, args.interval, args.timeout)),
              flush=True)
    elif args.command == "echo-server":
        echo_server(args.address, args.port)
    elif args.command == "tcp-client":
        tcp_client(args.source, args.destination, args.port, args.timeout)
    else:
        spoof(args.outer_source, args.outer_destination, args.inner_source,
              args.inner_destination, args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
