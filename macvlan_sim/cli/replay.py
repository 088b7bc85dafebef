"""Replaying a capture through the engine: every Ethernet frame enters the lower from the wire;
per-point statistics are gathered and, optionally, one pcap per observation point is written.

This layer only moves records between a reader, the engine and writers; the decisions are the
engine's. Every input record is accounted for: fed to the engine (and then received somewhere
or dropped with a reason) or skipped by the reader with a counted reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.io.capture import point_filename
from macvlan_sim.model.constants import ETH_HLEN, PktType


class Record(Protocol):
    """What replay needs of a capture record (``macvlan_sim.io.capture.CaptureRecord`` fits)."""

    index: int
    timestamp_ns: int
    data: bytes
    orig_len: int


class PointWriter(Protocol):
    def write(self, timestamp_ns: int, data: bytes, orig_len: int | None = None) -> None: ...
    def close(self) -> None: ...


@dataclass
class PointStats:
    frames: int = 0
    bytes: int = 0
    pkttypes: Counter[str] = field(default_factory=Counter)
    queued: int = 0


@dataclass
class ReplayStats:
    """Totals of a replay, all derived from the engine's outcomes."""

    records: int = 0
    frames_fed: int = 0
    truncated: int = 0
    runts: int = 0
    points: dict[str, PointStats] = field(default_factory=lambda: defaultdict(PointStats))
    drops: Counter[str] = field(default_factory=Counter)
    fates: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def accounted(self) -> int:
        return self.frames_fed + self.runts + sum(self.skipped.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "input": {
                "records": self.records,
                "frames_fed": self.frames_fed,
                "truncated_records": self.truncated,
                "skipped": dict(self.skipped) | ({"runt": self.runts} if self.runts else {}),
                "accounted": self.accounted,
            },
            "fates": dict(self.fates),
            "points": {
                name: {
                    "frames": st.frames,
                    "bytes": st.bytes,
                    "pkttypes": dict(st.pkttypes),
                    "queued": st.queued,
                }
                for name, st in sorted(self.points.items())
            },
            "drops": dict(self.drops),
            "counters": self.counters,
        }


def fate_of(outcome: FrameOutcome, lower: str) -> str:
    """One word for where a frame ended, for the accounting table."""
    macvlan_points = {r.point for r in outcome.receptions if r.pkttype != PktType.OUTGOING}
    macvlan_points -= {lower, f"{lower}:stack", "wire"}
    if any(not p.endswith(":stack") for p in macvlan_points):
        return "delivered to a macvlan or VLAN device"
    if any(r.point == f"{lower}:stack" for r in outcome.receptions):
        return "lower's stack only"
    if outcome.drops:
        return "dropped"
    return "seen by the lower's tap only"


class Replayer:
    """Feeds records to ``engine``; ``open_writer(point)`` makes a writer per observation point
    on first use (None: no pcaps)."""

    def __init__(
        self,
        engine: Engine,
        open_writer: Callable[[Path], PointWriter] | None = None,
        out_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.open_writer = open_writer
        self.out_dir = out_dir
        self.writers: dict[str, PointWriter] = {}
        self.stats = ReplayStats()
        self._lower = engine.host.lower.name if engine.host.lower else "lower"
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
        if len(record.data) < ETH_HLEN:
            st.runts += 1
            return
        if len(record.data) < record.orig_len:
            st.truncated += 1
        outcome = self.engine.rx(record.data, timestamp_ns=record.timestamp_ns)
        st.frames_fed += 1
        if outcome.pending:
            self._waiting.append((outcome, record.timestamp_ns))
        else:
            self._account(outcome, record.timestamp_ns)

    def _account(self, outcome: FrameOutcome, ts: int) -> None:
        st = self.stats
        st.fates[fate_of(outcome, self._lower)] += 1
        for r in outcome.receptions:
            ps = st.points[r.point]
            ps.frames += 1
            ps.bytes += len(r.data)
            ps.pkttypes[r.pkttype.word] += 1
            ps.queued += r.queued
            if self.open_writer is not None and self.out_dir is not None:
                self._writer(r.point).write(ts, r.wire_bytes)
        for d in outcome.drops:
            st.drops[d.reason] += 1

    def _writer(self, point: str) -> PointWriter:
        writer = self.writers.get(point)
        if writer is None:
            assert self.open_writer is not None and self.out_dir is not None
            writer = self.open_writer(self.out_dir / point_filename(point))
            self.writers[point] = writer
        return writer

    def finish(self, skipped: Counter[str] | None = None) -> ReplayStats:
        """Drain what is still queued, close writers, and take the final counters."""
        self.engine.run_workqueue()
        for outcome, ts in self._waiting:
            self._account(outcome, ts)
        self._waiting.clear()
        for writer in self.writers.values():
            writer.close()
        if skipped:
            self.stats.skipped.update(skipped)
        totals = self.engine.counters.nonzero_totals()
        self.stats.counters = {k: v for k, v in sorted(totals.items()) if v}
        return self.stats
