"""Capture IP-in-IP frames on an interface (AF_PACKET) and print their outer and
inner headers as JSON lines: ``python -m tests.lab.capture_ipip IFNAME COUNT``.
Prints ``armed`` once the socket is bound."""

from __future__ import annotations

import json
import socket
import sys


def main() -> None:
    ifname, count = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.bind((ifname, 0))
    print("armed", flush=True)
    seen = 0
    while seen < count:
        frame, meta = sock.recvfrom(65535)
        if meta[2] == socket.PACKET_OUTGOING:
            continue
        packet = frame[14:]
        if packet[9] != 4:
            continue
        inner = packet[(packet[0] & 0x0F) * 4:]
        print(json.dumps({
            "protocol": packet[9], "ttl": packet[8], "tos": packet[1],
            "df": bool(packet[6] & 0x40), "inner_df": bool(inner[6] & 0x40),
            "source": socket.inet_ntoa(packet[12:16]),
            "destination": socket.inet_ntoa(packet[16:20]),
            "inner_source": socket.inet_ntoa(inner[12:16]),
            "inner_destination": socket.inet_ntoa(inner[16:20]),
        }), flush=True)
        seen += 1


if __name__ == "__main__":
    main()
