"""Topologies built from a trace's own addresses, so that its frames actually hit macvlans.

A capture's unicast destinations become macvlans (random modes, some down), some of its
sources are listed on source-mode devices (some with nodst), and some of its groups are joined.
The result is a topology *file* (text), so it can be saved, read and replayed like any other.
Used by the corpus tests and by ``verify-kernel`` to compare real traffic with the kernel.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from macvlan_sim.model.mac import format_mac, is_group, is_valid_unicast

_MODES = ("bridge", "vepa", "private", "bridge", "vepa")


def addresses(frames: Iterable[bytes]) -> tuple[Counter[bytes], Counter[bytes], Counter[bytes]]:
    """(unicast destinations, group destinations, unicast sources) with their counts."""
    uni: Counter[bytes] = Counter()
    groups: Counter[bytes] = Counter()
    sources: Counter[bytes] = Counter()
    for frame in frames:
        if len(frame) < 14:
            continue
        dst, src = frame[:6], frame[6:12]
        (groups if is_group(dst) else uni)[dst] += 1
        if is_valid_unicast(src):
            sources[src] += 1
    return uni, groups, sources


def topology_for(
    frames: Iterable[bytes],
    *,
    seed: int = 0,
    devices: int = 5,
    lower: str = "lower",
    lower_mac: str = "02:00:00:00:00:01",
) -> str:
    """A topology file text for ``frames`` (deterministic for a seed)."""
    rng = random.Random(seed)
    uni, groups, sources = addresses(frames)
    lower_bytes = bytes.fromhex(lower_mac.replace(":", ""))
    targets = [m for m, _ in uni.most_common() if is_valid_unicast(m) and m != lower_bytes]
    targets = targets[:devices]
    lines = ["host ipv6 off", f"lower {lower} address {lower_mac} veth"]
    names: list[str] = []
    for i, mac in enumerate(targets):
        mode = rng.choice(_MODES)
        name = f"mv{i}"
        lines.append(
            f"ip link add {name} link {lower} address {format_mac(mac)} type macvlan mode {mode}"
        )
        names.append(name)
    for i, src in enumerate(m for m, _ in sources.most_common(2)):
        nodst = " nodst" if rng.random() < 0.4 else ""
        lines.append(
            f"ip link add src{i} link {lower} type macvlan mode source{nodst} "
            f"macaddr add {format_mac(src)}"
        )
        names.append(f"src{i}")
    for group, _ in groups.most_common(3):
        if group != b"\xff" * 6 and names and rng.random() < 0.7:
            lines.append(f"ip maddr add {format_mac(group)} dev {rng.choice(names)}")
    if rng.random() < 0.3:
        lines.append(f"ip link set {rng.choice(names) if names else lower} allmulti on")
    for name in names:
        if rng.random() < 0.85:
            lines.append(f"ip link set {name} up")
    return "\n".join(lines) + "\n"


#: Modes ``topology from-trace`` gives its macvlans, in turn, unless told otherwise.
DEFAULT_MODES = ("bridge",)


def topology_from_counts(
    unicast: Counter[tuple[int, bytes]],
    *,
    modes: tuple[str, ...] = DEFAULT_MODES,
    devices: int = 64,
    lower: str = "eth0",
    lower_mac: str = "02:00:00:00:00:01",
) -> str:
    """A topology file whose macvlans own a trace's busiest unicast destinations.

    ``unicast`` counts frames by (outer 802.1Q VID or 0, destination MAC). Every VID among the
    chosen destinations gets a VLAN device on the lower (``eth0.VID``), and the macvlan of a
    destination seen mostly under a VID sits on that VLAN device, so its frames reach it.
    Everything is up; modes are taken from ``modes`` in turn. Deterministic for its input.
    """
    lower_bytes = bytes.fromhex(lower_mac.replace(":", ""))
    where: dict[bytes, tuple[int, int]] = {}  # mac -> (frames, vid with most of them)
    totals: Counter[bytes] = Counter()
    for (vid, mac), count in unicast.items():
        totals[mac] += count
        if mac not in where or count > where[mac][0]:
            where[mac] = (count, vid)
    chosen = [
        m for m, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        if is_valid_unicast(m) and m != lower_bytes
    ][:devices]
    vids = sorted({where[m][1] for m in chosen} - {0})
    lines = [
        "# written by `macvlan-sim topology from-trace`: the trace's busiest unicast MACs",
        "host ipv6 off",
        f"lower {lower} address {lower_mac} veth",
    ]
    lines += [f"ip link add link {lower} name {lower}.{v} type vlan id {v}" for v in vids]
    names = [f"{lower}.{v}" for v in vids]
    for i, mac in enumerate(chosen):
        vid = where[mac][1]
        link = f"{lower}.{vid}" if vid else lower
        mode = modes[i % len(modes)]
        name = f"mv{i}"
        lines.append(
            f"ip link add {name} link {link} address {format_mac(mac)} type macvlan mode {mode}"
        )
        names.append(name)
    lines += [f"ip link set {name} up" for name in names]
    return "\n".join(lines) + "\n"
