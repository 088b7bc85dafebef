"""Per-frame delivery arrays as Parquet (pyarrow), written chunk by chunk.

Delivery sets are kept compact: each frame row names its *class*; the classes file lists each
class's receptions once (point and pkt_type, in the engine's order), its fate and drops. A
broadcast to 4,096 macvlans is one class row, not 4,096 objects per frame. Frames the exact
engine took carry their own receptions in ``exact_points``/``exact_pkttypes``.

    frames:  frame, timestamp_ns, caplen, orig_len, class, exact_points, exact_pkttypes
    classes: class, exact_reason, fate, points, pkttypes, drops
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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


class DeliveryWriter:
    """``PATH`` gets the frames; ``PATH`` with ``.classes.parquet`` the classes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = pq.ParquetWriter(str(path), FRAMES_SCHEMA)

    def write_chunk(
        self,
        first: int,
        stamps: np.ndarray,
        caplens: np.ndarray,
        origlens: np.ndarray,
        cls: np.ndarray,
        exact: dict[int, list[tuple[str, str]]],
    ) -> None:
        """One chunk's rows; ``exact`` maps a row to the receptions the exact engine made."""
        n = len(cls)
        points: list[list[str] | None] = [None] * n
        kinds: list[list[str] | None] = [None] * n
        for row, receptions in exact.items():
            points[row] = [p for p, _ in receptions]
            kinds[row] = [k for _, k in receptions]
        table = pa.table(
            {
                "frame": np.arange(first, first + n, dtype=np.int64),
                "timestamp_ns": stamps,
                "caplen": caplens.astype(np.int32),
                "orig_len": origlens.astype(np.int32),
                "class": cls.astype(np.int32),
                "exact_points": pa.array(points, type=pa.list_(pa.string())),
                "exact_pkttypes": pa.array(kinds, type=pa.list_(pa.string())),
            },
            schema=FRAMES_SCHEMA,
        )
        self._writer.write_table(table)

    def close(self, outcomes: list[ClassOutcome]) -> None:
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
