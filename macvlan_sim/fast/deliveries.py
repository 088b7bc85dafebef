"""Per-frame delivery arrays as Parquet (pyarrow), written chunk by chunk.

Delivery sets are kept compact: each frame row names its *class*; the classes file lists each
class's receptions once (point and pkt_type, in the engine's order), its fate and drops. A
broadcast to 4,096 macvlans is one class row, not 4,096 objects per frame. Frames the exact
engine took carry their own receptions in ``exact_points``/``exact_pkttypes``.

Rows are written in trace order. A frame whose copies wait in a stateful broadcast queue
(``drain rate``/``manual``) is complete only once the queue has served them, so its chunk —
and every chunk after it — is held (copied) until then and written when complete.

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


@dataclass
class _HeldChunk:
    """A chunk's rows waiting for queued copies: its own arrays (the walk reuses its arrays)."""

    first: int
    stamps: np.ndarray
    caplens: np.ndarray
    origlens: np.ndarray
    cls: np.ndarray
    exact: dict[int, FrameOutcome]

    def complete(self) -> bool:
        return all(not out.pending for out in self.exact.values())


class DeliveryWriter:
    """``PATH`` gets the frames; ``PATH`` with ``.classes.parquet`` the classes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = pq.ParquetWriter(str(path), FRAMES_SCHEMA)
        self._held: deque[_HeldChunk] = deque()

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
        if not self._held and chunk.complete():
            self._write(chunk)
            return
        self._held.append(
            _HeldChunk(first, stamps.copy(), caplens.copy(), origlens.copy(), cls.copy(), exact)
        )
        self._write_complete()

    def _write_complete(self, *, all_held: bool = False) -> None:
        """Write the held chunks, in order, up to the first with copies still queued."""
        while self._held and (all_held or self._held[0].complete()):
            self._write(self._held.popleft())

    def _write(self, chunk: _HeldChunk) -> None:
        n = len(chunk.cls)
        points: list[list[str] | None] = [None] * n
        kinds: list[list[str] | None] = [None] * n
        for row, out in chunk.exact.items():
            points[row] = [r.point for r in out.receptions]
            kinds[row] = [r.pkttype.word for r in out.receptions]
        table = pa.table(
            {
                "frame": np.arange(chunk.first, chunk.first + n, dtype=np.int64),
                "timestamp_ns": chunk.stamps,
                "caplen": chunk.caplens.astype(np.int32),
                "orig_len": chunk.origlens.astype(np.int32),
                "class": chunk.cls.astype(np.int32),
                "exact_points": pa.array(points, type=pa.list_(pa.string())),
                "exact_pkttypes": pa.array(kinds, type=pa.list_(pa.string())),
            },
            schema=FRAMES_SCHEMA,
        )
        self._writer.write_table(table)

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
        """Close and delete both files (a failed replay's arrays are incomplete)."""
        self._held.clear()
        self._writer.close()
        for path in (self.path, self.path.with_suffix(".classes.parquet")):
            path.unlink(missing_ok=True)
