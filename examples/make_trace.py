"""Write examples/trace.pcap: frames that exercise each dispatch rule on examples/host.topo.

Deterministic (fixed timestamps, no randomness), so the committed trace can be regenerated and
compared byte for byte: ``python examples/make_trace.py --check``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

OUT = Path(__file__).with_name("trace.pcap")
EXT = "0a:00:00:00:00:02"  # an outside host no device lists
MONITORED = "0a:00:00:00:00:01"  # listed by source-mode tap0
TRAPPED = "0a:00:00:00:00:66"  # listed by nodst source-mode trap0
BCAST = "ff:ff:ff:ff:ff:ff"


def udp(dst: str, src: str = EXT, payload: bytes = b"hello") -> Ether:
    return Ether(dst=dst, src=src) / ip4() / UDP() / Raw(payload)


def arp(src: str, target: str = "192.0.2.1") -> ARP:
    """Every field given, so nothing depends on the machine's interfaces or routes."""
    return ARP(hwsrc=src, psrc="192.0.2.7", hwdst="00:00:00:00:00:00", pdst=target)


def ip4(dst: str = "192.0.2.1", ident: int = 1) -> IP:
    return IP(src="192.0.2.7", dst=dst, id=ident)


def frames() -> list[Ether]:
    out: list[Ether] = [
        udp("02:00:00:00:01:00"),  # U7 to bridge web0
        udp("02:00:00:00:02:00"),  # U7 to vepa vm0
        udp("02:00:00:00:03:00"),  # U7 to private jail (unicast is never blocked)
        udp("02:00:00:00:04:00"),  # U4 source device's own MAC: the lower's stack
        udp("02:00:00:00:05:00"),  # U4 down device's MAC: the lower's stack
        udp("02:00:00:00:00:01"),  # the lower's own MAC
        udp("02:00:00:00:99:99"),  # unknown unicast
        Ether(dst=BCAST, src=EXT) / arp(EXT),  # M4 broadcast, queued
        udp("01:00:5e:00:00:fb"),  # mDNS group joined by web1
        udp("01:00:5e:01:02:03"),  # group joined by vm0
        udp("01:00:5e:7f:00:01"),  # a group nobody joined
        Ether(dst="33:33:ff:00:00:01", src=EXT)
        / IPv6(src="fe80::8", dst="ff02::1:ff00:1")
        / ICMPv6ND_NS(tgt="fe80::1"),
        udp("02:00:00:00:01:01", src=MONITORED),  # U1 source copy to tap0 + U7 web1
        Ether(dst=BCAST, src=MONITORED) / arp(MONITORED, "192.0.2.9"),  # source copy + flood
        udp("02:00:00:00:01:00", src=TRAPPED),  # nodst: trap0 steals it from web0
        Ether(dst=BCAST, src="02:00:00:00:02:00")
        / arp("02:00:00:00:02:00"),  # hairpinned from vepa vm0
        Ether(dst=BCAST, src="02:00:00:00:01:00")
        / arp("02:00:00:00:01:00"),  # hairpinned from bridge web0
        Ether(dst=BCAST, src="02:00:00:00:03:00")
        / arp("02:00:00:00:03:00"),  # M3 back to private jail only
        Ether(dst="02:00:00:00:10:00", src=EXT) / Dot1Q(vlan=10) / ip4() / UDP(),  # eth0.10
        Ether(dst=BCAST, src=EXT) / Dot1Q(vlan=10) / arp(EXT),  # VLAN 10 broadcast
        Ether(dst="02:00:00:00:01:00", src=EXT) / Dot1Q(vlan=20) / ip4() / UDP(),  # no subif
        Ether(dst=BCAST, src=EXT) / Dot1Q(vlan=0, prio=5) / arp(EXT),  # priority tag
        Ether(dst="01:80:c2:00:00:01", src=EXT, type=0x8808) / Raw(b"\x00\x01\xff\xff"),
    ]
    big = Ether(dst="01:00:5e:00:00:fb", src=EXT) / ip4("224.0.0.251", ident=7) / UDP()
    out += fragment(big / Raw(b"x" * 2400), fragsize=1000)  # M1: reassembled for web1
    for i in range(40):  # a little volume: alternating unicast and group traffic
        out.append(udp("02:00:00:00:01:00" if i % 2 else "01:00:5e:00:00:fb", payload=bytes([i])))
    return out


def build() -> bytes:
    pkts = frames()
    for i, pkt in enumerate(pkts):
        pkt.time = 1_700_000_000 + i / 1000
    wrpcap(str(OUT) + ".tmp", pkts)
    tmp = Path(str(OUT) + ".tmp")
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    args = parser.parse_args()
    data = build()
    if args.check:
        same = OUT.exists() and OUT.read_bytes() == data
        print("trace.pcap is up to date" if same else "trace.pcap differs from make_trace.py")
        return 0 if same else 1
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
