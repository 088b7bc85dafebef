"""Run a trace through both engines and compare everything a user can see of the result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from macvlan_sim.cli.replay_json import replay_json
from macvlan_sim.fast.index import TraceIndex
from macvlan_sim.fast.replay import FastReplayer
from macvlan_sim.io.capture import CaptureWriter, ethernet_frames, open_capture
from macvlan_sim.io.replay import Replayer
from macvlan_sim.io.topology import Topology


def _document(stats: Any) -> dict[str, Any]:
    """The ``replay --json`` document, less what names the engine or its output directory
    (the rest must be equal)."""
    doc = replay_json(stats)
    del doc["engine"], doc["fast_path"]
    doc["outputs"]["directory"] = None  # each engine writes into its own directory
    return doc


def _clamping_writer(path: Path) -> CaptureWriter:
    return CaptureWriter(path, timestamps="clamp")  # as the CLI opens the exact replay's pcaps


def exact_run(trace: Path, topo: Topology, out: Path, keep_going: bool = True) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    engine = topo.engine(keep_paths=False)
    replayer = Replayer(engine, _clamping_writer, out, trace=str(trace), topology=topo.source)
    with open_capture(trace, keep_going=keep_going) as reader:
        replayer.feed(ethernet_frames(reader))
        stats = replayer.finish(reader)
    counters = dict(engine.counters.totals)
    return {"stats": _document(stats), "counters": counters, "pcaps": _files(out)}


def fast_run(
    trace: Path, topo: Topology, out: Path, keep_going: bool = True, chunk_records: int = 1 << 20
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    replayer = FastReplayer(topo, out, trace=str(trace))
    index = TraceIndex(str(trace), keep_going=keep_going, chunk_records=chunk_records)
    for chunk in index.chunks():
        replayer.feed(chunk)
    result = replayer.finish(index)
    return {
        "stats": _document(result.stats),
        "counters": dict(result.counters.totals),
        "pcaps": _files(out),
        "result": result,
    }


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def assert_identical(
    trace: Path, make_topology: Callable[[], Topology], tmp: Path, chunk_records: int = 1 << 20
) -> Any:
    exact = exact_run(trace, make_topology(), tmp / "exact")
    fast = fast_run(trace, make_topology(), tmp / "fast", chunk_records=chunk_records)
    assert fast["stats"] == exact["stats"]
    assert fast["counters"] == exact["counters"]
    assert fast["pcaps"].keys() == exact["pcaps"].keys()
    for name, data in exact["pcaps"].items():
        assert fast["pcaps"][name] == data, f"{name} differs"
    return fast["result"]
