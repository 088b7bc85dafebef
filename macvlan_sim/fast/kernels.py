"""The compiled loops of the fast path (numba, ``cache=True``).

Only what is inherently sequential is here: walking a classic pcap's chain of record headers
(each header's position depends on the previous one's length), looking frames' keys up in an
open-addressing hash table that grows as new keys appear, and the byte gathers that build
output records. Everything data-parallel stays in numpy. The functions are few and small on
purpose: their compile time counts once per machine (the on-disk cache keeps them), and every
rule of dispatch stays in the exact engine (:mod:`macvlan_sim.fast.classes` asks it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Status of a pcap walk: the chunk is full, the file ended cleanly, or a record the walk does
#: not take (caplen > len, runt, oversized, truncated): the capture reader then takes over.
WALK_FULL, WALK_END, WALK_IRREGULAR = 0, 1, 2

#: Key layout: 4 words. dst, src (48 bits each; a unicast address the model never stores is
#: replaced by ``UNKNOWN_UNICAST``), up to 12 bytes from offset 12 (tags, ethertype, and the
#: 802.3 word) in words 2-3, and in word 3's top 16 bits the length class and flags.
KEY_WORDS = 4
UNKNOWN_UNICAST = np.uint64(1 << 62)
#: A flag in the key that sends a frame's class to the exact engine whatever it is.
FLAG_SCALAR = 0x8000
MAX_TAGS = 2


@njit(cache=True, nogil=True)
def _u16be(buf, p):
    return (np.uint32(buf[p]) << 8) | np.uint32(buf[p + 1])


@njit(cache=True, nogil=True)
def _u32(buf, p, big):
    if big:
        return (
            (np.uint64(buf[p]) << 24)
            | (np.uint64(buf[p + 1]) << 16)
            | (np.uint64(buf[p + 2]) << 8)
            | np.uint64(buf[p + 3])
        )
    return (
        (np.uint64(buf[p + 3]) << 24)
        | (np.uint64(buf[p + 2]) << 16)
        | (np.uint64(buf[p + 1]) << 8)
        | np.uint64(buf[p])
    )


@njit(cache=True, nogil=True)
def walk_pcap(buf, pos, end, big, nano, min_len, max_caplen, offsets, caplens, origlens, stamps):
    """Index classic-pcap records from ``pos`` until the arrays are full or ``end``.

    Several cursors would not help here: a record's position is only known from the previous
    header, so the walk runs one header per step, but it touches only headers (16 bytes per
    record), never the bodies. Returns (count, next position, status)."""
    n = 0
    cap = offsets.shape[0]
    mult = np.int64(1) if nano else np.int64(1000)
    while n < cap:
        if pos == end:
            return n, pos, WALK_END
        if pos + 16 > end:
            return n, pos, WALK_IRREGULAR
        sec = np.int64(_u32(buf, pos, big))
        frac = np.int64(_u32(buf, pos + 4, big))
        caplen = np.int64(_u32(buf, pos + 8, big))
        wirelen = np.int64(_u32(buf, pos + 12, big))
        if caplen > wirelen or caplen < min_len or caplen > max_caplen or pos + 16 + caplen > end:
            return n, pos, WALK_IRREGULAR
        offsets[n] = pos + 16
        caplens[n] = caplen
        origlens[n] = wirelen
        stamps[n] = sec * 1_000_000_000 + frac * mult
        n += 1
        pos += 16 + caplen
    return n, pos, WALK_FULL


@njit(cache=True, nogil=True)
def _mac(buf, p):
    v = np.uint64(0)
    for i in range(6):
        v = (v << 8) | np.uint64(buf[p + i])
    return v


@njit(cache=True, nogil=True)
def _canon(mac, universe):
    """A group address stays itself (hash filters read its bits); a unicast address the model
    never stores is every such address (rules only compare unicast addresses for equality)."""
    if (mac >> 40) & 1:
        return mac
    i = np.searchsorted(universe, mac)
    if i < universe.shape[0] and universe[i] == mac:
        return mac
    return UNKNOWN_UNICAST


@njit(cache=True, nogil=True)
def _hash(k0, k1, k2, k3):
    h = np.uint64(0x9E3779B97F4A7C15)
    for k in (k0, k1, k2, k3):
        h ^= k
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    return h


@njit(cache=True, nogil=True)
def classify(
    buf, offsets, caplens, origlens, universe, thresholds, tpids, table_keys, table_ids, state,
    out
):
    """Give each frame the id of its class (equal keys, equal class), adding new keys to the
    table. ``state`` = [classes so far, table capacity mask]. Stops early (returns the count
    done) when the table is over half full, so the caller can grow it and go on."""
    n = offsets.shape[0]
    mask = state[1]
    for i in range(n):
        if state[0] * 2 > mask:
            return i
        p = offsets[i]
        length = caplens[i]
        dst = _mac(buf, p)
        src = _mac(buf, p + 6)
        flags = 0
        # Tags and ethertype, as far as the receive path can look.
        ntags = 0
        q = p + 12
        last = p + length
        etype = _u16be(buf, q) if q + 2 <= last else np.uint32(0)
        while q + 2 <= last:
            etype = _u16be(buf, q)
            is_tag = False
            for t in tpids:
                if etype == t:
                    is_tag = True
            if not is_tag:
                break
            ntags += 1
            q += 4
        if ntags > MAX_TAGS:
            flags |= FLAG_SCALAR
        meaningful = q + 2 - (p + 12)
        if etype < 0x600:
            meaningful += 2
        if (dst >> 40) & 1 and etype == 0x0800:
            # An IPv4 datagram to a group: a fragment waits for reassembly (stateful).
            ip = q + 2
            if ip + 8 > last or (_u16be(buf, ip + 6) & 0x3FFF) != 0:
                flags |= FLAG_SCALAR
        if caplens[i] != origlens[i]:
            flags |= FLAG_SCALAR
        w2 = np.uint64(0)
        w3 = np.uint64(0)
        for j in range(12):
            b = np.uint64(buf[p + 12 + j]) if (j < meaningful and 12 + j < length) else np.uint64(0)
            if j < 8:
                w2 = (w2 << 8) | b
            else:
                w3 = (w3 << 8) | b
        lclass = np.searchsorted(thresholds, length)
        w3 |= np.uint64((lclass << 16) | flags) << 32
        k0 = _canon(dst, universe)
        k1 = _canon(src, universe)
        slot = _hash(k0, k1, w2, w3) & mask
        while True:
            cid = table_ids[slot]
            if cid < 0:
                cid = state[0]
                state[0] += 1
                table_ids[slot] = cid
                table_keys[slot, 0] = k0
                table_keys[slot, 1] = k1
                table_keys[slot, 2] = w2
                table_keys[slot, 3] = w3
                break
            if (
                table_keys[slot, 0] == k0
                and table_keys[slot, 1] == k1
                and table_keys[slot, 2] == w2
                and table_keys[slot, 3] == w3
            ):
                break
            slot = (slot + 1) & mask
        out[i] = cid
    return n


@njit(cache=True, nogil=True)
def rehash(old_keys, old_ids, new_keys, new_ids):
    mask = np.uint64(new_ids.shape[0] - 1)
    for s in range(old_ids.shape[0]):
        if old_ids[s] < 0:
            continue
        k = old_keys[s]
        slot = _hash(k[0], k[1], k[2], k[3]) & mask
        while new_ids[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        new_ids[slot] = old_ids[s]
        new_keys[slot] = k


@njit(cache=True, nogil=True)
def gather_records(buf, offsets, caplens, stamps, nano, cut, middle, mid_off, mid_len, out):
    """Build pcap records (16-byte little-endian header + data) for one output file: record
    ``i`` is input frame ``offsets[i]`` with ``cut[i]`` bytes after the 12 address bytes
    replaced by ``middle[mid_off[i]:mid_off[i] + mid_len[i]]`` (a tag pulled or pushed).
    Returns the bytes written."""
    w = 0
    div = np.int64(1) if nano else np.int64(1000)
    for i in range(offsets.shape[0]):
        p = offsets[i]
        n = caplens[i]
        newlen = n - cut[i] + mid_len[i]
        sec = stamps[i] // 1_000_000_000
        frac = (stamps[i] % 1_000_000_000) // div
        for j, v in enumerate((sec, frac, newlen, newlen)):
            for b in range(4):
                out[w + 4 * j + b] = (v >> (8 * b)) & 0xFF
        w += 16
        head = min(12, n)
        for j in range(head):
            out[w + j] = buf[p + j]
        w += head
        m0 = mid_off[i]
        for j in range(mid_len[i]):
            out[w + j] = middle[m0 + j]
        w += mid_len[i]
        rest = n - head - cut[i]
        q = p + head + cut[i]
        for j in range(rest):
            out[w + j] = buf[q + j]
        w += rest
    return w
