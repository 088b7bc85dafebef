"""Counting a trace's unicast destinations at array speed (for ``topology from-trace``)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from macvlan_sim.fast.index import Chunk, TraceIndex
from macvlan_sim.model.constants import ETH_P_8021Q


def _gather(chunk: Chunk, at: int, width: int) -> np.ndarray:
    """Bytes ``at .. at + width`` of every frame as one big-endian integer (0 past the end)."""
    value = np.zeros(len(chunk), dtype=np.uint64)
    for k in range(width):
        pos = chunk.offsets + at + k
        inside = at + k < chunk.caplens
        byte = chunk.buf[np.where(inside, pos, 0)].astype(np.uint64)
        value = (value << np.uint64(8)) | np.where(inside, byte, np.uint64(0))
    return value


def unicast_destinations(trace: str, *, keep_going: bool = False) -> Counter[tuple[int, bytes]]:
    """Frames per (outer 802.1Q VID or 0, unicast destination MAC)."""
    counts: Counter[tuple[int, bytes]] = Counter()
    for chunk in TraceIndex(trace, keep_going=keep_going).chunks():
        dst = _gather(chunk, 0, 6)
        tagged = _gather(chunk, 12, 2) == ETH_P_8021Q
        vid = np.where(tagged, _gather(chunk, 14, 2) & np.uint64(0x0FFF), np.uint64(0))
        unicast = (dst >> np.uint64(40)) & np.uint64(1) == 0
        keys = (vid[unicast] << np.uint64(48)) | dst[unicast]
        uniq, n = np.unique(keys, return_counts=True)
        for key, count in zip(uniq.tolist(), n.tolist(), strict=True):
            counts[(key >> 48, (key & ((1 << 48) - 1)).to_bytes(6, "big"))] += count
    return counts
