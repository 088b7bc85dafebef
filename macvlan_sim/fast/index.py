"""The trace index: where every Ethernet record of a capture is, without reading it whole.

A classic pcap file is mapped (``mmap``) and its record headers walked by a compiled loop
(:func:`macvlan_sim.fast.kernels.walk_pcap`), a chunk of records at a time: each chunk is
four arrays (offset of the frame bytes, captured and original length, timestamp) into the
mapped file. Memory is the chunk's arrays; the file's pages are the page cache's.

Everything the walk does not take — pcapng, a link type other than Ethernet, or the first
irregular record of a pcap (caplen > len, runt, oversized, truncated) — is read by the capture
reader (:mod:`macvlan_sim.io.capture.reader`) from that record on, so errors, ``--keep-going``
skips and their counts are the reader's, word for word. Its records are packed into chunks of
the same shape.

A shard (for Dask) is a byte range of a pcap file starting and ending at record boundaries;
:func:`shard_bounds` finds them by walking the headers once (16 bytes read per record).
"""

from __future__ import annotations

import mmap
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from macvlan_sim.fast import kernels
from macvlan_sim.io.capture import (
    LINKTYPE_ETHERNET,
    MAX_CAPLEN,
    CaptureError,
    ethernet_frames,
    open_capture,
)
from macvlan_sim.model.constants import ETH_HLEN

#: Records per chunk by default: 1 Mi records is ~40 MiB of index arrays.
DEFAULT_CHUNK = 1 << 20


@dataclass
class Chunk:
    """Records ``first .. first + len - 1`` (frame numbers among the Ethernet records).

    Its arrays are reused for the next chunk of the same index: copy what must outlive it."""

    buf: np.ndarray
    offsets: np.ndarray
    caplens: np.ndarray
    origlens: np.ndarray
    stamps: np.ndarray
    first: int

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def frame(self, i: int) -> bytes:
        start = int(self.offsets[i])
        return self.buf[start : start + int(self.caplens[i])].tobytes()


#: A pcapng time can lie beyond what int64 nanoseconds hold (±292 years around 1970); such a
#: time is saturated. Output pcaps clamp far earlier (1970 to 2106), so nothing a replay shows
#: changes, and the exact engine's timers (reassembly, the queue's rate) see the same order.
_NS_MIN, _NS_MAX = -(1 << 63), (1 << 63) - 1


@dataclass
class TraceIndex:
    """Iterate :meth:`chunks`; afterwards ``skipped`` holds the reader's skip counts."""

    path: str
    keep_going: bool = False
    chunk_records: int = DEFAULT_CHUNK
    start: int | None = None
    end: int | None = None
    #: Frames before ``start`` (a shard's frame numbers continue the file's).
    base: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    #: The reader's errors (with ``--keep-going``, what stopped it early) and the bytes it
    #: left unread then: what a replay reports as ``stopped``.
    errors: list[Any] = field(default_factory=list)
    unread_bytes: int | None = None
    #: Frames read through the capture reader rather than the compiled walk.
    read_by_reader: int = 0
    #: Keep the walk's result beside the trace (``TRACE.mvsidx``) and reuse it while the
    #: trace's size and modification time are unchanged (regular pcaps, whole files only).
    cache: bool = False

    def chunks(self) -> Iterator[Chunk]:
        reader = open_capture(self.path, keep_going=self.keep_going)
        fmt = reader.format
        regular = fmt == "pcap" and reader.linktypes == (LINKTYPE_ETHERNET,)
        big = reader.byte_order == "big"
        nano = bool(getattr(reader, "nanosecond", False))
        reader.close()
        done = 0
        if regular:
            for chunk in self._walk(big, nano):
                done += len(chunk)
                yield chunk
            if self._walk_status == kernels.WALK_END:
                return
            if self.start is not None:
                raise CaptureError(self.path, "irregular record inside a shard", offset=self._pos)
        yield from self._by_reader(done)

    # -- the compiled walk ----------------------------------------------------------------
    def _walk(self, big: bool, nano: bool) -> Iterator[Chunk]:
        self._walk_status = kernels.WALK_IRREGULAR
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= 24:
                self._walk_status = kernels.WALK_END if size == 24 else kernels.WALK_IRREGULAR
                return
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        mm.madvise(mmap.MADV_SEQUENTIAL)
        buf = np.frombuffer(mm, dtype=np.uint8)
        use_cache = self.cache and self.start is None and self.end is None
        if use_cache and (cached := _cached_index(self.path)) is not None:
            self._walk_status = kernels.WALK_END
            for lo in range(0, cached.shape[0], self.chunk_records):
                part = np.array(cached[lo : lo + self.chunk_records])
                yield Chunk(buf, part[:, 0], part[:, 1], part[:, 2], part[:, 3], lo)
            return
        writer = _IndexCacheWriter(self.path) if use_cache else None
        complete = False
        try:
            pos = 24 if self.start is None else self.start
            end = size if self.end is None else self.end
            first = self.base
            # One set of arrays for every chunk: a chunk is done with before the next is
            # walked, and fresh arrays would cost a page fault per 4 KiB each time.
            arrays = [np.empty(self.chunk_records, dtype=np.int64) for _ in range(4)]
            while True:
                count, pos, status = kernels.walk_pcap(
                    buf, pos, end, big, nano, ETH_HLEN, MAX_CAPLEN, *arrays
                )
                self._pos = pos
                if count:
                    offsets, caplens, origlens, stamps = (a[:count] for a in arrays)
                    if writer is not None:
                        writer.add(offsets, caplens, origlens, stamps)
                    yield Chunk(buf, offsets, caplens, origlens, stamps, first)
                    first += count
                if status != kernels.WALK_FULL:
                    self._walk_status = status
                    complete = status == kernels.WALK_END
                    return
        finally:
            # An abandoned walk (the consumer stopped or failed) or an error leaves no
            # partial cache and no open handle: only a complete walk is kept.
            if writer is not None:
                writer.finish(complete)

    # -- the capture reader, for everything else -----------------------------------------
    def _by_reader(self, already: int) -> Iterator[Chunk]:
        """Frames ``already`` and on, through the reader (its first ``already`` records were
        regular and indexed by the walk, so they are skipped here)."""
        reader = open_capture(self.path, keep_going=self.keep_going)
        with reader:
            frames = ethernet_frames(reader)
            first = already
            for _ in range(already):
                next(frames)
            datas: list[bytes] = []
            meta: list[tuple[int, int]] = []
            for rec in frames:
                datas.append(rec.data)
                meta.append((rec.timestamp_ns, rec.orig_len))
                if len(datas) == self.chunk_records:
                    yield self._pack(datas, meta, first)
                    first += len(datas)
                    datas, meta = [], []
            if datas:
                yield self._pack(datas, meta, first)
            self.skipped.update(reader.skipped)
            self.errors = list(reader.errors)
            self.unread_bytes = reader.unread_bytes

    def _pack(self, datas: list[bytes], meta: list[tuple[int, int]], first: int) -> Chunk:
        self.read_by_reader += len(datas)
        caplens = np.fromiter((len(d) for d in datas), dtype=np.int64, count=len(datas))
        offsets = np.zeros(len(datas), dtype=np.int64)
        np.cumsum(caplens[:-1], out=offsets[1:])
        buf = np.frombuffer(b"".join(datas), dtype=np.uint8)
        stamps = np.fromiter(
            (min(max(m[0], _NS_MIN), _NS_MAX) for m in meta), dtype=np.int64, count=len(meta)
        )
        origlens = np.fromiter((m[1] for m in meta), dtype=np.int64, count=len(meta))
        return Chunk(buf, offsets, caplens, origlens, stamps, first)


def shard_bounds(path: str, shards: int) -> list[tuple[int, int, int]] | None:
    """Split a regular Ethernet pcap into up to ``shards`` byte ranges at record boundaries:
    (start, end, 0). The file is not walked: each cut is resynchronised on a chain of
    plausible record headers near an even split (:func:`kernels.find_record_start`), and a
    shard's walk must end exactly at the next shard's start, which proves the guess (the
    first shard starts at the true first record). None for a file the walk cannot take whole
    (pcapng, another link type): then it runs in one piece."""
    reader = open_capture(path)
    regular = reader.format == "pcap" and reader.linktypes == (LINKTYPE_ETHERNET,)
    big = reader.byte_order == "big"
    nano = bool(getattr(reader, "nanosecond", False))
    reader.close()
    size = os.path.getsize(path)
    if not regular or size <= 24:
        return None
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = np.frombuffer(mm, dtype=np.uint8)
        starts = [24]
        for k in range(1, shards):
            guess = 24 + (size - 24) * k // shards
            found = kernels.find_record_start(
                buf, max(guess, starts[-1] + 1), size, big, nano, ETH_HLEN, MAX_CAPLEN, 8
            )
            if found > 0:
                starts.append(int(found))
        del buf
    ends = [*starts[1:], size]
    return [(s, e, 0) for s, e in zip(starts, ends, strict=True) if s < e]


# -- the index cache beside the trace ---------------------------------------------------------
_CACHE_SUFFIX = ".mvsidx"
_CACHE_MAGIC = b"MVSIDX01"


def _cache_stamp(path: str) -> bytes:
    st = os.stat(path)
    return _CACHE_MAGIC + np.array([st.st_size, st.st_mtime_ns], dtype="<i8").tobytes()


def _cached_index(path: str) -> np.ndarray | None:
    """The cached (offset, caplen, len, timestamp) rows, if the cache matches the trace."""
    cache = path + _CACHE_SUFFIX
    try:
        with open(cache, "rb") as f:
            if f.read(24) != _cache_stamp(path):
                return None
    except OSError:
        return None
    rows = np.memmap(cache, dtype="<i8", mode="r", offset=24)
    return rows.reshape(-1, 4)


class _IndexCacheWriter:
    """Streams the walk's rows to ``TRACE.mvsidx.part``; renamed into place only when the
    walk reached the end cleanly (a cache never describes part of a file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.part = path + _CACHE_SUFFIX + ".part"
        try:
            self.f: BinaryIO | None = open(self.part, "wb")  # noqa: SIM115
            self.f.write(_cache_stamp(path))
        except OSError:
            self.f = None  # a read-only directory: no cache, same answer

    def add(self, *columns: np.ndarray) -> None:
        if self.f is not None:
            self.f.write(np.stack(columns, axis=1).astype("<i8").tobytes())

    def finish(self, complete: bool) -> None:
        if self.f is None:
            return
        self.f.close()
        if complete:
            os.replace(self.part, self.path + _CACHE_SUFFIX)
        else:
            os.unlink(self.part)
