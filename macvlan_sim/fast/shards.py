"""Beyond one machine: a pcap trace split at record boundaries into shards, run on Dask.

Each shard is indexed and classified on a worker, independently: its class outcomes come from
its own probes (the same exact engine, so the same answers), and it returns its totals and the
list of frames only the exact engine may take. Those frames carry state (reassembly, a
stateful broadcast queue), so the client runs them through one :class:`Engine`, in trace
order, after the shards. Totals and counters merge by addition. The work is Dask's to place:
a ``LocalCluster`` of ``workers`` processes, or an existing cluster at ``scheduler``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from macvlan_sim.fast.index import DEFAULT_CHUNK, TraceIndex, shard_bounds
from macvlan_sim.fast.replay import FastReplayer, FastResult, replay
from macvlan_sim.io.capture import CaptureError
from macvlan_sim.io.replay import ReplayStats, account_outcome, feed_record
from macvlan_sim.io.topology import Topology, parse_topology


def run_shard(
    trace: str, topology_text: str, start: int, end: int, base: int, chunk_records: int
) -> tuple[ReplayStats, dict[str, int], np.ndarray, int]:
    """One shard on a worker: (totals, exact reasons, exact frames, classes)."""
    replayer = FastReplayer(parse_topology(topology_text, "<shard>"), defer_exact=True)
    index = TraceIndex(trace, start=start, end=end, base=base, chunk_records=chunk_records)
    for chunk in index.chunks():
        replayer.feed(chunk)
    result = replayer.finish()
    deferred = (
        np.concatenate(replayer.deferred) if replayer.deferred else np.zeros((0, 4), np.int64)
    )
    return result.stats, result.exact_reasons, deferred, result.classes


def replay_on_dask(
    trace: str | Path,
    topology_text: str,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    shards: int | None = None,
    chunk_records: int = DEFAULT_CHUNK,
    keep_going: bool = False,
    topology_source: str = "<topology>",
) -> FastResult:
    """The fast replay of ``trace``, sharded over a Dask cluster; identical to :func:`replay`.

    A capture the index cannot split (pcapng, irregular records) runs in one piece locally."""
    from dask.distributed import Client, LocalCluster

    trace = os.fspath(trace)
    bounds = shard_bounds(trace, shards or max(workers, 1) * 2)
    if bounds is None:
        return replay(trace, parse_topology(topology_text, topology_source), keep_going=keep_going)
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster)
    try:
        parts = _run_shards(client, trace, topology_text, bounds, chunk_records)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if parts is None:
        return replay(trace, parse_topology(topology_text, topology_source), keep_going=keep_going)
    return _merge(trace, parse_topology(topology_text, topology_source), parts)


def _run_shards(
    client: Any, trace: str, topology_text: str, bounds: list[tuple[int, int, int]],
    chunk_records: int,
) -> list | None:
    """Every shard's result, in order; None when a shard's walk met something other than a
    regular record where it expected one — its end was not where the next shard began (a
    wrong resynchronisation guess) or it holds an irregular record (a :class:`CaptureError`):
    then the one-piece replay gives the reader's exact answer. Any other failure is a real
    one and propagates."""
    futures = [
        client.submit(run_shard, trace, topology_text, s, e, b, chunk_records, pure=False)
        for s, e, b in bounds
    ]
    try:
        return client.gather(futures)
    except CaptureError:
        client.cancel(futures)
        return None


def _merge(trace: str, topo: Topology, parts: list) -> FastResult:
    engine = topo.engine(keep_paths=False)
    lower = topo.host.lower.name if topo.host.lower else "lower"
    stats = ReplayStats(trace=trace, topology=topo.source, lower=lower, engine="fast")
    reasons: dict[str, int] = {}
    classes = 0
    waiting = []
    with open(trace, "rb") as f:
        for part_stats, part_reasons, deferred, part_classes in parts:
            stats.add(part_stats)
            classes = max(classes, part_classes)
            for k, v in part_reasons.items():
                reasons[k] = reasons.get(k, 0) + v
            for offset, caplen, orig_len, ts in deferred.tolist():
                data = os.pread(f.fileno(), caplen, offset)
                out = feed_record(engine, data, ts, orig_len)
                if out.pending:
                    waiting.append(out)
                else:
                    account_outcome(stats, out, lower)
    engine.run_workqueue()
    for out in waiting:
        account_outcome(stats, out, lower)
    counters = engine.counters
    for dev, per in stats.counters.items():
        for fld, value in per.items():
            counters.add(dev, fld, value)
    totals = counters.nonzero_totals()
    stats.counters = {k: v for k, v in sorted(totals.items()) if v}
    exact = sum(reasons.values())
    stats.fast_classes = classes
    stats.exact_frames = Counter({k: v for k, v in reasons.items() if v})
    return FastResult(stats, counters, classes, exact, reasons)
