"""The compiled loops of the fast path (numba, ``cache=True``).

Only what is inherently sequential is here: walking a classic pcap's chain of record headers
(each header's position depends on the previous one's length; shards resynchronise on header
chains instead, :func:`find_record_start`), looking frames' keys up in an
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
#: 802.3 word) in words 2-3, and in word 3's top 32 bits the length class (16 bits) and the
#: flags (16 bits).
KEY_WORDS = 4
UNKNOWN_UNICAST = np.uint64(1 << 62)
#: A flag in the key that sends a frame's class to the exact engine whatever it is.
FLAG_SCALAR = 0x8000
MAX_TAGS = 2
SET_MARK = np.uint64(1 << 63)


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
def find_record_start(buf, pos, end, big, nano, min_len, max_caplen, chain):
    """The first offset at or after ``pos`` where ``chain`` consecutive plausible record
    headers start (or fewer, ending exactly at ``end``): a resynchronisation point, so that
    segments of a pcap can be walked independently. Plausible: fraction of a second in range,
    min_len <= caplen <= len, caplen <= max_caplen. A wrong guess cannot go unnoticed: the
    segment before must end exactly there (checked by whoever walks it). -1 if none."""
    limit = np.int64(1_000_000_000) if nano else np.int64(1_000_000)
    x = pos
    while x + 16 <= end:
        q = x
        ok = True
        for _ in range(chain):
            if q == end:
                break
            if q + 16 > end:
                ok = False
                break
            frac = np.int64(_u32(buf, q + 4, big))
            caplen = np.int64(_u32(buf, q + 8, big))
            wirelen = np.int64(_u32(buf, q + 12, big))
            if frac >= limit or caplen > wirelen or caplen < min_len or caplen > max_caplen:
                ok = False
                break
            q += 16 + caplen
            if q > end:
                ok = False
                break
        if ok:
            return x
        x += 1
    return -1


@njit(cache=True, nogil=True)
def _mix(h):
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, nogil=True)
def _canon(mac, universe):
    """A group address stays itself (hash filters read its bits); a unicast address the model
    never stores is every such address (rules only compare unicast addresses for equality).
    ``universe`` is an open-addressing set (power-of-two size, 0 = empty slot)."""
    if (mac >> np.uint64(40)) & np.uint64(1):
        return mac
    mask = np.uint64(universe.shape[0] - 1)
    slot = _mix(mac) & mask
    marked = mac | SET_MARK
    while True:
        v = universe[slot]
        if v == marked:
            return mac
        if v == 0:
            return UNKNOWN_UNICAST
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def fill_set(values, table):
    """The open-addressing set :func:`_canon` reads: each value marked, 0 an empty slot."""
    mask = np.uint64(table.shape[0] - 1)
    for v in values:
        slot = _mix(v) & mask
        while table[slot] != 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = v | SET_MARK


@njit(cache=True, nogil=True)
def _hash(k0, k1, k2, k3):
    return _mix(_mix(_mix(k0 ^ _mix(k1)) ^ k2) ^ k3)


@njit(cache=True, nogil=True)
def _be(buf, p, n):
    v = np.uint64(0)
    for i in range(n):
        v = (v << np.uint64(8)) | np.uint64(buf[p + i])
    return v


@njit(cache=True, nogil=True)
def classify(
    buf, offsets, caplens, origlens, universe, lclass_of, tpid_a, tpid_b, table_keys,
    table_ids, state, out, counts, sums
):
    """Give each frame the id of its class (equal keys, equal class), adding new keys to the
    table, and add each frame to its class's frame count and byte sum. ``state`` = [classes
    so far, table capacity mask]; ``lclass_of[len]`` is the length class. Stops early
    (returns the count done) when the table is half full, so the caller can grow it."""
    n = offsets.shape[0]
    mask = np.uint64(state[1])
    for i in range(n):
        if state[0] * 2 > state[1]:
            return i
        p = offsets[i]
        length = caplens[i]
        dst = _be(buf, p, 6)
        src = _be(buf, p + 6, 6)
        flags = 0
        # Tags and ethertype, as far as the receive path can look.
        ntags = 0
        q = p + 12
        last = p + length
        etype = 0
        while q + 2 <= last:
            etype = (np.int64(buf[q]) << 8) | np.int64(buf[q + 1])
            if etype != tpid_a and etype != tpid_b:
                break
            ntags += 1
            q += 4
        if ntags > MAX_TAGS:
            flags |= FLAG_SCALAR
        meaningful = q + 2 - (p + 12)
        if etype < 0x600:
            meaningful += 2
        if (dst >> np.uint64(40)) & np.uint64(1) and etype == 0x0800:
            # An IPv4 datagram to a group: a fragment waits for reassembly (stateful).
            ip = q + 2
            if ip + 8 > last or ((np.int64(buf[ip + 6]) << 8 | np.int64(buf[ip + 7])) & 0x3FFF):
                flags |= FLAG_SCALAR
        if length != origlens[i]:
            flags |= FLAG_SCALAR
        meaningful = min(meaningful, length - 12, 12)
        head = min(meaningful, 8)
        tail = meaningful - head
        w2 = _be(buf, p + 12, head) << np.uint64(8 * (8 - head))
        w3 = (_be(buf, p + 20, tail) << np.uint64(8 * (4 - tail))) | (
            np.uint64((np.int64(lclass_of[min(length, lclass_of.shape[0] - 1)]) << 16) | flags)
            << np.uint64(32)
        )
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
            slot = (slot + np.uint64(1)) & mask
        out[i] = cid
        counts[cid] += 1
        sums[cid] += length
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
