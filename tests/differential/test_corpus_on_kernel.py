"""Every Ethernet capture of the shared corpus, through two random topologies built from the
capture's own MAC addresses, on the emulator and on the kernel.

A sample of each capture is sent (the first frame of every kind — destination class, tag stack,
ethertype — then evenly spaced frames), so the whole corpus costs minutes, not an hour.
``MACVLAN_SIM_FULL_CORPUS=1`` sends every frame of every capture instead (about an hour)."""

from __future__ import annotations

import json
import os

import pytest

from macvlan_sim.io.capture import ethernet_frames, open_capture
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.io.trace_topology import topology_for
from macvlan_sim.verify.verify_kernel import verify_scenario

from ..conftest import data_path
from ..test_replay import ETHERNET
from .conftest import record_excuses

pytestmark = pytest.mark.kernel

SAMPLE = 32
SEEDS = (11, 12, 13)
FULL = os.environ.get("MACVLAN_SIM_FULL_CORPUS") == "1"


def _kind(frame: bytes) -> tuple:
    tags, off = 0, 12
    while frame[off : off + 2] in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 6:
        tags, off = tags + 1, off + 4
    dst = frame[:6]
    cls = "bcast" if dst == b"\xff" * 6 else "group" if dst[0] & 1 else "unicast"
    return cls, tags, frame[off : off + 2]


def sample(frames: list[bytes], size: int = SAMPLE) -> list[bytes]:
    chosen: dict[int, bytes] = {}
    seen: set[tuple] = set()
    for i, frame in enumerate(frames):
        if _kind(frame) not in seen and len(chosen) < size // 2:
            seen.add(_kind(frame))
            chosen[i] = frame
    step = max(1, len(frames) // max(1, size - len(chosen)))
    for i in range(0, len(frames), step):
        if len(chosen) >= size:
            break
        chosen.setdefault(i, frames[i])
    return [chosen[i] for i in sorted(chosen)]


def scenario_for(frames: list[bytes], seed: int) -> dict:
    """The topology built from the capture's MACs, as a scenario for both sides."""
    from macvlan_sim.verify.verify_kernel import host_scenario_from_topology

    topo = parse_topology(topology_for(frames, seed=seed), f"seed{seed}.topo")
    scenario = host_scenario_from_topology(topo)
    scenario["frames"] = [
        {"inject": "wire", "hex": f.hex(), "note": f"frame {i}"} for i, f in enumerate(frames)
    ]
    scenario["seed"] = seed
    return scenario


@pytest.mark.parametrize("name", ETHERNET or ["<no corpus>"])
def test_capture_on_kernel(name: str) -> None:
    path = data_path("pcaps", name)
    with open_capture(path) as reader:
        frames = [r.data for r in ethernet_frames(reader)]
    picked = frames if FULL else sample(frames)
    for seed in SEEDS:
        verification = verify_scenario(scenario_for(picked, seed))
        assert verification.frames == len(picked)
        record_excuses(verification)
        assert verification.agree, json.dumps(verification.comparison.as_json(), indent=1)
