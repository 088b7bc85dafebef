"""The harness against the real-kernel results shipped with the spec.

``data/`` holds verbatim copies of ``shared/docs/scenario-examples``. The three veth examples
were produced on this very kernel (6.18.44), so the harness must reproduce them exactly:
receptions as multisets (order is not significant), per-frame counters, ``counters.after`` and
the setup log. The VLAN example needs 8021q, which this VM lacks: it must raise Unsupported.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from macvlan_sim.io.scenario import Scenario
from macvlan_sim.verify.hash_fp import membership_differences
from macvlan_sim.verify.kernel import Unsupported, netns, run_scenario_on_kernel

from .conftest import require_kernel

require_kernel()
pytestmark = pytest.mark.kernel

DATA = Path(__file__).resolve().parents[1] / "data" / "scenario-examples"


def load(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    scenario = json.loads((DATA / f"{name}.scenario.json").read_text())
    result = json.loads((DATA / f"{name}.result.json").read_text())
    return scenario, result


def multiset(receptions: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(r, sort_keys=True) for r in receptions)


@pytest.mark.parametrize("name", ["bridge-basics", "source-mode", "tags-pause-runts"])
def test_harness_reproduces_kernel_example(name: str) -> None:
    scenario, expected = load(name)
    got = run_scenario_on_kernel(scenario)

    assert [(s["op"], s["ok"]) for s in got["setup"]] == [
        (s["op"], s["ok"]) for s in expected["setup"]
    ]
    assert len(got["frames"]) == len(expected["frames"])
    for mine, theirs in zip(got["frames"], expected["frames"], strict=True):
        where = f"frame {theirs['index']} ({theirs['note']})"
        assert "errors" not in mine, f"{where}: {mine['errors']}"
        assert mine["send"] == theirs["send"], where
        assert multiset(mine["receptions"]) == multiset(theirs["receptions"]), where
        assert mine.get("counters", {}) == theirs.get("counters", {}), where
    assert got["counters"]["after"] == expected["counters"]["after"]
    # Same top-level shape (plus the real membership lists), same key order per frame: a
    # drop-in for the examples.
    assert list(got) == [*expected, "topology"]
    host, _log = Scenario(scenario).build()
    lists = {dev: d.mc_addresses() for dev, d in host.devices.items()}
    assert not membership_differences(got, lists)  # automatic memberships included (§8)
    assert [list(f) for f in got["frames"]] == [list(f) for f in expected["frames"]]
    assert netns.list_ours(os.getpid()) == []


def test_vlan_example_is_unsupported_without_8021q() -> None:
    scenario, _ = load("vlan-subinterfaces")
    with pytest.raises(Unsupported, match="8021q"):
        run_scenario_on_kernel(scenario)
    assert netns.list_ours(os.getpid()) == []
