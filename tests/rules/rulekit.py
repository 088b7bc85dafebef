"""Helpers for the rule tests: a host builder, frame builders and reception queries.

Every expectation in tests/rules is derived from docs/kernel-macvlan.md (the spec), not from
what the engine happens to return. Helpers here only build topologies and read outcomes.
"""

from __future__ import annotations

import struct
from collections import Counter

from macvlan_sim.model.constants import MacvlanFlag, Mode, PktType
from macvlan_sim.model.host import Host
from macvlan_sim.model.mac import eth_hash, parse_mac

L_MAC = parse_mac("02:00:00:00:00:01")
EXT = parse_mac("0a:00:00:00:00:01")
EXT2 = parse_mac("0a:00:00:00:00:02")
UNKNOWN = parse_mac("0a:00:00:00:99:99")
BCAST = b"\xff" * 6
ALL_HOSTS = parse_mac("01:00:5e:00:00:01")
ALL_NODES = parse_mac("33:33:00:00:00:01")
TEST_ETHERTYPE = 0x88B5
INCOMING = frozenset(PktType) - {PktType.OUTGOING}


def mac(n: int) -> bytes:
    """A distinct locally administered unicast MAC: 02:00:00:00:HH:LL with HHLL = 0x100 + n."""
    v = 0x100 + n
    return bytes([0x02, 0, 0, 0, (v >> 8) & 0xFF, v & 0xFF])


def group(n: int) -> bytes:
    """An IPv4-style multicast MAC 01:00:5e:00:HH:LL."""
    return bytes([0x01, 0x00, 0x5E, 0x00, (n >> 8) & 0xFF, n & 0xFF])


def frame(
    dst: bytes,
    src: bytes = EXT,
    ethertype: int = TEST_ETHERTYPE,
    size: int = 60,
    payload: bytes = b"MVO-test",
) -> bytes:
    """An Ethernet frame of ``size`` bytes (padded with zeros)."""
    data = dst + src + struct.pack("!H", ethertype) + payload
    return data.ljust(size, b"\x00")


def tagged(
    dst: bytes,
    src: bytes = EXT,
    tags: tuple[tuple[int, int], ...] = ((0x8100, 10),),
    ethertype: int = TEST_ETHERTYPE,
    size: int = 60,
    payload: bytes = b"MVO-test",
) -> bytes:
    """A frame with in-band tags ``(tpid, tci)`` from outermost to innermost."""
    data = dst + src
    for tpid, tci in tags:
        data += struct.pack("!HH", tpid, tci)
    data += struct.pack("!H", ethertype) + payload
    return data.ljust(size, b"\x00")


def new_host(
    *,
    filter_slots: int | None = None,
    ipv6: bool = False,
    hash_filters: bool = False,
    seed: int = 0,
    lower_mac: bytes = L_MAC,
) -> Host:
    h = Host(ipv6=ipv6, hash_filters=hash_filters, seed=seed)
    h.add_lower("lower", lower_mac, filter_slots=filter_slots)
    return h


def add(
    h: Host,
    name: str,
    mode: Mode | None = Mode.BRIDGE,
    mac_: bytes | None = None,
    *,
    up: bool = True,
    link: str = "lower",
    flags: MacvlanFlag = MacvlanFlag.NONE,
    **kw,
):
    dev = h.add_macvlan(name, link, mode=mode, mac=mac_, flags=flags, **kw)
    if up:
        h.set_up(name)
    return dev


def got(out, *, incoming_only: bool = True) -> Counter:
    """How many copies each observation point got (OUTGOING taps excluded by default)."""
    return Counter(
        r.point for r in out.receptions if not incoming_only or r.pkttype != PktType.OUTGOING
    )


def at(out, point: str) -> list:
    return [r for r in out.receptions if r.point == point]


def incoming_at(out, point: str) -> list:
    return [r for r in at(out, point) if r.pkttype != PktType.OUTGOING]


def kinds(out, point: str) -> list[PktType]:
    return [r.pkttype for r in incoming_at(out, point)]


def order(out, names) -> list[str]:
    """The order in which the devices in ``names`` received (incoming) copies."""
    wanted = set(names)
    return [r.point for r in out.receptions if r.point in wanted and r.pkttype in INCOMING]


def has_rule(reception, prefix: str) -> bool:
    return any(step.startswith(prefix) for step in reception.path)


def delta(out, dev: str) -> dict[str, int]:
    """Non-zero per-frame counter changes on ``dev``."""
    return {k: v for k, v in out.counters.get(dev, {}).items() if v}


def same_bucket_macs(count: int, start: int = 0) -> list[bytes]:
    """``count`` MACs of the form 02:00:00:00:HH:LL that share one vlan_hash bucket."""
    buckets: dict[int, list[bytes]] = {}
    n = start
    while True:
        m = mac(n)
        b = buckets.setdefault(eth_hash(m), [])
        b.append(m)
        if len(b) == count:
            return b
        n += 1
