"""Per-frame delivery arrays as Parquet (pyarrow), written chunk by chunk.

Delivery sets are kept compact: each frame row names its *class*; the classes file lists each
class's receptions once (point and pkt_type, in the engine's order), its fate and drops. A
broadcast to 4,096 macvlans is one class row, not 4,096 objects per frame. Frames the exact
engine took carry their own receptions in ``exact_points``/``exact_pkttypes``.

Rows are written in trace order. A frame whose copies wait in a stateful broadcast queue
(``drain rate``/``manual``) is complete only once the queue has served them, so its chunk —
and every chunk after it — is held until then and written when complete. Held rows beyond
:data:`HOLD_ROWS` go to a spill file (under ``drain manual`` the queue is served only at the
end), so memory stays bounded by the frames still queued.

    frames:  frame, timestamp_ns, caplen, orig_len, class, exact_points, exact_pkttypes
    classes: class, exact_reason, fate, points, pkttypes, drops
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.fast.classes import ClassOutcome

FRAMES_SCHEMA = pa.schema(
    [
        ("frame", pa.int64()),
        ("timestamp_ns", pa.int64()),
        ("caplen", pa.int32()),
        ("orig_len", pa.int32()),
        ("class", pa.int32()),
        ("exact_points", pa.list_(pa.string())),
        ("exact_pkttypes", pa.list_(pa.string())),
    ]
)


#: Rows held in memory, at most, while queued copies are awaited; beyond, they go to a spill
#: file beside the output (``PATH`` with ``.spill.parquet``) until the copies arrive.
HOLD_ROWS = 1 << 20

_LIST = pa.list_(pa.string())


def _receptions(out: FrameOutcome) -> tuple[list[str], list[str]]:
    return [r.point for r in out.receptions], [r.pkttype.word for r in out.receptions]


@dataclass
class _HeldChunk:
    """A chunk's rows, with the exact engine's outcomes of its exact-engine rows."""

    first: int
    stamps: np.ndarray
    caplens: np.ndarray
    origlens: np.ndarray
    cls: np.ndarray
    exact: dict[int, FrameOutcome]

    def complete(self) -> bool:
        return all(not out.pending for out in self.exact.values())

    def table(self) -> pa.Table:
        n = len(self.cls)
        points: list[list[str] | None] = [None] * n
        kinds: list[list[str] | None] = [None] * n
        for row, out in self.exact.items():
            points[row], kinds[row] = _receptions(out)
        return pa.table(
            {
                "frame": np.arange(self.first, self.first + n, dtype=np.int64),
                "timestamp_ns": self.stamps,
                "caplen": self.caplens.astype(np.int32),
                "orig_len": self.origlens.astype(np.int32),
                "class": self.cls.astype(np.int32),
                "exact_points": pa.array(points, type=_LIST),
                "exact_pkttypes": pa.array(kinds, type=_LIST),
            },
            schema=FRAMES_SCHEMA,
        )


class DeliveryWriter:
    """``PATH`` gets the frames; ``PATH`` with ``.classes.parquet`` the classes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = pq.ParquetWriter(str(path), FRAMES_SCHEMA)
        self._held: deque[_HeldChunk] = deque()
        self._held_rows = 0
        self.hold_rows = HOLD_ROWS
        self._spill_path = path.with_suffix(".spill.parquet")
        self._spill: pq.ParquetWriter | None = None
        #: Frames in the spill file whose copies were still queued: frame -> outcome.
        self._spilled: dict[int, FrameOutcome] = {}

    def write_chunk(
        self,
        first: int,
        stamps: np.ndarray,
        caplens: np.ndarray,
        origlens: np.ndarray,
        cls: np.ndarray,
        exact: dict[int, FrameOutcome],
    ) -> None:
        """One chunk's rows; ``exact`` maps a row to the exact engine's outcome for it (read
        when the row is written, so copies a queue delivers later are in it)."""
        chunk = _HeldChunk(first, stamps, caplens, origlens, cls, exact)
        if self._spill is None and not self._held and chunk.complete():
            self._writer.write_table(chunk.table())
            return
        self._held.append(
            _HeldChunk(first, stamps.copy(), caplens.copy(), origlens.copy(), cls.copy(), exact)
        )
        self._held_rows += len(cls)
        self._write_complete()
        if self._held_rows > self.hold_rows:
            self._spill_held()

    def _write_complete(self, *, all_held: bool = False) -> None:
        """Write the spilled and held rows, in order, up to the first with copies queued."""
        if self._spill is not None:
            if not all_held and any(out.pending for out in self._spilled.values()):
                return
            self._unspill()
        while self._held and (all_held or self._held[0].complete()):
            chunk = self._held.popleft()
            self._held_rows -= len(chunk.cls)
            self._writer.write_table(chunk.table())

    def _spill_held(self) -> None:
        """Move the held rows to the spill file; keep only the outcomes still awaited."""
        if self._spill is None:
            self._spill = pq.ParquetWriter(str(self._spill_path), FRAMES_SCHEMA)
        while self._held:
            chunk = self._held.popleft()
            self._spill.write_table(chunk.table())
            for row, out in chunk.exact.items():
                if out.pending:
                    self._spilled[chunk.first + row] = out
        self._held_rows = 0

    def _unspill(self) -> None:
        """Copy the spill file to the output, with the late copies filled in; delete it."""
        assert self._spill is not None
        self._spill.close()
        self._spill = None
        for batch in pq.ParquetFile(str(self._spill_path)).iter_batches():
            self._writer.write_table(_fill_late(pa.Table.from_batches([batch]), self._spilled))
        self._spilled = {}
        self._spill_path.unlink()

    def close(self, outcomes: list[ClassOutcome]) -> None:
        """Write what is held (call after the queue is drained), then the classes file."""
        self._write_complete(all_held=True)
        self._writer.close()
        classes = pa.table(
            {
                "class": pa.array(range(len(outcomes)), type=pa.int32()),
                "exact_reason": [o.scalar or None for o in outcomes],
                "fate": [o.fate or None for o in outcomes],
                "points": [[r.point for r in o.receptions] for o in outcomes],
                "pkttypes": [[r.pkttype for r in o.receptions] for o in outcomes],
                "drops": [list(o.drops) for o in outcomes],
            }
        )
        pq.write_table(classes, str(self.path.with_suffix(".classes.parquet")))

    def abort(self) -> None:
        """Close and delete the files (a failed replay's arrays are incomplete)."""
        self._held.clear()
        self._writer.close()
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        for path in (self.path, self.path.with_suffix(".classes.parquet"), self._spill_path):
            path.unlink(missing_ok=True)


def _fill_late(table: pa.Table, late: dict[int, FrameOutcome]) -> pa.Table:
    """``table`` with the receptions of its frames in ``late`` as they are now."""
    frames = table.column("frame").to_numpy()
    hits = np.flatnonzero(np.isin(frames, np.fromiter(late, dtype=np.int64, count=len(late))))
    if not len(hits):
        return table
    points = table.column("exact_points").to_pylist()
    kinds = table.column("exact_pkttypes").to_pylist()
    for i in hits.tolist():
        points[i], kinds[i] = _receptions(late[int(frames[i])])
    table = table.set_column(5, "exact_points", pa.array(points, type=_LIST))
    return table.set_column(6, "exact_pkttypes", pa.array(kinds, type=_LIST))
