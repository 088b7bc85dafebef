"""Synthetic traces for benchmarks and demos (``macvlan-sim gen``), written at array speed.

A trace comes with the topology it is meant for: ``devices`` macvlans on a veth lower (modes
in turn from ``modes``), plus what the shares need — a VLAN device with its own macvlan for
tagged frames, a source-mode device listing one outside host, a joined group. Frames are drawn
with a seeded generator: broadcast, multicast (the joined group), unknown unicast, tagged
(to the VLAN's macvlan), source (from the listed host), hairpin (a broadcast whose source is
one of the macvlans, as a reflective switch sends it back), and unicast to a random macvlan
for the rest. Sizes are fixed (``"64"``) or uniform over a range (``"64-1514"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from macvlan_sim.model.errors import SimError

LOWER_MAC = 0x020000000001
DEVICE_BASE = 0x020000100000
VLAN_DEVICE_MAC = 0x020000200000
OUTSIDE = 0x0A0000000002
LISTED = 0x0A0000000001
GROUP = 0x01005E0000FB
BROADCAST = 0xFFFFFFFFFFFF
UNKNOWN_BASE = 0x0A0000500000
VID = 10


@dataclass
class Shares:
    broadcast: float = 0.10
    multicast: float = 0.0
    unknown: float = 0.05
    tagged: float = 0.0
    source: float = 0.0
    hairpin: float = 0.0

    def check(self) -> None:
        values = vars(self).values()
        if any(not 0 <= v <= 1 for v in values) or sum(values) > 1:
            raise SimError("shares must be between 0 and 1 and add up to at most 1")


def parse_sizes(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        low, high = int(lo), int(hi or lo)
    except ValueError:
        raise SimError(f"sizes must be N or N-M (bytes), not {text!r}") from None
    if not 14 <= low <= high <= 65535:
        raise SimError(f"sizes {text!r} out of range (14 to 65535 bytes, low before high)")
    return low, high


def _mac(value: int) -> str:
    return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))


def topology_text(devices: int, shares: Shares, modes: tuple[str, ...] = ("bridge",)) -> str:
    lines = ["# written by `macvlan-sim gen`", "host ipv6 off"]
    lines.append(f"lower eth0 address {_mac(LOWER_MAC)} veth")
    names = []
    for i in range(devices):
        mode = modes[i % len(modes)]
        lines.append(
            f"ip link add mv{i} link eth0 address {_mac(DEVICE_BASE + i)} type macvlan mode {mode}"
        )
        names.append(f"mv{i}")
    if shares.tagged:
        lines.append(f"ip link add link eth0 name eth0.{VID} type vlan id {VID}")
        lines.append(
            f"ip link add mvv0 link eth0.{VID} address {_mac(VLAN_DEVICE_MAC)} "
            "type macvlan mode bridge"
        )
        names += [f"eth0.{VID}", "mvv0"]
    if shares.source:
        listed = _mac(LISTED)
        lines.append(f"ip link add src0 link eth0 type macvlan mode source macaddr add {listed}")
        names.append("src0")
    if shares.multicast and devices:
        lines.append(f"ip maddr add {_mac(GROUP)} dev mv0")
    lines += [f"ip link set {n} up" for n in names]
    return "\n".join(lines) + "\n"


def _bytes_be(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) big-endian bytes of ``values``."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(8)
    return ((values[:, None] >> shifts) & np.uint64(0xFF)).astype(np.uint8)


def generate(
    path: str,
    *,
    frames: int,
    devices: int,
    sizes: tuple[int, int] = (64, 64),
    shares: Shares | None = None,
    seed: int = 0,
    chunk: int = 1 << 20,
) -> None:
    """Write ``frames`` frames to ``path`` (pcap, microseconds, 1 µs apart)."""
    shares = shares or Shares()
    shares.check()
    if devices < 1:
        raise SimError("gen needs at least one device")
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(np.array([0xA1B2C3D4], "<u4").tobytes())
        f.write(np.array([2, 4], "<u2").tobytes())
        f.write(np.array([0, 0, 262144, 1], "<u4").tobytes())
        for start in range(0, frames, chunk):
            n = min(chunk, frames - start)
            f.write(_chunk(rng, start, n, devices, sizes, shares).tobytes())


def _chunk(rng, start, n, devices, sizes, shares: Shares) -> np.ndarray:
    kinds = ("broadcast", "multicast", "unknown", "tagged", "source", "hairpin")
    probs = [getattr(shares, k) for k in kinds]
    kind = rng.choice(len(kinds) + 1, size=n, p=[*probs, 1 - sum(probs)])
    device = rng.integers(0, devices, size=n, dtype=np.uint64)
    dst = np.uint64(DEVICE_BASE) + device
    src = np.full(n, OUTSIDE, dtype=np.uint64)
    dst[kind == 0] = BROADCAST
    dst[kind == 1] = GROUP
    dst[kind == 2] = np.uint64(UNKNOWN_BASE) + device[kind == 2]
    dst[kind == 3] = VLAN_DEVICE_MAC
    src[kind == 4] = LISTED
    dst[kind == 5] = BROADCAST
    src[kind == 5] = np.uint64(DEVICE_BASE) + device[kind == 5]
    tagged = kind == 3
    lens = rng.integers(sizes[0], sizes[1] + 1, size=n, dtype=np.int64)
    lens = np.maximum(lens, np.where(tagged, 18, 14))
    rec = 16 + lens
    ends = np.cumsum(rec)
    pos = ends - rec
    out = np.zeros(int(ends[-1]), dtype=np.uint8)
    ts = np.arange(start, start + n, dtype=np.uint64) + np.uint64(1_000_000)
    million = np.uint64(1_000_000)
    length = lens.astype(np.uint64)
    header = np.stack([ts // million, ts % million, length, length], axis=1)
    head = header.astype("<u4").view(np.uint8).reshape(n, 16)
    cols = np.arange(16)
    out[pos[:, None] + cols] = head
    at = pos + 16
    out[at[:, None] + np.arange(6)] = _bytes_be(dst, 6)
    out[at[:, None] + np.arange(6, 12)] = _bytes_be(src, 6)
    etype_at = at + 12 + np.where(tagged, 4, 0)
    t = at[tagged]
    out[t[:, None] + np.arange(12, 16)] = np.array([0x81, 0x00, 0x00, VID], dtype=np.uint8)
    out[etype_at[:, None] + np.arange(2)] = np.array([0x88, 0xB5], dtype=np.uint8)  # local exp.
    return out
