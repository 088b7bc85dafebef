"""``ip_check_defrag`` with ``IP_DEFRAG_MACVLAN``: IPv4 fragments sent to a group address are
reassembled before macvlan floods them (spec §5 M1), so the lower and every macvlan receive the
whole datagram, never the pieces.

Reassembly follows the kernel's IPv4 rules that matter for what gets delivered: queues keyed by
(source, destination, id, protocol); an exact duplicate fragment is dropped on its own; any
other overlap discards the whole queue; a queue older than ``ipfrag_time`` (30 s, measured on
capture timestamps when there are any) is dropped. Frame padding beyond the IP total length is
trimmed first, as ``pskb_trim_rcsum`` does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from macvlan_sim.model.constants import ETH_HLEN

IPFRAG_TIME_NS = 30 * 1_000_000_000
_IP_MF = 0x2000
_IP_DF = 0x4000
_OFFSET_MASK = 0x1FFF


@dataclass
class _Queue:
    head_l2: bytes = b""
    head_ip: bytes = b""
    pieces: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None
    df: bool = False
    born_ns: int = 0


class Defragmenter:
    """The reassembly table shared by every macvlan port of a host (the key has no device)."""

    def __init__(self) -> None:
        self.queues: dict[tuple[bytes, bytes, int, int], _Queue] = {}
        self.now_ns = 0
        self.discarded = 0

    def check(self, skb) -> bytes | None:
        """Return the bytes to continue with (unchanged, or the reassembled datagram), or None
        when the fragment is held or discarded."""
        data: bytes = skb.data
        parsed = _parse(data)
        if parsed is None:
            return data
        ihl, tot_len, ident, frag, proto, saddr, daddr = parsed
        if not frag & (_IP_MF | _OFFSET_MASK):
            return data
        self._expire()
        data = data[: ETH_HLEN + tot_len]
        key = (saddr, daddr, ident, proto)
        queue = self.queues.setdefault(key, _Queue(born_ns=self.now_ns))
        offset = (frag & _OFFSET_MASK) * 8
        payload = data[ETH_HLEN + ihl : ETH_HLEN + tot_len]
        if not self._insert(key, queue, offset, payload, last=not frag & _IP_MF):
            return None
        queue.df = queue.df or bool(frag & _IP_DF)
        if offset == 0:
            queue.head_l2 = data[:ETH_HLEN]
            queue.head_ip = data[ETH_HLEN : ETH_HLEN + ihl]
        whole = _complete(queue)
        if whole is None:
            return None
        del self.queues[key]
        return _rebuild(queue, whole)

    def _insert(self, key, queue: _Queue, offset: int, payload: bytes, *, last: bool) -> bool:
        end = offset + len(payload)
        if last:
            if queue.total is not None and queue.total != end:
                return self._discard(key)
            queue.total = end
        elif queue.total is not None and end > queue.total:
            return self._discard(key)
        for start, piece in queue.pieces.items():
            if start == offset and piece == payload:
                return False  # an exact duplicate is dropped on its own
            if start < end and offset < start + len(piece):
                return self._discard(key)
        queue.pieces[offset] = payload
        return True

    def _discard(self, key) -> bool:
        self.queues.pop(key, None)
        self.discarded += 1
        return False

    def _expire(self) -> None:
        stale = [k for k, q in self.queues.items() if self.now_ns - q.born_ns > IPFRAG_TIME_NS]
        for key in stale:
            self._discard(key)


def _parse(data: bytes) -> tuple[int, int, int, int, int, bytes, bytes] | None:
    """The checks ``ip_check_defrag`` makes before treating a frame as a candidate."""
    if len(data) < ETH_HLEN + 20:
        return None
    ver_ihl, _tos, tot_len, ident, frag, _ttl, proto = struct.unpack_from("!BBHHHBB", data, 14)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < 20 or tot_len < ihl or len(data) - ETH_HLEN < tot_len:
        return None
    return ihl, tot_len, ident, frag, proto, data[26:30], data[30:34]


def _complete(queue: _Queue) -> bytes | None:
    if queue.total is None or 0 not in queue.pieces:
        return None
    out, pos = bytearray(), 0
    for start in sorted(queue.pieces):
        if start != pos:
            return None
        out += queue.pieces[start]
        pos += len(queue.pieces[start])
    return bytes(out) if pos == queue.total else None


def _rebuild(queue: _Queue, payload: bytes) -> bytes:
    """The first fragment's headers, a new total length, fragment bits cleared, checksum redone."""
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
