#!/usr/bin/env python3
"""What one SNMP datagram can cost the agent before anyone authenticated it,
since ``agent.snmp.screen`` looks at every datagram first (issue 13 item 2).

CPU per datagram, best of 5 runs of N calls each, in one process, every figure
beside a same-run reference (the ratio is the figure to compare across
machines):

1. on a typical v2c GetNext (one varbind): the version and community check
   (all the hot path pays before the BER fast path) and the full walk (paid
   by what goes on to pysnmp), each beside the BER fast path's decode of the
   same datagram;
2. the screen on a wrong-community datagram carrying a 60 KB sub-identifier
   (the audit's attack), beside (1)'s screen: it stops after the community;
3. the screen on the largest datagram it lets through (100 varbinds of 127
   five-octet sub-identifiers, ~64 KB), beside (1);
4. pysnmp's (pyasn1's) decode of the heaviest unauthenticated SNMPv3 message
   the screen lets through (128 varbinds), beside its decode of a one-varbind
   v3 message: what a v3 datagram with an unknown user can still cost, since
   USM needs the decoded message.

    .venv/bin/python tools/bench/snmp_screen_bench.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.snmp import ber, screen  # noqa: E402


def tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        head = bytes((length,))
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        head = bytes((0x80 | len(octets),)) + octets
    return bytes((tag,)) + head + content


def v2c(oids: list[bytes], *, community: bytes = b"public", pdu_type: int = 0xA1) -> bytes:
    varbinds = b"".join(tlv(0x30, tlv(0x06, oid) + b"\x05\x00") for oid in oids)
    pdu = tlv(pdu_type, b"\x02\x02\x30\x39\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbinds))
    return tlv(0x30, b"\x02\x01\x01" + tlv(0x04, community) + pdu)


def v3(oids: list[bytes]) -> bytes:
    header = tlv(0x30, b"\x02\x01\x01" + b"\x02\x03\x00\xff\xe3" + tlv(0x04, b"\x04") + b"\x02\x01\x03")
    usm = tlv(0x04, tlv(0x30, tlv(0x04, b"") + b"\x02\x01\x00\x02\x01\x00" + tlv(0x04, b"nobody")
                        + tlv(0x04, b"") + tlv(0x04, b"")))
    varbinds = b"".join(tlv(0x30, tlv(0x06, oid) + b"\x05\x00") for oid in oids)
    pdu = tlv(0xA0, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbinds))
    return tlv(0x30, b"\x02\x01\x03" + header + usm + tlv(0x30, tlv(0x04, b"") + tlv(0x04, b"") + pdu))


def per_call(function: Callable[[], object], calls: int) -> float:
    """Best of five runs, seconds per call."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    calls = parser.parse_args().calls
    from pyasn1.codec.ber import decoder
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message

    communities = {b"public"}
    sys_descr = b"\x2b\x06\x01\x02\x01\x01\x01\x00"
    typical = v2c([sys_descr])
    attack = v2c([b"\x2b" + b"\xff" * 60000 + b"\x7f"], community=b"wrong")
    widest_oid = b"\x2b" + bytes((0x8F, 0xFF, 0xFF, 0xFF, 0x7F)) * 126
    largest = v2c([widest_oid] * 100)
    heaviest_v3 = v3([b"\x2b" + b"\x01" * 20] * screen.MAX_REQUEST_VARBINDS)
    light_v3 = v3([sys_descr])
    assert screen.screen(typical, communities) is screen.Verdict.ACCEPT
    assert screen.screen(attack, communities) is screen.Verdict.BAD_COMMUNITY
    assert screen.screen(largest, communities) is screen.Verdict.ACCEPT and len(largest) <= 65507
    assert screen.screen(heaviest_v3, communities) is screen.Verdict.ACCEPT

    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
                                  "machine": platform.processor() or platform.machine(), "calls": calls}
    community_only = per_call(lambda: screen.screen(typical, communities, walk=False), calls)
    screen_typical = per_call(lambda: screen.screen(typical, communities), calls)
    fast_decode = per_call(lambda: ber.decode_request(typical), calls)
    results["1 version + community check, typical GetNext (us)"] = round(community_only * 1e6, 2)
    results["1 full walk, same datagram (us)"] = round(screen_typical * 1e6, 2)
    results["1 fast-path decode, same datagram (us, reference)"] = round(fast_decode * 1e6, 2)
    results["1 ratios check / walk to the decode"] = [round(community_only / fast_decode, 2),
                                                      round(screen_typical / fast_decode, 2)]
    screen_attack = per_call(lambda: screen.screen(attack, communities), calls)
    results["2 screen wrong community + 60 KB sub-identifier (us)"] = round(screen_attack * 1e6, 2)
    results["2 ratio to 1's screen"] = round(screen_attack / screen_typical, 2)
    screen_largest = per_call(lambda: screen.screen(largest, communities), max(1, calls // 20))
    results["3 screen largest accepted datagram, %d B (us)" % len(largest)] = round(screen_largest * 1e6, 1)
    results["3 ratio to 1's screen"] = round(screen_largest / screen_typical, 1)
    spec = SNMPv3Message()
    heavy = per_call(lambda: decoder.decode(heaviest_v3, asn1Spec=spec), max(1, calls // 100))
    light = per_call(lambda: decoder.decode(light_v3, asn1Spec=spec), max(1, calls // 10))
    results["4 pyasn1 decode, heaviest accepted unauthenticated v3 (ms)"] = round(heavy * 1e3, 2)
    results["4 pyasn1 decode, one-varbind v3 (ms, reference)"] = round(light * 1e3, 3)
    results["4 ratio"] = round(heavy / light, 1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
