"""Replaying a capture through the exact engine: every Ethernet frame enters the lower from
the wire; per-point statistics are gathered and, optionally, one pcap per observation point is
written.

This layer only moves records between a reader, the engine and writers; the decisions are the
engine's. Every input record is accounted for: fed to the engine (and then received somewhere
or dropped with a reason) or skipped by the reader with a counted reason.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.io.capture import Reason, point_filename
from macvlan_sim.model.constants import ETH_HLEN


class Record(Protocol):
    """What replay needs of a capture record (``macvlan_sim.io.capture.CaptureRecord`` fits)."""

    index: int
    timestamp_ns: int
    data: bytes
    orig_len: int


class PointWriter(Protocol):
    """One output pcap (``CaptureWriter`` fits). ``clamped`` counts records whose timestamp
    the file format could not hold and that were written with the nearest one it can."""

    path: str
    clamped: int

    def write(self, timestamp_ns: int, data: bytes, orig_len: int | None = None) -> None: ...
    def close(self) -> None: ...


@dataclass
class PointStats:
    """One observation point. ``bytes`` adds up the frames' lengths as a capture at that
    point records them (``len``: Ethernet header and tags in band, original length of a
    snaplen-truncated record); see docs/replay.md for how it relates to the counters."""

    frames: int = 0
    bytes: int = 0
    pkttypes: Counter[str] = field(default_factory=Counter)
    queued: int = 0
    timestamps_clamped: int = 0


@dataclass
class InputStop:
    """Why reading ended before the end of the file (``--keep-going`` after a structural
    break): the reader's one-line message, the offset and how many bytes were left unread
    (None: unknown, e.g. a pipe)."""

    reason: str
    message: str
    offset: int | None
    unread_bytes: int | None


@dataclass
class ReplayStats:
    """Totals of a replay, all derived from the engine's outcomes.

    Both the exact engine and the fast path fill this object; :func:`replay_json` and the
    report read only it, so both engines print the same statistics the same way.
    ``records`` counts the Ethernet records handed to the replayer; ``skipped`` the records
    the reader or replayer set aside, by reason; ``records_read`` is their sum.
    """

    trace: str = ""
    topology: str = ""
    lower: str = ""
    engine: str = "exact"
    out_dir: str | None = None
    records: int = 0
    frames_fed: int = 0
    truncated: int = 0
    runts: int = 0
    points: dict[str, PointStats] = field(default_factory=lambda: defaultdict(PointStats))
    #: Dropped copies by rule id; ``drop_points`` splits each by device, ``drop_examples``
    #: keeps one reason text for each rule (see :func:`note_drop_example`).
    drops: Counter[str] = field(default_factory=Counter)
    drop_points: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    drop_examples: dict[str, str] = field(default_factory=dict)
    #: Frames by fate id (see :data:`FATES`).
    fates: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    stopped: InputStop | None = None
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The fast path only: how many frame classes it probed, and the frames it handed to the
    #: exact engine one by one, by reason (reassembly, stateful queue, truncated, ...).
    fast_classes: int = 0
    exact_frames: Counter[str] = field(default_factory=Counter)

    def add(self, other: ReplayStats) -> None:
        """Add another part's totals (a shard of the same trace); counters are added too."""
        self.records += other.records
        self.frames_fed += other.frames_fed
        self.truncated += other.truncated
        self.runts += other.runts
        for name, ps in other.points.items():
            mine = self.points[name]
            mine.frames += ps.frames
            mine.bytes += ps.bytes
            mine.pkttypes.update(ps.pkttypes)
            mine.queued += ps.queued
            mine.timestamps_clamped += ps.timestamps_clamped
        self.drops.update(other.drops)
        for rule, per_point in other.drop_points.items():
            self.drop_points[rule].update(per_point)
        for rule, text in other.drop_examples.items():
            note_drop_example(self, rule, text)
        self.fates.update(other.fates)
        self.skipped.update(other.skipped)
        for dev, per in other.counters.items():
            mine_c = self.counters.setdefault(dev, {})
            for fld, value in per.items():
                mine_c[fld] = mine_c.get(fld, 0) + value

    @property
    def records_read(self) -> int:
        """Every record met in the file, fed or not (the table's "records read")."""
        return self.records + sum(self.skipped.values())

    @property
    def skipped_by_reason(self) -> Counter[str]:
        """Records not fed, by reason: the reader's skips and the replayer's runts."""
        out = Counter(self.skipped)
        if self.runts:
            out[Reason.RUNT] += self.runts
        return out

    @property
    def accounted(self) -> int:
        return self.frames_fed + self.runts + sum(self.skipped.values())

    @property
    def timestamps_clamped(self) -> int:
        return sum(p.timestamps_clamped for p in self.points.values())


#: Where a frame ended, by fate id (the JSON keys) with the English text the table shows.
FATES: dict[str, str] = {
    "delivered": "delivered to a macvlan or VLAN device",
    "lower_stack": "lower's stack only",
    "dropped": "dropped",
    "tap_only": "seen by the lower's tap only",
}

#: How a snaplen-truncated record is treated (the table and the JSON say it).
TRUNCATED_TREATMENT = (
    "each fed with its captured bytes and judged by its original length (MTU checks, byte "
    "counters, sizes); output pcaps keep caplen and the original len"
)


def feed_record(
    engine: Engine, data: bytes, timestamp_ns: int | None, orig_len: int | None
) -> FrameOutcome:
    """One trace record into ``engine`` from the wire, as every replay feeds it: at its
    timestamp (the rate drain and reassembly timeouts read the clock), and, when the record
    was cut by the snaplen (``orig_len`` > its bytes), judged by its original length.

    The exact replay, the fast path's exact frames, its shards and the teaching commands
    all feed records through here, so a record means the same to each of them."""
    wire_len = orig_len if orig_len is not None and orig_len > len(data) else None
    return engine.rx(data, timestamp_ns=timestamp_ns, wire_len=wire_len)


def fate_of(outcome: FrameOutcome, lower: str) -> str:
    """Where a frame ended, as a key of :data:`FATES`."""
    macvlan_points = {r.point for r in outcome.receptions if r.received}
    macvlan_points -= {lower, f"{lower}:stack", "wire"}
    if any(not p.endswith(":stack") for p in macvlan_points):
        return "delivered"
    if any(r.point == f"{lower}:stack" for r in outcome.receptions):
        return "lower_stack"
    if outcome.drops:
        return "dropped"
    return "tap_only"


def account_outcome(st: ReplayStats, outcome: FrameOutcome, lower: str) -> None:
    """Add one finished frame's fate, receptions and drops to the totals (both engines)."""
    st.fates[fate_of(outcome, lower)] += 1
    for r in outcome.receptions:
        ps = st.points[r.point]
        ps.frames += 1
        ps.bytes += r.wire_len
        ps.pkttypes[r.pkttype.word] += 1
        ps.queued += r.queued
    for d in outcome.drops:
        st.drops[d.rule] += 1
        st.drop_points[d.rule][d.point] += 1
        note_drop_example(st, d.rule, d.reason)


def note_drop_example(st: ReplayStats, rule: str, text: str) -> None:
    """Keep one reason text per rule: the least in sort order, so the example does not
    depend on the order frames were counted in (per class, per shard, or one by one)."""
    known = st.drop_examples.get(rule)
    if known is None or text < known:
        st.drop_examples[rule] = text


class Replayer:
    """Feeds records to ``engine``; ``open_writer(path)`` makes a writer per observation point
    on first use (None: no pcaps). ``trace`` and ``topology`` name the inputs in the stats.

    If anything fails before :meth:`finish` has closed every writer, :meth:`abort` removes
    the pcaps this replay created, so a failed run leaves no half-written files behind.
    """

    def __init__(
        self,
        engine: Engine,
        open_writer: Callable[[Path], PointWriter] | None = None,
        out_dir: Path | None = None,
        *,
        trace: str = "",
        topology: str = "",
    ) -> None:
        self.engine = engine
        self.open_writer = open_writer
        self.out_dir = out_dir
        self.writers: dict[str, PointWriter] = {}
        self._lower = engine.host.lower.name if engine.host.lower else "lower"
        self.stats = ReplayStats(
            trace=trace,
            topology=topology,
            lower=self._lower,
            out_dir=None if out_dir is None or open_writer is None else str(out_dir),
        )
        #: Frames with copies still in a broadcast queue (drain "manual"): accounted at finish.
        self._waiting: list[tuple[FrameOutcome, int]] = []

    def feed(self, records: Iterable[Record], progress: Callable[[], None] | None = None) -> None:
        for record in records:
            self.feed_one(record)
            if progress is not None:
                progress()

    def feed_one(self, record: Record) -> None:
        st = self.stats
        st.records += 1
        data = record.data
        if len(data) < ETH_HLEN:
            st.runts += 1
            return
        if len(data) < record.orig_len:
            st.truncated += 1
        outcome = feed_record(self.engine, data, record.timestamp_ns, record.orig_len)
        st.frames_fed += 1
        if outcome.pending:
            self._waiting.append((outcome, record.timestamp_ns))
        else:
            self._account(outcome, record.timestamp_ns)

    def _account(self, outcome: FrameOutcome, ts: int) -> None:
        account_outcome(self.stats, outcome, self._lower)
        if self.open_writer is not None and self.out_dir is not None:
            for r in outcome.receptions:
                self._writer(r.point).write(ts, r.wire_bytes, r.wire_len)

    def _writer(self, point: str) -> PointWriter:
        writer = self.writers.get(point)
        if writer is None:
            assert self.open_writer is not None and self.out_dir is not None
            writer = self.open_writer(self.out_dir / point_filename(point))
            self.writers[point] = writer
        return writer

    def finish(self, reader: CaptureSource | None = None) -> ReplayStats:
        """Drain what is still queued, close writers, and take the final counters and the
        reader's skip counts (and where it stopped, if it did)."""
        self.engine.run_workqueue()
        for outcome, ts in self._waiting:
            self._account(outcome, ts)
        self._waiting.clear()
        for point, writer in self.writers.items():
            writer.close()
            self.stats.points[point].timestamps_clamped = writer.clamped
        if reader is not None:
            self.stats.skipped.update(reader.skipped)
            self.stats.stopped = input_stop(reader)
        totals = self.engine.counters.nonzero_totals()
        self.stats.counters = {k: v for k, v in sorted(totals.items()) if v}
        return self.stats

    def abort(self) -> list[str]:
        """Close every writer without reporting errors and delete the files this replay
        created (they are incomplete); returns their paths."""
        return discard_writers(self.writers)


def discard_writers(writers: dict[str, PointWriter]) -> list[str]:
    """Close ``writers`` without reporting errors and delete their files (an interrupted
    replay's pcaps are incomplete); returns the paths removed. Both engines' replays use it."""
    removed = []
    for writer in writers.values():
        with contextlib.suppress(Exception):
            writer.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(writer.path)
            removed.append(writer.path)
    writers.clear()
    return removed


class CaptureSource(Protocol):
    """What :meth:`Replayer.finish` reads of a capture reader."""

    skipped: Counter[str]
    errors: list[Any]

    @property
    def unread_bytes(self) -> int | None: ...


def input_stop(reader: CaptureSource) -> InputStop | None:
    """Where and why ``reader`` stopped before the end of its file (None: it did not)."""
    if not reader.errors:
        return None
    err = reader.errors[-1]
    return InputStop(
        reason=getattr(err, "reason", "error"),
        message=str(err),
        offset=getattr(err, "offset", None),
        unread_bytes=reader.unread_bytes,
    )
