"""Random scenarios (every mode, flag and reachable rule id) through both sides: 110 scenarios
of 20 frames, i.e. at least 2,200 frames, in blocks so a failure names its seeds. Proven
hash-filter false positives count towards the run-wide bound of ``conftest.py``."""

from __future__ import annotations

import json

import pytest

from macvlan_sim.verify.randomize import random_scenario
from macvlan_sim.verify.verify_kernel import verify_scenario

from .conftest import record_excuses

pytestmark = pytest.mark.kernel

BLOCK = 10
BLOCKS = 11
FRAMES = 20


@pytest.mark.parametrize(
    "block", range(BLOCKS), ids=lambda b: f"seeds{b * BLOCK}-{b * BLOCK + BLOCK - 1}"
)
def test_random_scenarios_agree_with_the_kernel(block: int) -> None:
    failures = []
    frames = 0
    for seed in range(block * BLOCK, (block + 1) * BLOCK):
        verification = verify_scenario(random_scenario(seed, frames=FRAMES))
        frames += verification.frames
        record_excuses(verification)
        if not verification.agree:
            failures.append({"seed": seed, "comparison": verification.comparison.as_json()})
    assert frames >= BLOCK * FRAMES
    assert not failures, json.dumps(failures, indent=1)
