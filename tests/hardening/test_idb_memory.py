"""Issue 8 item 7: pcapng interface descriptions are stored compactly (1 M IDBs took 323 MB)."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

from macvlan_sim.io.capture import open_capture

IDBS = 20_000


def _pcapng(path: Path, idbs: int) -> None:
    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, 1, 0, 0, 20)
    frame = bytes.fromhex("ffffffffffff0a0000000001") + b"\x88\xb5" + b"\0" * 46
    epb = struct.pack("<IIIIIII", 6, 32 + 60, idbs - 1, 0, 1, 60, 60) + frame
    path.write_bytes(shb + idb * idbs + epb + struct.pack("<I", 32 + 60))


def test_a_million_style_idb_file_costs_bytes_per_interface_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "many-idbs.pcapng"
    _pcapng(path, IDBS)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        with open_capture(path) as reader:
            records = list(reader)
            after = tracemalloc.take_snapshot()
            held = sum(s.size_diff for s in after.compare_to(before, "filename"))
            assert len(reader.interfaces) == IDBS and reader.linktypes == (1,)
            assert reader.interfaces[-1].index == IDBS - 1 and reader.interfaces[5].snaplen == 0
            assert [r.interface for r in records] == [IDBS - 1]
    finally:
        tracemalloc.stop()
    assert held < 64 * IDBS, f"{held / IDBS:.0f} bytes per interface description"
