"""The Parquet delivery arrays (``--deliveries``) against the statistics: every reception the
statistics count is in the file — also the broadcast copies a stateful queue delivers after
their frame was first run — and a failed replay leaves no half-written file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from macvlan_sim.fast import deliveries, replay
from macvlan_sim.fast.synthetic import Shares, generate, topology_text
from macvlan_sim.io.topology import parse_topology


def _receptions(path: Path) -> Counter[str]:
    frames = pq.read_table(path).to_pylist()
    classes = {
        c["class"]: c for c in pq.read_table(path.with_suffix(".classes.parquet")).to_pylist()
    }
    assert [f["frame"] for f in frames] == list(range(len(frames)))  # trace order
    seen: Counter[str] = Counter()
    for f in frames:
        exact = f["exact_points"]
        seen.update(exact if exact is not None else classes[f["class"]]["points"])
    return seen


@pytest.mark.parametrize(
    ("drain", "hold_rows"),
    [("rate 1", None), ("rate 1000000", None), ("manual", None), ("manual", 8), ("rate 1", 8)],
)
def test_queued_copies_reach_the_parquet_file(
    tmp_path: Path, drain: str, hold_rows: int | None, monkeypatch
) -> None:
    """Also with held rows spilled to disk (``hold_rows``): the output is the same."""
    if hold_rows is not None:
        monkeypatch.setattr(deliveries, "HOLD_ROWS", hold_rows)
    shares = Shares(broadcast=0.5, unknown=0.05)
    trace = tmp_path / "t.pcap"
    generate(str(trace), frames=50, devices=4, shares=shares, seed=1)
    text = f"host drain {drain}\n" + topology_text(4, shares, ("bridge", "vepa"))
    out = tmp_path / "d.parquet"
    result = replay(trace, parse_topology(text), deliveries=out, chunk_records=7)
    assert result.exact_frames > 0
    seen = _receptions(out)
    assert seen == Counter({p: s.frames for p, s in result.stats.points.items() if s.frames})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["d.classes.parquet", "d.parquet", "t.pcap"]  # no spill file


def test_failed_replay_removes_the_delivery_arrays(tmp_path: Path, monkeypatch) -> None:
    from macvlan_sim.fast.replay import FastReplayer

    monkeypatch.setattr(deliveries, "HOLD_ROWS", 4)  # a spill file exists when it fails
    trace = tmp_path / "t.pcap"
    generate(str(trace), frames=40, devices=2, shares=Shares(broadcast=0.5), seed=2)
    text = "host drain manual\n" + topology_text(2, Shares(broadcast=0.5))
    feed = FastReplayer.feed
    calls = []

    def failing_feed(self, chunk) -> None:
        calls.append(len(chunk))
        if len(calls) == 3:
            raise RuntimeError("disk gone")
        feed(self, chunk)

    monkeypatch.setattr(FastReplayer, "feed", failing_feed)
    out = tmp_path / "d.parquet"
    with pytest.raises(RuntimeError, match="disk gone"):
        replay(trace, parse_topology(text), out_dir=tmp_path / "pcaps", deliveries=out,
               chunk_records=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pcaps", "t.pcap"]
    assert list((tmp_path / "pcaps").iterdir()) == []


@pytest.mark.parametrize("how", ["close", "throw"])
def test_abandoned_walk_leaves_no_partial_index_cache(tmp_path: Path, how: str) -> None:
    from macvlan_sim.fast.index import TraceIndex

    trace = tmp_path / "t.pcap"
    generate(str(trace), frames=40, devices=2, shares=Shares(), seed=2)
    chunks = TraceIndex(str(trace), cache=True, chunk_records=5).chunks()
    next(chunks)
    assert Path(str(trace) + ".mvsidx.part").exists()  # the walk is writing its cache
    if how == "close":
        chunks.close()
    else:
        with pytest.raises(KeyboardInterrupt):
            chunks.throw(KeyboardInterrupt())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.pcap"]
