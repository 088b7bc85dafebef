"""The fast path's throughput as ratios to baselines measured in the same run (issue 9).

For each trace (64-byte frames or a uniform 64–1514 mix; 256 or 4,096 bridge macvlans;
0/10/50 % broadcast, 5 % unknown unicast, the rest unicast to a random macvlan) the fast
replay is timed by pytest-benchmark (best of 3, after a warm-up that loads the compiled
loops), and in the same test:

* ``stream``: the memory stream of the same file (mmap + ``numpy.sum`` over its bytes);
* ``dpkt``: a ``dpkt.pcap.Reader`` loop doing one dict lookup per frame (on a prefix);
* ``scapy``: a ``RawPcapReader`` loop doing one dict lookup per frame (on a prefix);
* ``exact``: the exact engine through the exact replay (on a shorter prefix).

Each ratio is frames/s of the fast path over frames/s of the baseline; ``extra_info`` holds
them, and ``python benchmarks/fast_table.py`` runs this file and rewrites the README's table.
``peak memory``: tracemalloc's peak for a trace over 10× the chunk budget.

Traces are generated once into ``$MACVLAN_SIM_BENCH_DIR`` (default: the system temp dir).
``MACVLAN_SIM_BENCH_FRAMES`` scales the frame counts (default 5,000,000 for 64-byte traces).
"""

from __future__ import annotations

import copy
import mmap
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.fast import replay
from macvlan_sim.fast.synthetic import DEVICE_BASE, Shares, generate, topology_text
from macvlan_sim.io.capture import CaptureWriter, ethernet_frames, open_capture
from macvlan_sim.io.replay import Replayer
from macvlan_sim.io.topology import Topology, parse_topology

DATA = Path(os.environ.get("MACVLAN_SIM_BENCH_DIR", tempfile.gettempdir())) / "macvlan-sim-bench"
FRAMES_64 = int(os.environ.get("MACVLAN_SIM_BENCH_FRAMES", "5000000"))
FRAMES_MIX = max(FRAMES_64 // 10, 1000)  # ~790 bytes a frame: about the same file size
PREFIX_LOOP = 200_000  # frames for the dpkt and scapy loops
PREFIX_EXACT = 1_000  # frames for the exact engine (4,096 copies of each broadcast)
CHUNK_BUDGET = 16 << 20  # bytes: the fast path takes about 64 bytes per record of a chunk
BYTES_PER_RECORD = 64

CASES = [
    pytest.param(sizes, devices, bc, id=f"{sizes}B-{devices}dev-{int(bc * 100)}bc")
    for sizes in ("64", "64-1514")
    for devices in (256, 4096)
    for bc in (0.0, 0.1, 0.5)
]


def _trace(sizes: str, devices: int, broadcast: float) -> tuple[Path, str, int]:
    frames = FRAMES_64 if sizes == "64" else FRAMES_MIX
    shares = Shares(broadcast=broadcast, unknown=0.05)
    path = DATA / f"{sizes}-{devices}-{int(broadcast * 100)}-{frames}.pcap"
    low, _, high = sizes.partition("-")
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        generate(str(tmp), frames=frames, devices=devices,
                 sizes=(int(low), int(high or low)), shares=shares, seed=1)
        tmp.rename(path)
    return path, topology_text(devices, shares), frames


_TOPOLOGIES: dict[str, Topology] = {}


def _topology(text: str) -> Topology:
    """A fresh copy of the topology (parsing 4,096 macvlans takes minutes: the model replays
    every rx_mode recomputation of every ``up``, so the parse is done once per text)."""
    if text not in _TOPOLOGIES:
        _TOPOLOGIES[text] = parse_topology(text)
    return copy.deepcopy(_TOPOLOGIES[text])


def _prefix(path: Path, frames: int) -> Path:
    out = path.with_suffix(f".first{frames}.pcap")
    if not out.exists():
        with open_capture(path) as reader, CaptureWriter(out, nanosecond=False) as writer:
            for rec in reader:
                if rec.index >= frames:
                    break
                writer.write(rec.timestamp_ns, rec.data)
    return out


def _best(fn: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _stream(path: Path) -> int:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = np.frombuffer(mm, dtype=np.uint8)
        total = int(view.sum())
        del view
        return total


def _table(devices: int) -> dict[bytes, str]:
    return {(DEVICE_BASE + i).to_bytes(6, "big"): f"mv{i}" for i in range(devices)}


def _dpkt_loop(path: Path, table: dict[bytes, str]) -> int:
    import dpkt

    hits = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            if table.get(buf[:6]) is not None:
                hits += 1
    return hits


def _scapy_loop(path: Path, table: dict[bytes, str]) -> int:
    from scapy.utils import RawPcapReader

    hits = 0
    with RawPcapReader(str(path)) as reader:
        for buf, _meta in reader:
            if table.get(buf[:6]) is not None:
                hits += 1
    return hits


def _exact(path: Path, topo: Topology) -> None:
    engine = Engine(topo.host, keep_paths=False)
    replayer = Replayer(engine)
    with open_capture(path) as reader:
        replayer.feed(ethernet_frames(reader))
        replayer.finish(reader)


@pytest.mark.parametrize(("sizes", "devices", "broadcast"), CASES)
@pytest.mark.benchmark(group="fast")
def test_fast_replay(benchmark, sizes: str, devices: int, broadcast: float) -> None:
    path, text, frames = _trace(sizes, devices, broadcast)
    topo = _topology(text)
    result = benchmark.pedantic(lambda: replay(path, topo), rounds=3, warmup_rounds=1)
    assert result.stats.frames_fed == frames
    fast = frames / benchmark.stats.stats.min
    loop = _prefix(path, PREFIX_LOOP)
    exact = _prefix(path, PREFIX_EXACT)
    table = _table(devices)
    rates = {
        "stream": frames / _best(lambda: _stream(path)),
        "dpkt": PREFIX_LOOP / _best(lambda: _dpkt_loop(loop, table), 1),
        "scapy": PREFIX_LOOP / _best(lambda: _scapy_loop(loop, table), 1),
        "exact": PREFIX_EXACT / _best(lambda: _exact(exact, _topology(text)), 1),
    }
    benchmark.extra_info.update(
        frames=frames,
        fast_fps=round(fast),
        classes=result.classes,
        **{f"{k}_fps": round(v) for k, v in rates.items()},
        **{f"vs_{k}": round(fast / v, 3) for k, v in rates.items()},
    )


@pytest.mark.benchmark(group="memory")
def test_peak_memory_bounded_by_chunk(benchmark) -> None:
    """A trace over 10× the chunk budget, replayed with chunks of that budget."""
    frames = 11 * CHUNK_BUDGET // 80  # 64-byte frames take 80 bytes of file
    shares = Shares(broadcast=0.1, unknown=0.05)
    path = DATA / f"memory-{frames}.pcap"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        generate(str(path), frames=frames, devices=256, shares=shares, seed=2)
    assert path.stat().st_size >= 10 * CHUNK_BUDGET
    topo = _topology(topology_text(256, shares))
    records = CHUNK_BUDGET // BYTES_PER_RECORD
    replay(path, topo, chunk_records=records)  # warm: compiled loops loaded

    def run() -> int:
        tracemalloc.start()
        try:
            replay(path, topo, chunk_records=records)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak = benchmark.pedantic(run, rounds=1)
    benchmark.extra_info.update(
        trace_bytes=path.stat().st_size,
        budget_bytes=CHUNK_BUDGET,
        peak_bytes=peak,
        peak_vs_budget=round(peak / CHUNK_BUDGET, 3),
    )
