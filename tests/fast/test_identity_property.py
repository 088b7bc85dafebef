"""Hypothesis: random topologies (every mode and flag, source lists, joins, down devices, VLAN
sub-interfaces, NIC lowers, queue limits, hairpin) and random traces built from their
addresses — then each frame again with another length and other outside addresses, so that
classes have several members. The fast path must equal the exact engine in everything."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macvlan_sim.io.capture import CaptureWriter
from macvlan_sim.io.scenario import Scenario
from macvlan_sim.io.topology import Topology
from macvlan_sim.verify.randomize import random_scenario
from tests.fast.identity import assert_identical

OUTSIDE = [bytes([0x0A, 0, 0, 0x77, 0, i]) for i in range(1, 4)]


def _variants(frame: bytes, rng: random.Random) -> list[bytes]:
    """The frame, a longer or shorter copy, and copies from other outside hosts."""
    out = [frame]
    out.append(frame + bytes(rng.randint(1, 40)))
    if len(frame) > 40:
        out.append(frame[: rng.randint(34, len(frame) - 1)])
    out.append(frame[:6] + rng.choice(OUTSIDE) + frame[12:])
    if not frame[0] & 1:
        out.append(rng.choice(OUTSIDE) + frame[6:])
    return out


def _trace(scenario: dict, path: Path, seed: int) -> None:
    rng = random.Random(seed)
    frames = [bytes.fromhex(f["hex"]) for f in scenario["frames"] if f.get("inject") == "wire"]
    with CaptureWriter(path) as writer:
        ts = 1_000_000_000
        for frame in frames:
            for variant in _variants(frame, rng):
                if len(variant) >= 14:
                    writer.write(ts, variant)
                    # µs apart (the queue fills at 2,000/s), or past ipfrag_time, sometimes
                    ts += rng.choice((1, 1000, 400_000, 40_000_000_000))


def _topology(scenario: dict, drain: str) -> Topology:
    sc = Scenario(scenario)
    host, _log = sc.build()
    rate = 2_000 if drain == "rate" else None  # one queued copy per 0.5 ms of trace time
    return Topology(host, hairpin=sc.hairpin, drain=drain, service_rate=rate)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    vlans=st.booleans(),
    drain=st.sampled_from(["frame", "frame", "manual", "rate"]),
)
def test_fast_equals_exact(seed: int, vlans: bool, drain: str) -> None:
    scenario = random_scenario(seed, frames=30, vlans=vlans)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        trace = tmp_path / "t.pcap"
        _trace(scenario, trace, seed)
        assert_identical(trace, lambda: _topology(scenario, drain), tmp_path, chunk_records=13)


def test_over_mtu_frames_stay_in_their_class(tmp_path: Path) -> None:
    """A drop reason that names the frame's length ("frame of N bytes over MTU") becomes a
    template: jumbo frames of many lengths share one class and still give the exact reasons."""
    from macvlan_sim.io.topology import parse_topology

    rng = random.Random(9)
    trace = tmp_path / "jumbo.pcap"
    dst, src = bytes.fromhex("020000000100"), bytes.fromhex("0a0000000009")
    jumbo = 0
    with CaptureWriter(trace) as writer:
        for i in range(300):
            size = rng.choice((60, 1514, rng.randint(1515, 9000)))
            jumbo += size > 1514
            writer.write(1_000 * i, dst + src + b"\x08\x00" + bytes(size - 14))
    text = (
        "lower eth0 address 02:00:00:00:00:01 veth\n"
        "ip link add mv0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge\n"
        "ip link set mv0 up\n"
    )
    result = assert_identical(trace, lambda: parse_topology(text), tmp_path, chunk_records=64)
    assert result.exact_frames == 0
    assert jumbo > 10 and result.stats.drops == {"L1": jumbo}
    assert "over the limit of 1518" in result.stats.drop_examples["L1"]
