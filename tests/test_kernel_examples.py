"""The emulator against the real kernels' results shipped in tests/data/scenario-examples
(6.18.44 on a veth lower; 6.18.15 with 8021q under qemu for the VLAN one)."""

from __future__ import annotations

import json

import pytest

from macvlan_sim.io.scenario import Scenario
from macvlan_sim.verify.compare import compare_results

from .conftest import data_path

EXAMPLES = ["bridge-basics", "source-mode", "tags-pause-runts", "vlan-subinterfaces"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_emulator_agrees_with_kernel_example(name: str) -> None:
    folder = data_path("scenario-examples")
    scenario = Scenario.load(folder / f"{name}.scenario.json")
    kernel = json.loads((folder / f"{name}.result.json").read_text())
    mine = scenario.run()
    comparison = compare_results(kernel, mine)
    assert comparison.frames == len(kernel["frames"])
    assert comparison.agree, json.dumps(comparison.as_json(), indent=1)
