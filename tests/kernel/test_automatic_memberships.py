"""Spec §8 on this machine's kernel: automatic memberships, MTU under 1280, never-up devices.

One scenario through the harness and the emulator: a device born with MTU 1200 holds no
all-nodes, a never-up device holds it anyway, every UP device holds all-hosts, and frames to
both groups reach exactly the devices that hold them, with IPv6 disabled (the harness runs so).
The real lists are compared whole, and the frames copy for copy, counter for counter.
"""

from __future__ import annotations

import json

import pytest

from macvlan_sim.io.scenario import Scenario
from macvlan_sim.verify.hash_fp import membership_differences
from macvlan_sim.verify.verify_kernel import verify_scenario

pytestmark = pytest.mark.kernel

EXT = "0a0000000001"


def _frame(dst: str) -> dict:
    return {"hex": dst.replace(":", "") + EXT + "88b5" + "4d564f2d" + "00" * 42}


SCENARIO = {
    "port": {"bcqueuelen": 0},
    "devices": [
        {"name": "big", "mode": "bridge", "mac": "02:00:00:00:01:01"},
        {"name": "small", "mode": "vepa", "mac": "02:00:00:00:01:02", "mtu": 1200},
        {"name": "never", "mode": "bridge", "mac": "02:00:00:00:01:03", "up": False},
        {"name": "edge", "mode": "private", "mac": "02:00:00:00:01:04", "mtu": 1280},
    ],
    "frames": [
        _frame("33:33:00:00:00:01"),
        _frame("01:00:5e:00:00:01"),
        {"inject": "big", **_frame("33:33:00:00:00:01")},
    ],
}


def test_automatic_memberships_match_the_kernel() -> None:
    v = verify_scenario(SCENARIO)
    assert v.agree and not v.false_positives, json.dumps(v.comparison.as_json(), indent=1)
    host, _log = Scenario(SCENARIO).build()
    lists = {dev: d.mc_addresses() for dev, d in host.devices.items()}
    assert not membership_differences(v.kernel, lists)
    topology = v.kernel["topology"]
    assert "33:33:00:00:00:01" not in topology["small"]["mc"]
    assert topology["never"]["mc"] == ["33:33:00:00:00:01"]
    assert "33:33:00:00:00:01" in topology["edge"]["mc"]
