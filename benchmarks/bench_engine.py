"""Scalar engine throughput on a mixed trace, against a bare dictionary demux baseline.

The baseline is the least any Python demultiplexer must do per frame (slice the destination,
look it up): the ratio says what the kernel-exact rules cost on top of that.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.utils import rdpcap

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.topology import load_topology

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REPEAT = 40


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return [bytes(p) for p in rdpcap(str(EXAMPLES / "trace.pcap"))] * REPEAT


def _engine(keep_paths: bool) -> Engine:
    topo = load_topology(EXAMPLES / "host.topo")
    return Engine(topo.host, keep_paths=keep_paths)


@pytest.mark.benchmark(group="rx")
def test_baseline_dict_demux(benchmark, frames: list[bytes]) -> None:
    table = {bytes.fromhex("020000000100"): "web0", bytes.fromhex("020000000200"): "vm0"}

    def run() -> int:
        hits = 0
        for frame in frames:
            if table.get(frame[:6]) is not None:
                hits += 1
        return hits

    benchmark.extra_info["frames"] = len(frames)
    benchmark(run)


@pytest.mark.parametrize("keep_paths", [False, True], ids=["engine", "engine_with_paths"])
@pytest.mark.benchmark(group="rx")
def test_engine_rx(benchmark, frames: list[bytes], keep_paths: bool) -> None:
    def run() -> None:
        eng = _engine(keep_paths)
        for frame in frames:
            eng.rx(frame)

    benchmark.extra_info["frames"] = len(frames)
    benchmark.pedantic(run, rounds=3, iterations=1)
