"""On a 2-worker Dask LocalCluster, a sharded replay equals one process exactly — including
frames the exact engine must take in trace order (IPv4 group fragments spread over shards)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from macvlan_sim.fast import replay
from macvlan_sim.fast.index import shard_bounds
from macvlan_sim.fast.shards import replay_on_dask
from macvlan_sim.fast.synthetic import Shares, generate, topology_text
from macvlan_sim.io.capture import CaptureWriter, open_capture
from macvlan_sim.io.topology import parse_topology


def _doc(stats):
    """The replay document less what names the engine (identity compares the rest)."""
    from macvlan_sim.cli.replay_json import replay_json

    doc = replay_json(stats)
    del doc["engine"], doc["fast_path"]
    return doc


def _trace(tmp: Path) -> tuple[Path, str]:
    shares = Shares(broadcast=0.1, multicast=0.05, unknown=0.05, tagged=0.05, source=0.05,
                    hairpin=0.05)
    base = tmp / "base.pcap"
    generate(str(base), frames=3000, devices=40, sizes=(60, 1514), shares=shares, seed=3)
    text = topology_text(40, shares, ("bridge", "vepa", "private"))
    # Interleave fragments of datagrams to a group, so reassembly spans shard boundaries.
    big = Ether(dst="01:00:5e:00:00:fb", src="0a:00:00:00:00:09") / IP(
        src="192.0.2.9", dst="224.0.0.251", id=7
    ) / UDP() / Raw(bytes(3000))
    pieces = [bytes(p) for p in fragment(big, fragsize=1000)]
    out = tmp / "t.pcap"
    with open_capture(base) as reader, CaptureWriter(out) as writer:
        for rec in reader:
            writer.write(rec.timestamp_ns, rec.data)
            if rec.index % 700 == 0:
                writer.write(rec.timestamp_ns, pieces[(rec.index // 700) % len(pieces)])
    return out, text


def test_two_workers_equal_one_process(tmp_path: Path) -> None:
    trace, text = _trace(tmp_path)
    assert len(shard_bounds(str(trace), 4) or []) == 4
    alone = replay(trace, parse_topology(text))
    sharded = replay_on_dask(trace, text, workers=2, shards=4, chunk_records=500)
    assert _doc(sharded.stats) == _doc(alone.stats)
    assert sharded.counters.totals == alone.counters.totals
    assert alone.exact_frames == sharded.exact_frames > 0


def test_shard_cuts_are_record_boundaries(tmp_path: Path) -> None:
    """Cuts found by resynchronising on header chains are true record starts; the shards
    cover the file, and walking them gives the same records as one walk."""
    from macvlan_sim.fast.index import TraceIndex

    trace, _ = _trace(tmp_path)
    whole = TraceIndex(str(trace))
    offsets = [int(o) for c in whole.chunks() for o in c.offsets]
    bounds = shard_bounds(str(trace), 7)
    assert bounds is not None and len(bounds) == 7
    assert bounds[0][0] == 24 and bounds[-1][1] == trace.stat().st_size
    starts = {o - 16 for o in offsets}
    assert all(s in starts for s, _, _ in bounds)
    parts = [
        int(o)
        for s, e, _ in bounds
        for c in TraceIndex(str(trace), start=s, end=e).chunks()
        for o in c.offsets
    ]
    assert parts == offsets
