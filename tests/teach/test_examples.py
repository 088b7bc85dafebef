"""Every example runs as a script, and says what it says: structured results (deliveries per
device), not whole text, so that engine refinements elsewhere do not churn these tests."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from tests.conftest import REPO

EXAMPLES = REPO / "examples"
SCRIPTS = sorted(
    p for p in [*EXAMPLES.glob("*.py"), *EXAMPLES.glob("modes/*.py")] if p.name != "make_trace.py"
)


def _run(path: Path) -> object:
    return runpy.run_path(str(path))["run"]()


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_as_a_script(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_trunk_host() -> None:
    r = _run(EXAMPLES / "trunk_host.py")
    for vid in (10, 20, 30):
        for x in "ab":
            assert r[f"ping c{vid}{x}"] == [f"c{vid}{x}"]
    assert r["arp on vlan 20"] == ["c20a", "c20b"]
    assert r["c10a to c20a"] == {"containers": [], "wire": [10]}
    assert r["c10a to c10b"] == {"containers": ["c10b"], "wire": []}


def test_one_armed_router() -> None:
    r = _run(EXAMPLES / "one_armed_router.py")
    assert r["gateway macs"] == ["02:00:00:00:01:00", "02:00:00:00:02:00"]
    assert r["B got echo"] == [("192.168.0.10", "192.168.1.20", 63, "02:00:00:00:02:00")]
    assert r["A got reply"] == [("192.168.1.20", "192.168.0.10", 63, "02:00:00:00:01:00")]
    assert r["direct to B's MAC reached VLAN-B"] is False


def test_modes() -> None:
    bridge = _run(EXAMPLES / "modes" / "bridge.py")
    assert bridge == {
        "a to b": ["b"],
        "a to the host (eth0)": ["wire"],
        "a to the host's macvlan host0": ["host0"],
    }
    vepa = _run(EXAMPLES / "modes" / "vepa.py")
    assert vepa == {"a to b, hairpin off": [], "a to b, hairpin on": ["b"]}
    private = _run(EXAMPLES / "modes" / "private.py")
    assert private == {"p1 broadcasts (ARP)": ["p1"], "p1 unicasts to p2": ["p2"]}
    passthru = _run(EXAMPLES / "modes" / "passthru.py")
    assert passthru["stranger's unicast"] == ["pt"]
    assert passthru["second macvlan"].startswith("EINVAL")
    assert passthru["pt down"] == ["U5"]
    source = _run(EXAMPLES / "modes" / "source.py")
    assert source == {
        "listed sender to web, without nodst": ["mon", "web"],
        "listed sender to web, nodst": ["mon"],
    }


def test_broadcast_storm() -> None:
    r = _run(EXAMPLES / "broadcast_storm.py")
    assert r["broadcast, bcqueuelen 1000"]["dropped (Q1)"] == 500
    assert r["broadcast, bcqueuelen 1000"]["eth0 rx_dropped"] == 500
    assert r["broadcast, bcqueuelen 2000"]["dropped (Q1)"] == 0
    assert r["unicast to a"]["delivered to a"] == 1500
    assert r["mDNS group (2 members), bclim 1"]["dropped (Q1)"] == 500
    assert r["mDNS group (2 members), bclim 2"]["dropped (Q1)"] == 0


def test_nic_filter_overflow() -> None:
    r = _run(EXAMPLES / "nic_filter_overflow.py")
    assert r["4 macvlans on a NIC with 4 slots"]["stranger's frame"] == "rejected by the NIC"
    assert r["5 macvlans on a NIC with 4 slots"]["stranger's frame"] == "accepted"
    assert r["1 macvlan on a veth (no filter)"]["eth0 promiscuous"] is True
