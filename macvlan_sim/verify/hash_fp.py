"""Proving that a kernel delivery was a multicast hash-filter false positive — or refusing to.

A macvlan's own multicast filter is a 256-bit hash salted with a kernel pointer (spec §3, §8),
so the kernel now and then lets through a group the device never joined, and which groups leak
cannot be predicted. The emulator matches exactly. A copy only the kernel made may be *excused*
as such a false positive only when all of this holds (anything else is a disagreement):

1. The kernel's answer carries the device's real state after the run (``topology``: its
   link-layer multicast list from ``/proc/net/dev_mcast`` and its effective promiscuity and
   allmulti counts, read inside the namespace). Without it nothing is excused.
2. The group is absent from that list, and the device was neither promiscuous nor allmulti
   (either would give an all-ones filter, which the model reproduces exactly).
3. Some salt makes the group's bit collide with the bit of an entry the device really holds
   (its list plus its broadcast address) — one salt for *every* group the device passed in
   the run, which also keeps clear every group the device was offered and did not pass.
   The salt is searched exhaustively over all 2**32 values (numba; a genuine false positive
   is explained within a few hundred salts, a refusal costs one full pass, ~15 s of CPU),
   so a pattern no single salt explains — a systematic model error — is never excused.
4. Letting exactly those (device, group) pairs through makes the emulator agree with the
   kernel on the frame, copies and counters alike.

What cannot be checked: the salt itself (a heap address the kernel never exposes), so (3)
proves the delivery *possible* under the hash, not that this salt was the one. Port filters
use salt 0 and are reproduced bit for bit; nothing is excused there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from macvlan_sim.model.constants import BROADCAST_MAC, GOLDEN_RATIO_32
from macvlan_sim.model.mac import format_mac, is_group, parse_mac

#: CI fails when excused copies exceed this share of the kernel's multicast copies.
EXCUSE_BOUND = 0.005

Pair = tuple[str, bytes]


@dataclass
class Excuses:
    """What a comparison may set aside, and why the rest may not."""

    pairs: frozenset[Pair] = frozenset()
    refused: dict[Pair, str] = field(default_factory=dict)


def _key(mac: bytes) -> int:
    """The 32-bit word mc_hash reads: bytes 2..5, little-endian."""
    return int.from_bytes(mac[2:6], "little")


_GOLDEN = np.uint32(GOLDEN_RATIO_32)
_SHIFT = np.uint32(32 - 8)


def _salt_search(members, accepted, rejected):  # pragma: no cover - runs compiled
    """The first salt (0 .. 2**32-1) under which every ``accepted`` key hashes onto a bit
    of ``members`` and no ``rejected`` key does, or -1. Plain Python numba compiles."""
    n = len(members)
    bits = np.empty(n, np.uint32)
    for salt64 in range(1 << 32):
        salt = np.uint32(salt64)
        for i in range(n):
            bits[i] = np.uint32((members[i] ^ salt) * _GOLDEN) >> _SHIFT
        ok = True
        for g in accepted:
            b = np.uint32((g ^ salt) * _GOLDEN) >> _SHIFT
            hit = False
            for i in range(n):
                if bits[i] == b:
                    hit = True
                    break
            if not hit:
                ok = False
                break
        if ok:
            for g in rejected:
                b = np.uint32((g ^ salt) * _GOLDEN) >> _SHIFT
                for i in range(n):
                    if bits[i] == b:
                        ok = False
                        break
                if not ok:
                    break
        if ok:
            return salt64
    return -1


_compiled = None


def _compiled_search():
    """:func:`_salt_search` compiled by numba once per process (cached on disk where the
    package directory is writable)."""
    global _compiled
    if _compiled is None:
        from numba import njit

        try:
            _compiled = njit(cache=True)(_salt_search)
        except RuntimeError:  # no writable cache location: compile in memory only
            _compiled = njit(_salt_search)
    return _compiled


def consistent_salt(
    members: Iterable[bytes], accepted: Iterable[bytes], rejected: Iterable[bytes] = ()
) -> int | None:
    """A salt under which every ``accepted`` group hashes onto a bit of ``members`` and no
    ``rejected`` group does (None: no such salt exists among all 2**32)."""
    keys = [set(map(_key, ms)) for ms in (members, accepted, rejected)]
    if not keys[0] or keys[1] & keys[2]:
        return None  # no list, or one group both passed and kept out: no salt does both
    arr = [np.array(sorted(k), dtype=np.uint32) for k in keys]
    found = _compiled_search()(arr[0], arr[1], arr[2])
    return None if found < 0 else int(found)


def _group_frames(scenario: dict[str, Any]) -> dict[int, bytes]:
    out = {}
    for i, frame in enumerate(scenario.get("frames", [])):
        dst = bytes.fromhex(str(frame.get("hex", ""))[:12])
        if len(dst) == 6 and is_group(dst) and dst != BROADCAST_MAC:
            out[i] = dst
    return out


def _copies(frame: dict[str, Any], dev: str) -> int:
    return sum(
        1 for r in frame.get("receptions", []) if r["dev"] == dev and r["pkttype"] == "multicast"
    )


def _surplus(
    scenario: dict[str, Any], more: dict[str, Any], fewer: dict[str, Any]
) -> dict[Pair, dict[int, int]]:
    """(macvlan, group) pairs with more multicast copies in result ``more`` than in ``fewer``,
    with the frames where that happens and by how many copies."""
    macvlans = {str(d.get("name")) for d in scenario.get("devices", [])}
    groups = _group_frames(scenario)
    found: dict[Pair, dict[int, int]] = {}
    for a, b in zip(more.get("frames", []), fewer.get("frames", []), strict=False):
        index = int(a.get("index", 0))
        dst = groups.get(index)
        if dst is None:
            continue
        for dev in macvlans:
            surplus = _copies(a, dev) - _copies(b, dev)
            if surplus > 0:
                found.setdefault((dev, dst), {})[index] = surplus
    return found


def candidate_pairs(
    scenario: dict[str, Any], kernel: dict[str, Any], emulator: dict[str, Any]
) -> dict[Pair, dict[int, int]]:
    """(macvlan, group) pairs behind multicast copies the kernel made and the emulator did
    not, with the frames they occur in and how many copies each frame lacks."""
    return _surplus(scenario, kernel, emulator)


def prove(
    scenario: dict[str, Any],
    kernel: dict[str, Any],
    candidates: dict[Pair, dict[int, int]],
    permissive: dict[str, Any] | None,
) -> Excuses:
    """Check rules 1–3 for every candidate pair. ``permissive`` is the emulator's answer with
    every unjoined (device, group) of the scenario let through: where it delivers and the
    kernel did not, the device's filter rejected that group (a constraint on the salt)."""
    topology = kernel.get("topology") or {}
    excuses = Excuses()
    by_dev: dict[str, list[bytes]] = {}
    for (dev, group), _frames in candidates.items():
        state = topology.get(dev)
        why = _refusal(state, group)
        if why:
            excuses.refused[(dev, group)] = why
        else:
            by_dev.setdefault(dev, []).append(group)
    rejected = _rejections(scenario, kernel, permissive) if permissive else {}
    accepted: set[Pair] = set()
    for dev, groups in by_dev.items():
        members = [parse_mac(m) for m in topology[dev].get("mc", [])] + [BROADCAST_MAC]
        refused_groups = sorted(rejected.get(dev, ()))
        if consistent_salt(members, groups, refused_groups) is None:
            for group in groups:
                excuses.refused[(dev, group)] = (
                    f"no salt makes {format_mac(group)} collide with {dev}'s list "
                    f"while keeping out the {len(refused_groups)} groups it rejected"
                )
            continue
        accepted.update((dev, g) for g in groups)
    excuses.pairs = frozenset(accepted)
    return excuses


def _refusal(state: dict[str, Any] | None, group: bytes) -> str:
    if state is None or "mc" not in state:
        return "the kernel's answer has no membership list for the device"
    if format_mac(group) in state["mc"]:
        return f"the device did join {format_mac(group)}: a delivery is no false positive"
    if state.get("promiscuity") or state.get("allmulti"):
        return "the device is promiscuous or allmulti: its filter is all ones"
    return ""


def _rejections(
    scenario: dict[str, Any], kernel: dict[str, Any], permissive: dict[str, Any]
) -> dict[str, set[bytes]]:
    """Groups each device was offered (the permissive emulator delivers them) and the
    kernel did not deliver."""
    out: dict[str, set[bytes]] = {}
    for dev, group in _surplus(scenario, permissive, kernel):
        out.setdefault(dev, set()).add(group)
    return out


def permissive_pairs(scenario: dict[str, Any], kernel: dict[str, Any]) -> frozenset[Pair]:
    """Every (macvlan, group) of the scenario's group frames that is not on the macvlan's
    real list: what a filter passing everything unjoined would let through."""
    topology = kernel.get("topology") or {}
    groups = set(_group_frames(scenario).values())
    pairs = set()
    for dev in (str(d.get("name")) for d in scenario.get("devices", [])):
        held = set((topology.get(dev) or {}).get("mc", []))
        pairs.update((dev, g) for g in groups if format_mac(g) not in held)
    return frozenset(pairs)


def multicast_copies(kernel: dict[str, Any], scenario: dict[str, Any]) -> int:
    """The population excuses are measured against: the kernel's multicast copies at
    macvlans."""
    macvlans = {str(d.get("name")) for d in scenario.get("devices", [])}
    return sum(
        1
        for f in kernel.get("frames", [])
        for r in f.get("receptions", [])
        if r["dev"] in macvlans and r["pkttype"] == "multicast"
    )


def membership_differences(
    kernel: dict[str, Any], lists: dict[str, list[bytes]]
) -> dict[str, tuple[list[str], list[str]]]:
    """Devices whose real multicast list (the kernel's ``topology``) differs from the
    emulator's ``lists``: ``{device: (kernel's, emulator's)}``."""
    out = {}
    for dev, state in (kernel.get("topology") or {}).items():
        if dev not in lists or "mc" not in state:
            continue
        mine = sorted(format_mac(m) for m in lists[dev])
        theirs = sorted(state["mc"])
        if mine != theirs:
            out[dev] = (theirs, mine)
    return out
