"""The broadcast queue under load: ``drain rate N`` serves queued broadcasts at N per second of
trace time, so a burst overflows a small ``bcqueuelen`` at a low rate and not at a high one —
and the fast path, which hands queue users to the exact engine, gives the same answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from macvlan_sim.fast.synthetic import Shares, generate, topology_text
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.model.errors import SimError
from tests.fast.identity import assert_identical

QUEUE_FULL = "broadcast queue of eth0 full"


def _setup(tmp: Path, rate: int) -> tuple[Path, str]:
    shares = Shares(broadcast=0.5, unknown=0.05)
    trace = tmp / "burst.pcap"
    generate(str(trace), frames=4000, devices=8, shares=shares, seed=5)  # 1 frame per µs
    text = topology_text(8, shares, ("bridge", "vepa"))
    text = text.replace("type macvlan mode bridge", "type macvlan mode bridge bcqueuelen 20", 1)
    return trace, f"host drain rate {rate}\n" + text


@pytest.mark.parametrize(("rate", "drops"), [(100_000, True), (10_000_000, False)])
def test_rate_decides_overflow_and_fast_agrees(tmp_path: Path, rate: int, drops: bool) -> None:
    trace, text = _setup(tmp_path, rate)
    result = assert_identical(trace, lambda: parse_topology(text), tmp_path, chunk_records=333)
    dropped = result.stats.drops.get("Q1", 0)
    assert not dropped or QUEUE_FULL in result.stats.drop_examples["Q1"]
    assert (dropped > 0) == drops
    assert result.exact_frames > 0
    assert result.stats.fates  # every frame accounted for
    assert sum(result.stats.fates.values()) == result.stats.frames_fed == 4000


def test_rate_must_be_positive() -> None:
    with pytest.raises(SimError, match="at least 1"):
        parse_topology("host drain rate 0\nlower eth0 veth\n")
