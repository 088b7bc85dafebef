"""Cross-check against the real-kernel results in docs/scenario-examples (see its README).

Receptions are compared as multisets of (point, pkttype, outer tag, tags added/removed), and
per-frame and final counters exactly; ``rx_dropped`` on a device is excluded where the README
says it depends on listeners.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from macvlan_sim.io.scenario import run_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "scenario-examples"
NAMES = ["bridge-basics", "source-mode", "tags-pause-runts", "vlan-subinterfaces"]



def _receptions(frame: dict) -> Counter:
    return Counter(
        (
            r["dev"],
            r["pkttype"],
            json.dumps(r.get("vlan"), sort_keys=True),
            r.get("tagged", 0),
            r.get("untagged", 0),
        )
        for r in frame["receptions"]
    )


@pytest.mark.parametrize("name", NAMES)
def test_kernel_example(name):
    scenario = json.loads((EXAMPLES / f"{name}.scenario.json").read_text())
    kernel = json.loads((EXAMPLES / f"{name}.result.json").read_text())
    ours = run_scenario(scenario, extras=False)
    assert [s["ok"] for s in ours["setup"]] == [s["ok"] for s in kernel["setup"]]
    assert len(ours["frames"]) == len(kernel["frames"])
    for want, have in zip(kernel["frames"], ours["frames"], strict=True):
        note = want.get("note")
        assert have["send"] == want["send"], note
        assert _receptions(have) == _receptions(want), note
        assert (have.get("counters") or {}) == (want.get("counters") or {}), note
    assert ours["counters"] == kernel["counters"]
