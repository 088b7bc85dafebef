"""The command line around the fast path: gen, topology from-trace, replay --engine, --topology
auto, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from macvlan_sim.cli.main import main
from macvlan_sim.fast import replay
from macvlan_sim.io.topology import load_topology, parse_topology
from tests.capture.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[2]


def _doc(stats):
    """The replay document less what names the engine (identity compares the rest)."""
    from macvlan_sim.cli.replay_json import replay_json

    doc = replay_json(stats)
    del doc["engine"], doc["fast_path"]
    return doc


def _json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_gen_then_both_engines_agree(tmp_path: Path, capsys) -> None:
    trace = tmp_path / "g.pcap"
    args = [
        "gen",
        str(trace),
        "--frames",
        "3000",
        "--devices",
        "30",
        "--sizes",
        "64-1514",
        "--tagged",
        "0.1",
        "--source",
        "0.05",
        "--hairpin",
        "0.05",
        "--multicast",
        "0.05",
        "--modes",
        "bridge,vepa,private",
    ]
    assert main(args) == 0
    capsys.readouterr()
    topo = str(tmp_path / "g.topo")
    fast = _json(capsys, "replay", str(trace), "--topology", topo, "--json")
    exact = _json(capsys, "replay", str(trace), "--topology", topo, "--json", "--engine", "exact")
    assert fast.pop("engine") == "fast" and exact.pop("engine") == "exact"
    assert fast.pop("fast_path")["classes"] > 0 and exact.pop("fast_path") is None
    assert fast == exact
    assert fast["input"]["frames_fed"] == 3000
    assert fast["points"]["mvv0"]["pkttypes"]["host"] > 0  # tagged frames reach the VLAN's macvlan


def test_topology_auto_puts_unicast_on_macvlans(capsys) -> None:
    trace = CORPUS / "zeek__wikipedia.pcap"
    out = _json(capsys, "replay", str(trace), "--topology", "auto", "--json")
    assert "no unicast frame matched" not in capsys.readouterr().err
    hosts = sum(
        p["pkttypes"].get("host", 0) for n, p in out["points"].items() if n.startswith("mv")
    )
    assert hosts > 0
    assert main(["replay", str(trace), "--json"]) == 0  # the bundled topology: no match
    assert "no unicast frame matched any macvlan" in capsys.readouterr().err


def test_from_trace_with_vlans(tmp_path: Path) -> None:
    out = tmp_path / "t.topo"
    trace = CORPUS / "arkime__twovlan.pcap"
    argv = ["topology", "from-trace", str(trace), "--modes", "vepa,bridge", "-o", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert "type vlan id" in text and "mode vepa" in text
    result = replay(trace, load_topology(out))
    on_macvlans = [p for n, p in result.stats.points.items() if n.startswith("mv")]
    assert sum(p.pkttypes["host"] for p in on_macvlans) > 0


def test_python_api_counters_match_engine_shape() -> None:
    trace = CORPUS / "zeek__wikipedia.pcap"
    text = "lower eth0 address 02:00:00:00:00:01 veth\n"
    result = replay(trace, parse_topology(text))
    assert set(result.counters.totals) == {"eth0", "wire"}
    assert result.counters.totals["eth0"]["rx_packets"] == result.stats.frames_fed


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    for argv in (
        ["gen", str(tmp_path / "x.pcap"), "--sizes", "9-3"],
        ["gen", str(tmp_path / "x.pcap"), "--broadcast", "0.9", "--unknown", "0.5"],
        ["gen", str(tmp_path / "x.pcap"), "--modes", "sideways"],
        ["replay", str(CORPUS / "libpcap__pcap-invalid-version-1.pcap")],
        ["replay", str(tmp_path / "missing.pcap"), "--topology", "auto"],
        ["replay", str(CORPUS / "zeek__wikipedia.pcap"), "--engine", "exact", "--workers", "2"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("macvlan-sim: error:"), (argv, err)


def test_cli_module_runs_fast_replay() -> None:
    argv = ["replay", str(CORPUS / "zeek__wikipedia.pcap"), "--topology", "auto", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "macvlan_sim.cli.main", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["engine"] == "fast"


def test_delivery_arrays_rebuild_the_point_counts(tmp_path: Path) -> None:
    """Parquet delivery arrays: class rows × frames of the class (plus the frames the exact
    engine took, with their own receptions) give back every point's frame count."""
    from collections import Counter

    import pyarrow.parquet as pq

    trace = CORPUS / "pcapplusplus__frag_with_padding.pcap"  # has exact-engine frames
    text = "lower eth0 address 02:00:00:00:00:01 veth\nip maddr add 01:00:5e:00:00:fb dev eth0\n"
    out = tmp_path / "d.parquet"
    result = replay(trace, parse_topology(text), deliveries=out, chunk_records=3)
    frames = pq.read_table(out).to_pylist()
    classes = {
        c["class"]: c for c in pq.read_table(out.with_suffix(".classes.parquet")).to_pylist()
    }
    assert [f["frame"] for f in frames] == list(range(result.stats.frames_fed))
    seen: Counter[str] = Counter()
    for f in frames:
        points = (
            f["exact_points"] if f["exact_points"] is not None else classes[f["class"]]["points"]
        )
        seen.update(points)
    assert any(f["exact_points"] is not None for f in frames)
    assert seen == Counter({p: s.frames for p, s in result.stats.points.items()})


def test_index_cache_is_reused_and_invalidated(tmp_path: Path) -> None:
    import os
    import shutil

    trace = tmp_path / "t.pcap"
    shutil.copy(CORPUS / "zeek__wikipedia.pcap", trace)
    topo = "lower eth0 address 02:00:00:00:00:01 veth\n"
    first = replay(trace, parse_topology(topo), index_cache=True, chunk_records=50)
    cache = Path(str(trace) + ".mvsidx")
    assert cache.is_file()
    again = replay(trace, parse_topology(topo), index_cache=True, chunk_records=50)
    assert _doc(again.stats) == _doc(first.stats)
    os.utime(trace, ns=(1, 1))  # the trace changed: the cache no longer matches
    data = bytearray(cache.read_bytes())
    data[40:48] = bytes(8)  # and a reused stale cache would give wrong offsets
    cache.write_bytes(bytes(data))
    fresh = replay(trace, parse_topology(topo), index_cache=True)
    assert _doc(fresh.stats) == _doc(first.stats)
