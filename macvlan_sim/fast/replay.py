"""The fast replay: a trace through a topology, chunk by chunk, with the exact engine's answer.

Per chunk: the index gives the records (:mod:`.index`), a compiled loop gives each frame its
class (:mod:`.kernels`), new classes are probed by the exact engine (:mod:`.classes`), and
frames of classes the engine must see one by one (reassembly, a stateful broadcast queue,
truncated records, probes that disagree) are fed to an exact :class:`Engine` in order.
Everything else is counted per class — frames and byte sums — and turned into statistics and
counters once at the end, by multiplying each class's outcome. Per-point pcaps are gathered
from the mapped file per chunk, in the exact engine's order. Memory is the chunk's arrays plus
the class table, whatever the trace's size.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from macvlan_sim.datapath.counters import CounterBook
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.fast import kernels
from macvlan_sim.fast.classes import ClassBook, ClassReception, address_universe
from macvlan_sim.fast.index import DEFAULT_CHUNK, Chunk, TraceIndex
from macvlan_sim.io.capture import MAX_CAPLEN, CaptureWriter, point_filename
from macvlan_sim.io.replay import (
    CaptureSource,
    ReplayStats,
    account_outcome,
    discard_writers,
    feed_record,
    input_stop,
    note_drop_example,
)
from macvlan_sim.io.topology import Topology, load_topology
from macvlan_sim.model.constants import ETH_ALEN, VLAN_HLEN, VLAN_TPIDS

#: Where an IPv4 header's flags and fragment offset end (what the classifier reads).
_IP_FRAG_END = 8
#: Sort key stride: reception j of frame i sorts as i * _STRIDE + j.
_STRIDE = 1 << 20
#: Per point: the exact engine's receptions as (sort key, timestamp, bytes, wire length).
_PointRecords = defaultdict[str, list[tuple[int, int, bytes, int]]]


@dataclass
class FastResult:
    """What :func:`replay` returns: the statistics (same shape as the exact replay's),
    per-device counters (a :class:`CounterBook`, like ``Engine.counters``), and how the work
    was split between per-class arithmetic and the exact engine."""

    stats: ReplayStats
    counters: CounterBook
    classes: int = 0
    exact_frames: int = 0
    exact_reasons: dict[str, int] = field(default_factory=dict)


class _Table:
    """The open-addressing class table the compiled classifier fills (grows by doubling)."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        self.keys = np.zeros((capacity, kernels.KEY_WORDS), dtype=np.uint64)
        self.ids = np.full(capacity, -1, dtype=np.int64)
        self.state = np.array([0, capacity - 1], dtype=np.int64)
        #: Per class: frames and the sum of their lengths (the classifier adds to them).
        self.counts = np.zeros(capacity, dtype=np.int64)
        self.sums = np.zeros(capacity, dtype=np.int64)

    def grow(self) -> None:
        capacity = self.ids.shape[0] * 2
        keys = np.zeros((capacity, kernels.KEY_WORDS), dtype=np.uint64)
        ids = np.full(capacity, -1, dtype=np.int64)
        kernels.rehash(self.keys, self.ids, keys, ids)
        self.keys, self.ids = keys, ids
        self.state[1] = capacity - 1
        extra = np.zeros(capacity - self.counts.shape[0], dtype=np.int64)
        self.counts = np.concatenate([self.counts, extra])
        self.sums = np.concatenate([self.sums, extra])


class FastReplayer:
    """Feed :class:`Chunk` objects, then :meth:`finish`. ``out_dir``: one pcap per point."""

    def __init__(
        self,
        topology: Topology,
        out_dir: Path | None = None,
        *,
        defer_exact: bool = False,
        deliveries: Path | None = None,
        open_writer: Callable[[Path], CaptureWriter] | None = None,
        trace: str = "",
    ) -> None:
        host = topology.host
        self.lower = host.lower.name if host.lower else "lower"
        self.engine = topology.engine(keep_paths=False)
        self.book = ClassBook(
            host, hairpin=topology.hairpin, queue_is_state=topology.drain != "frame"
        )
        self.universe = address_universe(host)
        self.table = _Table()
        self.stats = ReplayStats(
            trace=trace,
            topology=topology.source,
            lower=self.lower,
            engine="fast",
            out_dir=None if out_dir is None else str(out_dir),
        )
        #: How a point's pcap is opened (the CLI's keeps a manifest of what it writes).
        self.open_writer = open_writer or _clamping_writer
        self.exact_reasons: defaultdict[str, int] = defaultdict(int)
        self._scalar = np.zeros(0, dtype=bool)
        #: Classes whose drop reasons name the frame's length, and their (class, len) counts.
        self._lengthwise = np.zeros(0, dtype=bool)
        self._length_counts: defaultdict[int, Counter[int]] = defaultdict(Counter)
        self._cls = np.zeros(0, dtype=np.int64)
        self._waiting: list[tuple[FrameOutcome, int]] = []
        self.out_dir = out_dir
        self.writers: dict[str, CaptureWriter] = {}
        #: point -> [(class, reception number, reception)], and the middles' bytes.
        self._point_refs: defaultdict[str, list[tuple[int, int, ClassReception]]] = defaultdict(
            list
        )
        self._middles = bytearray()
        self._middle_at: dict[bytes, int] = {}
        #: With ``defer_exact`` (a shard), frames for the exact engine are only listed, as
        #: (file offset, caplen, len, timestamp) rows, for whoever runs them in trace order.
        self.defer_exact = defer_exact
        self.deferred: list[np.ndarray] = []
        self.deliveries = None
        if deliveries is not None:
            from macvlan_sim.fast.deliveries import DeliveryWriter  # pyarrow: only when asked

            self.deliveries = DeliveryWriter(deliveries)

    # ------------------------------------------------------------------ per chunk
    def feed(self, chunk: Chunk) -> None:
        cls = self._classify(chunk)
        n = len(chunk)
        st = self.stats
        st.records += n
        st.frames_fed += n
        st.truncated += int(np.count_nonzero(chunk.caplens < chunk.origlens))
        if self._lengthwise.any():
            self._count_lengths(chunk, cls)
        if self._scalar.any():
            rows = np.flatnonzero(self._scalar[cls])
        else:
            rows = np.zeros(0, dtype=np.int64)
        if self.defer_exact:
            for i in rows.tolist():
                self.exact_reasons[self.book.outcomes[int(cls[i])].scalar] += 1
            picked = (
                chunk.offsets[rows],
                chunk.caplens[rows],
                chunk.origlens[rows],
                chunk.stamps[rows],
            )
            self.deferred.append(np.stack(picked, axis=1))
            return
        exact, exact_rows = self._run_exact(chunk, rows, cls)
        if self.deliveries is not None:
            self.deliveries.write_chunk(
                chunk.first, chunk.stamps, chunk.caplens, chunk.origlens, cls, exact_rows
            )
        if self.out_dir is not None:
            self._write_points(chunk, cls, exact)

    def _count_lengths(self, chunk: Chunk, cls: np.ndarray) -> None:
        """Frames per length of the classes whose drop reasons name the length."""
        sel = np.flatnonzero(self._lengthwise[cls])
        keys = cls[sel] * (MAX_CAPLEN + 1) + chunk.caplens[sel]
        uniq, counts = np.unique(keys, return_counts=True)
        for key, n in zip(uniq.tolist(), counts.tolist(), strict=True):
            self._length_counts[key // (MAX_CAPLEN + 1)][key % (MAX_CAPLEN + 1)] += n

    def _classify(self, chunk: Chunk) -> np.ndarray:
        if self._cls.shape[0] < len(chunk):
            self._cls = np.empty(len(chunk), dtype=np.int64)
        out = self._cls[: len(chunk)]
        before = len(self.book)
        done = 0
        while done < len(chunk):
            sl = slice(done, None)
            done += kernels.classify(
                chunk.buf,
                chunk.offsets[sl],
                chunk.caplens[sl],
                chunk.origlens[sl],
                self.universe,
                self.book.lclass_of,
                VLAN_TPIDS[0],
                VLAN_TPIDS[1],
                self.table.keys,
                self.table.ids,
                self.table.state,
                out[sl],
                self.table.counts,
                self.table.sums,
            )
            if done < len(chunk):
                self.table.grow()
        if int(self.table.state[0]) > before:
            self._probe_new(chunk, out, before)
        return out

    def _probe_new(self, chunk: Chunk, cls: np.ndarray, before: int) -> None:
        """Probe the classes this chunk met first: with their first member and their last
        (another length, other addresses, when the chunk has one)."""
        total = int(self.table.state[0])
        rows = np.arange(len(chunk), dtype=np.int64)
        first = np.full(total, -1, dtype=np.int64)
        last = np.full(total, -1, dtype=np.int64)
        first[cls[::-1]] = rows[::-1]  # the lowest row of each class is written last
        last[cls] = rows
        flags = self._class_flags(before, total)
        for k in range(total - before):
            a, b = int(first[before + k]), int(last[before + k])
            reason = "" if not flags[k] else self._flag_reason(chunk, a)
            outcome = self.book.add(chunk.frame(a), chunk.frame(b), reason)
            self._register(before + k, outcome.receptions)
        self._scalar = self.book.scalar_flags()
        self._lengthwise = np.array(
            [o.lengthwise and not o.scalar for o in self.book.outcomes], dtype=bool
        )

    def _class_flags(self, before: int, total: int) -> np.ndarray:
        ids = self.table.ids
        used = ids >= before
        flags = np.zeros(total - before, dtype=bool)
        word3 = self.table.keys[used, 3]
        flags[ids[used] - before] = (word3 >> np.uint64(32)) & np.uint64(kernels.FLAG_SCALAR) != 0
        return flags

    @staticmethod
    def _flag_reason(chunk: Chunk, i: int) -> str:
        """Why the classifier flagged frame ``i`` for the exact engine, in the classifier's
        own terms (:func:`kernels.classify`): a cut record, a deeper tag stack than the key
        keeps (tags counted as it counts them), or IPv4 to a group address that is a fragment
        or too short to show its fragment field (reassembly may hold it)."""
        if chunk.caplens[i] != chunk.origlens[i]:
            return "truncated record (caplen < len)"
        frame = chunk.frame(i)
        tags, at = 0, ETH_ALEN * 2
        while at + 2 <= len(frame) and int.from_bytes(frame[at : at + 2], "big") in VLAN_TPIDS:
            tags, at = tags + 1, at + VLAN_HLEN
        if tags > kernels.MAX_TAGS:
            return f"more than {kernels.MAX_TAGS} VLAN tags"
        if len(frame) < at + 2 + _IP_FRAG_END:
            return "IPv4 to a group, too short to show its fragment field (reassembly)"
        return "IPv4 group fragment (reassembly)"

    def _register(self, cid: int, receptions: tuple[ClassReception, ...]) -> None:
        for j, r in enumerate(receptions):
            self._point_refs[r.point].append((cid, j, r))
            if r.middle not in self._middle_at:
                self._middle_at[r.middle] = len(self._middles)
                self._middles += r.middle

    # ------------------------------------------------------------------ the exact engine
    def _run_exact(
        self, chunk: Chunk, rows: np.ndarray, cls: np.ndarray
    ) -> tuple[_PointRecords, dict[int, FrameOutcome]]:
        """Frames the exact engine takes, in order. Returns point -> (sort key, ts, bytes,
        wire length) for the pcaps, and row -> outcome for the delivery arrays (an outcome
        with copies still queued gains them when the queue is served)."""
        per_point: _PointRecords = defaultdict(list)
        per_row: dict[int, FrameOutcome] = {}
        outcomes = self.book.outcomes
        for i in rows.tolist():
            ts = int(chunk.stamps[i])
            out = feed_record(self.engine, chunk.frame(i), ts, int(chunk.origlens[i]))
            self.exact_reasons[outcomes[int(cls[i])].scalar] += 1
            per_row[i] = out
            if out.pending:
                self._waiting.append((out, ts))
                continue
            account_outcome(self.stats, out, self.lower)
            if self.out_dir is not None:
                for j, r in enumerate(out.receptions):
                    per_point[r.point].append((i * _STRIDE + j, ts, r.wire_bytes, r.wire_len))
        return per_point, per_row

    # ------------------------------------------------------------------ per-point pcaps
    def _write_points(
        self,
        chunk: Chunk,
        cls: np.ndarray,
        exact: _PointRecords,
    ) -> None:
        order = np.argsort(cls, kind="stable")
        counts = np.bincount(cls, minlength=len(self.book))
        starts = np.concatenate([[0], np.cumsum(counts)])
        middles = np.frombuffer(bytes(self._middles) or b"\0", dtype=np.uint8)
        for point in sorted(set(self._point_refs) | set(exact)):
            idx_parts, j_parts, refs = [], [], []
            for cid, j, r in self._point_refs.get(point, ()):
                if counts[cid] and not self._scalar[cid]:
                    idx_parts.append(order[starts[cid] : starts[cid + 1]])
                    j_parts.append(j)
                    refs.append(r)
            extra = exact.get(point, [])
            if not idx_parts and not extra:
                continue
            self._write_point(chunk, point, idx_parts, j_parts, refs, extra, middles)

    def _write_point(self, chunk, point, idx_parts, j_parts, refs, extra, middles) -> None:
        writer = self._writer(point)
        if idx_parts:
            sizes = [len(p) for p in idx_parts]
            idx = np.concatenate(idx_parts)
            keys = idx * _STRIDE + np.repeat(np.array(j_parts, dtype=np.int64), sizes)
            cut = np.repeat(np.array([r.cut for r in refs], dtype=np.int64), sizes)
            mlen = np.repeat(np.array([len(r.middle) for r in refs], dtype=np.int64), sizes)
            moff = np.repeat(
                np.array([self._middle_at[r.middle] for r in refs], dtype=np.int64), sizes
            )
            o = np.argsort(keys, kind="stable")
            idx, keys, cut, mlen, moff = idx[o], keys[o], cut[o], mlen[o], moff[o]
        else:
            idx = keys = cut = mlen = moff = np.zeros(0, dtype=np.int64)
        pos = 0
        for key, ts, data, wire_len in extra:
            stop = int(np.searchsorted(keys, key))
            self._gather(
                writer, chunk, idx[pos:stop], cut[pos:stop], mlen[pos:stop], moff[pos:stop], middles
            )
            writer.write(ts, data, wire_len)
            pos = stop
        self._gather(writer, chunk, idx[pos:], cut[pos:], mlen[pos:], moff[pos:], middles)

    @staticmethod
    def _gather(writer, chunk, idx, cut, mlen, moff, middles) -> None:
        if not len(idx):
            return
        stamps = chunk.stamps[idx]
        if stamps.min() < 0 or stamps.max() >= _PCAP_TIME_LIMIT_NS:
            # Times classic pcap cannot hold: one record at a time, so the writer clamps and
            # counts each as the exact replay's writer does.
            for i, c, n, o in zip(
                idx.tolist(), cut.tolist(), mlen.tolist(), moff.tolist(), strict=True
            ):
                frame = chunk.frame(i)
                data = frame[:12] + middles[o : o + n].tobytes() + frame[12 + c :]
                writer.write(int(chunk.stamps[i]), data, len(data))
            return
        caplens = chunk.caplens[idx]
        size = int((caplens - cut + mlen).sum()) + 16 * len(idx)
        out = np.empty(size, dtype=np.uint8)
        written = kernels.gather_records(
            chunk.buf,
            chunk.offsets[idx],
            caplens,
            chunk.stamps[idx],
            writer.nanosecond,
            cut,
            middles,
            moff,
            mlen,
            out,
        )
        writer.write_raw(out[:written], len(idx))

    def _writer(self, point: str) -> CaptureWriter:
        writer = self.writers.get(point)
        if writer is None:
            assert self.out_dir is not None
            writer = self.open_writer(self.out_dir / point_filename(point))
            self.writers[point] = writer
        return writer

    # ------------------------------------------------------------------ the end
    def abort(self) -> list[str]:
        """Delete the pcaps and delivery arrays this replay created (a failed run's are
        incomplete)."""
        if self.deliveries is not None:
            self.deliveries.abort()
            self.deliveries = None
        return discard_writers(self.writers)

    def finish(self, reader: CaptureSource | None = None) -> FastResult:
        """Drain what is queued, close the pcaps, take the reader's skip counts and where it
        stopped (``reader``: a capture reader or a :class:`TraceIndex`), and multiply out the
        classes into statistics and counters."""
        self.engine.run_workqueue()
        for out, ts in self._waiting:
            account_outcome(self.stats, out, self.lower)
            if self.out_dir is not None:
                for r in out.receptions:
                    self._writer(r.point).write(ts, r.wire_bytes, r.wire_len)
        self._waiting.clear()
        for point, writer in self.writers.items():
            writer.close()
            self.stats.points[point].timestamps_clamped = writer.clamped
        if self.deliveries is not None:
            self.deliveries.close(self.book.outcomes)
        if reader is not None:
            self.stats.skipped.update(reader.skipped)
            self.stats.stopped = input_stop(reader)
        counters = self._class_totals()
        for dev, per in self.engine.counters.totals.items():
            for fld, value in per.items():
                counters.add(dev, fld, value)
        totals = counters.nonzero_totals()
        self.stats.counters = {k: v for k, v in sorted(totals.items()) if v}
        self.stats.fast_classes = len(self.book)
        self.stats.exact_frames.update({k: v for k, v in self.exact_reasons.items() if v})
        return FastResult(
            self.stats,
            counters,
            classes=len(self.book),
            exact_frames=sum(self.exact_reasons.values()),
            exact_reasons={k: v for k, v in self.exact_reasons.items() if v},
        )

    def _class_totals(self) -> CounterBook:
        """Each class's outcome times its frames (and its byte sum for byte counters)."""
        st = self.stats
        book = CounterBook()
        for dev in self.engine.host.devices:
            book.ensure(dev)
        for cid, outcome in enumerate(self.book.outcomes):
            n = int(self.table.counts[cid])
            if not n or outcome.scalar:
                continue
            total_len = int(self.table.sums[cid])
            st.fates[outcome.fate] += n
            for r in outcome.receptions:
                ps = st.points[r.point]
                ps.frames += n
                ps.bytes += total_len + n * r.data_delta
                ps.pkttypes[r.pkttype] += n
                ps.queued += n * r.queued
            for reason, d, (rule, point) in zip(
                outcome.drops, outcome.drop_lengths, outcome.drop_sites, strict=True
            ):
                st.drops[rule] += n
                st.drop_points[rule][point] += n
                if d is None:
                    note_drop_example(st, rule, reason)
                    continue
                for length in self._length_counts[cid]:
                    note_drop_example(st, rule, reason.format(n=length + d))
            for (dev, fld), (slope, intercept) in outcome.counters.items():
                book.add(dev, fld, slope * total_len + intercept * n)
        return book


#: Classic pcap holds seconds in 32 bits: later (or negative) times are clamped by the writer.
_PCAP_TIME_LIMIT_NS = (1 << 32) * 1_000_000_000


def _clamping_writer(path: Path) -> CaptureWriter:
    """A point's pcap as the exact replay writes it: out-of-range times clamped and counted."""
    return CaptureWriter(path, timestamps="clamp")


def _topology(topology: Topology | str | Path) -> Topology:
    return topology if isinstance(topology, Topology) else load_topology(topology)


def replay(
    trace: str | Path,
    topology: Topology | str | Path,
    *,
    out_dir: str | Path | None = None,
    deliveries: str | Path | None = None,
    keep_going: bool = False,
    chunk_records: int = DEFAULT_CHUNK,
    index_cache: bool = False,
    open_writer: Callable[[Path], CaptureWriter] | None = None,
) -> FastResult:
    """Replay ``trace`` (a pcap/pcapng path) into the lower of ``topology`` (a topology file
    path or a loaded :class:`Topology`), with the fast path. The result's ``counters`` equal
    the exact engine's ``Engine.counters`` for the same replay; ``stats`` equal its
    ``ReplayStats``. ``out_dir``: one pcap per observation point (opened by ``open_writer``,
    by default a writer that clamps times pcap cannot hold, as the exact replay does);
    ``deliveries``: per-frame delivery arrays as Parquet (see
    :mod:`macvlan_sim.fast.deliveries`); ``index_cache``: keep the trace index beside the
    trace (``TRACE.mvsidx``) and reuse it next time. If anything fails, the pcaps this replay
    created (pcaps, delivery arrays) are removed."""
    topo = _topology(topology)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    replayer: FastReplayer | None = None
    try:
        replayer = FastReplayer(
            topo,
            out,
            deliveries=Path(deliveries) if deliveries is not None else None,
            open_writer=open_writer,
            trace=str(trace),
        )
        index = TraceIndex(
            str(trace), keep_going=keep_going, chunk_records=chunk_records, cache=index_cache
        )
        for chunk in index.chunks():
            replayer.feed(chunk)
        return replayer.finish(index)
    except BaseException:
        if replayer is not None:
            replayer.abort()
        raise
