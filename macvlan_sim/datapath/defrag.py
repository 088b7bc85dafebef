"""``ip_check_defrag`` with ``IP_DEFRAG_MACVLAN``: IPv4 fragments sent to a group address are
reassembled before macvlan floods them (spec §5 M1), so the lower and every macvlan receive the
whole datagram, never the pieces.

Reassembly follows the kernel's IPv4 rules (``ip_frag_queue``, ``inet_frag_queue_insert``,
``ip_frag_reasm``, ``inet_frag_find``) where they decide what gets delivered, and its bounds,
so that no input can make the table grow without limit or crash it:

- queues live in a hash table keyed like the kernel's ``ipq`` (source, destination, id,
  protocol; the defrag user and l3mdev index are the same for every macvlan frame);
- a fragment wholly inside a run of fragments already queued is a duplicate, dropped on its
  own; any other overlap discards the whole queue; so does a zero-length fragment, a last
  fragment that contradicts the known end, or data past it;
- a datagram that would reassemble to more than 65,535 bytes is discarded (``out_oversize``);
- a queue older than ``ipfrag_time`` (30 s, on the frames' timestamps) is freed (its timer);
- while the memory held by queues is above ``ipfrag_high_thresh`` (4 MiB) every fragment is
  dropped, new datagram or not (``inet_frag_find`` returns nothing).

Memory is counted the kernel's way, a fixed size per queue plus each held skb's truesize; the
truesize is approximated as that of a linear skb holding the frame (real ones depend on the
driver). Not modelled: ``ipfrag_max_dist`` (queues reset after 64 fragments from the same
source to other datagrams) and the memory other defrag users share with this table.

Every event is reported with a reason (see :class:`Verdict`) so the engine can count it.
"""

from __future__ import annotations

import bisect
import heapq
import struct
from dataclasses import dataclass, field

from macvlan_sim.model.constants import ETH_HLEN

IPFRAG_TIME_NS = 30 * 1_000_000_000
IPFRAG_HIGH_THRESH = 4 * 1024 * 1024
IP_MAX_LEN = 65535
#: ``sizeof(struct ipq)`` charged per queue (x86-64, 6.x), and a linear skb's fixed overhead
#: (``SKB_TRUESIZE``: sk_buff and skb_shared_info, each cache-aligned).
QUEUE_SIZE = 192
SKB_OVERHEAD = 576
_IP_MF = 0x2000
_IP_DF = 0x4000
_OFFSET_MASK = 0x1FFF

Key = tuple[bytes, bytes, int, int]


class Verdict:
    """Why a fragment did not continue (each is a reason the engine records with rule M1)."""

    HELD = "IPv4 fragment held for reassembly (ip_check_defrag)"
    DUPLICATE = "duplicate IPv4 fragment dropped (ip_check_defrag)"
    OVERLAP = "overlapping IPv4 fragment dropped, with its datagram"
    INVALID = "IPv4 fragment with an impossible length or end dropped, with its datagram"
    OVERSIZE = "IPv4 fragment completes a datagram over 65535 bytes: dropped, with it"
    NO_MEMORY = "IPv4 fragment dropped: reassembly memory over ipfrag_high_thresh"


#: Why a queue of held fragments was freed without completing (``DefragResult.evicted``).
FREED = {
    Verdict.OVERLAP: "IPv4 reassembly queue freed: overlapping fragment",
    Verdict.INVALID: "IPv4 reassembly queue freed: impossible fragment",
    Verdict.OVERSIZE: "IPv4 reassembly queue freed: datagram over 65535 bytes",
}
TIMEOUT = "IPv4 reassembly queue freed: ipfrag_time (30 s) expired"


@dataclass
class _Queue:
    born_ns: int
    head_l2: bytes = b""
    head_ip: bytes = b""
    #: Fragment start offsets (sorted) and, per start, the payload.
    starts: list[int] = field(default_factory=list)
    pieces: dict[int, bytes] = field(default_factory=dict)
    #: Runs of fragments that arrived back to back (``frag_run_len``): start -> end.
    runs: dict[int, int] = field(default_factory=dict)
    run_starts: list[int] = field(default_factory=list)
    last_run: int | None = None
    total: int = 0  # ``q.len``: the highest end seen, or the datagram's length once last in
    last_in: bool = False
    meat: int = 0
    df: bool = False
    truesize: int = QUEUE_SIZE
    fragments: int = 0


@dataclass
class DefragResult:
    """``data``: what continues (the frame itself, or the reassembled datagram), or None.
    ``verdict``: why not, when None. ``evicted``: (reason, fragments freed) for queues this
    fragment's arrival freed or discarded."""

    data: bytes | None
    verdict: str | None = None
    evicted: list[tuple[str, int]] = field(default_factory=list)


class Defragmenter:
    """The reassembly table shared by every macvlan port of a host (the key has no device)."""

    def __init__(
        self, *, timeout_ns: int = IPFRAG_TIME_NS, high_thresh: int = IPFRAG_HIGH_THRESH
    ) -> None:
        self.queues: dict[Key, _Queue] = {}
        self.timeout_ns = timeout_ns
        self.high_thresh = high_thresh
        self.now_ns = 0
        self.mem = 0
        #: Queues freed without completing, by reason (the kernel's REASMFAILS/TIMEOUT/...).
        self.discarded: dict[str, int] = {}
        self._timers: list[tuple[int, int, Key]] = []
        self._serial = 0

    def check(self, data: bytes) -> DefragResult:
        """Pass a non-fragment through; hold, drop or complete a fragment."""
        parsed = _parse(data)
        if parsed is None:
            return DefragResult(data)
        ihl, tot_len, ident, frag, proto, saddr, daddr = parsed
        if not frag & (_IP_MF | _OFFSET_MASK):
            return DefragResult(data)
        result = DefragResult(None)
        self._expire(result)
        if self.mem > self.high_thresh:
            result.verdict = Verdict.NO_MEMORY
            return result
        key = (saddr, daddr, ident, proto)
        queue = self.queues.get(key)
        if queue is None:
            queue = self._create(key)
        offset = (frag & _OFFSET_MASK) * 8
        payload = data[ETH_HLEN + ihl : ETH_HLEN + tot_len]
        verdict = self._insert(queue, offset, payload, last=not frag & _IP_MF)
        if verdict is not None:
            if verdict in FREED:
                result.evicted.append((FREED[verdict], self._discard(key, FREED[verdict])))
            result.verdict = verdict
            return result
        queue.df = queue.df or bool(frag & _IP_DF)
        queue.fragments += 1
        size = _truesize(ETH_HLEN + tot_len)
        queue.truesize += size
        self.mem += size
        if offset == 0:
            queue.head_l2 = data[:ETH_HLEN]
            queue.head_ip = data[ETH_HLEN : ETH_HLEN + ihl]
        if not (queue.last_in and queue.head_ip and queue.meat == queue.total):
            result.verdict = Verdict.HELD
            return result
        if len(queue.head_ip) + queue.total > IP_MAX_LEN:
            freed = FREED[Verdict.OVERSIZE]
            result.evicted.append((freed, self._discard(key, freed)))
            result.verdict = Verdict.OVERSIZE
            return result
        self._remove(key)
        result.data = _rebuild(queue)
        return result

    # ------------------------------------------------------------------ queue table
    def _create(self, key: Key) -> _Queue:
        queue = _Queue(born_ns=self.now_ns)
        self.queues[key] = queue
        self.mem += QUEUE_SIZE
        self._serial += 1
        heapq.heappush(self._timers, (self.now_ns + self.timeout_ns, self._serial, key))
        return queue

    def _remove(self, key: Key) -> _Queue:
        queue = self.queues.pop(key)
        self.mem -= queue.truesize
        return queue

    def _discard(self, key: Key, reason: str) -> int:
        """Free a queue that will not complete; returns how many fragments it held."""
        queue = self._remove(key)
        self.discarded[reason] = self.discarded.get(reason, 0) + 1
        return queue.fragments

    def _expire(self, result: DefragResult) -> None:
        """Queue timers that are due fire (each queue's timer is set once, at creation)."""
        while self._timers and self._timers[0][0] < self.now_ns:
            due, _serial, key = heapq.heappop(self._timers)
            queue = self.queues.get(key)
            if queue is not None and queue.born_ns + self.timeout_ns == due:
                result.evicted.append((TIMEOUT, self._discard(key, TIMEOUT)))

    # ------------------------------------------------------------------ one fragment
    def _insert(self, queue: _Queue, offset: int, payload: bytes, *, last: bool) -> str | None:
        """``ip_frag_queue`` + ``inet_frag_queue_insert``: None when the fragment was queued."""
        end = offset + len(payload)
        if last:
            if end < queue.total or (queue.last_in and end != queue.total):
                return Verdict.INVALID
            queue.last_in = True
            queue.total = end
        else:
            if end & 7:
                end &= ~7
                payload = payload[: end - offset]
            if end > queue.total:
                if queue.last_in:
                    return Verdict.INVALID
                queue.total = end
        if end <= offset:
            return Verdict.INVALID
        place = _place(queue, offset, end)
        if place is not None:
            return place
        bisect.insort(queue.starts, offset)
        queue.pieces[offset] = payload
        queue.meat += end - offset
        if queue.last_run is not None and queue.runs[queue.last_run] == offset:
            queue.runs[queue.last_run] = end  # appended to the last run
        else:
            queue.runs[offset] = end
            bisect.insort(queue.run_starts, offset)
            if queue.last_run is None or offset > queue.last_run:
                queue.last_run = offset
        return None


def _place(queue: _Queue, offset: int, end: int) -> str | None:
    """None if [offset, end) touches no queued fragment; DUPLICATE if it lies inside one
    run of them; OVERLAP otherwise."""
    i = bisect.bisect_right(queue.starts, offset)
    neighbours = queue.starts[max(i - 1, 0) : i + 1]
    if not any(s < end and offset < s + len(queue.pieces[s]) for s in neighbours):
        return None
    j = bisect.bisect_right(queue.run_starts, offset)
    if j and end <= queue.runs[queue.run_starts[j - 1]]:
        return Verdict.DUPLICATE
    return Verdict.OVERLAP


def _truesize(length: int) -> int:
    return (length + 63) // 64 * 64 + SKB_OVERHEAD


def _parse(data: bytes) -> tuple[int, int, int, int, int, bytes, bytes] | None:
    """The checks ``ip_check_defrag`` makes before treating a frame as a candidate."""
    if len(data) < ETH_HLEN + 20:
        return None
    ver_ihl, _tos, tot_len, ident, frag, _ttl, proto = struct.unpack_from("!BBHHHBB", data, 14)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < 20 or tot_len < ihl or len(data) - ETH_HLEN < tot_len:
        return None
    return ihl, tot_len, ident, frag, proto, data[26:30], data[30:34]


def _rebuild(queue: _Queue) -> bytes:
    """The first fragment's headers, a new total length, fragment bits cleared, checksum redone."""
    payload = b"".join(queue.pieces[s] for s in queue.starts)
    header = bytearray(queue.head_ip)
    struct.pack_into("!H", header, 2, len(header) + len(payload))
    struct.pack_into("!H", header, 6, _IP_DF if queue.df else 0)
    struct.pack_into("!H", header, 10, 0)
    struct.pack_into("!H", header, 10, _checksum(bytes(header)))
    return queue.head_l2 + bytes(header) + payload


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
