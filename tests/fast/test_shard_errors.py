"""A shard's failure on Dask: an irregular record or a wrong cut (a CaptureError) falls back to
the one-piece replay; anything else is a real failure and propagates (it used to be swallowed
and the whole trace silently rerun locally). One in-process cluster, threads only: cheap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from macvlan_sim.fast import replay, shards
from macvlan_sim.fast.synthetic import Shares, generate, topology_text
from macvlan_sim.io.capture import CaptureError
from macvlan_sim.io.topology import parse_topology


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def _trace(tmp: Path) -> tuple[Path, str]:
    trace = tmp / "t.pcap"
    generate(str(trace), frames=200, devices=4, shares=Shares(broadcast=0.1), seed=4)
    return trace, topology_text(4, Shares(broadcast=0.1))


def _raising(error: Exception):
    def run_shard(*args, **kwargs):
        raise error

    return run_shard


def test_a_real_shard_failure_propagates(tmp_path: Path, scheduler: str, monkeypatch) -> None:
    trace, text = _trace(tmp_path)
    monkeypatch.setattr(shards, "run_shard", _raising(RuntimeError("worker bug")))
    with pytest.raises(RuntimeError, match="worker bug"):
        shards.replay_on_dask(trace, text, scheduler=scheduler, shards=2)


def test_an_irregular_shard_falls_back_to_one_piece(
    tmp_path: Path, scheduler: str, monkeypatch
) -> None:
    trace, text = _trace(tmp_path)
    error = CaptureError(trace, "irregular record inside a shard", offset=24)
    monkeypatch.setattr(shards, "run_shard", _raising(error))
    result = shards.replay_on_dask(trace, text, scheduler=scheduler, shards=2)
    alone = replay(trace, parse_topology(text))
    assert result.stats.points == alone.stats.points
    assert result.counters.totals == alone.counters.totals
