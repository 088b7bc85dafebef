"""verify-kernel's behaviour that needs no kernel: its errors, the false-positive accounting,
the shrinker, and topology-to-scenario conversion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from macvlan_sim.cli.main import main
from macvlan_sim.io.scenario import Scenario
from macvlan_sim.io.topology import load_topology
from macvlan_sim.verify import verify_kernel as verify
from macvlan_sim.verify.kernel import harness
from macvlan_sim.verify.randomize import random_scenario
from macvlan_sim.verify.shrink import shrink

REPO = Path(__file__).resolve().parent.parent
GROUP = "01:00:5e:00:00:fb"


def test_not_root_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(harness, "kernel_available", lambda: (False, "not root (euid 1000)"))
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"frames": [{"hex": "ff" * 60}]}))
    assert main(["verify-kernel", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not root" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify-kernel"], "give a scenario file"),
        (["verify-kernel", "--topology", "x.topo"], "go together"),
    ],
)
def test_bad_arguments(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def _kernel_with_false_positive() -> tuple[dict, dict]:
    """A scenario and a 'kernel' answer in which mv1's hash filter let an unjoined group in."""
    scenario = {
        "port": {"bclim": -1},
        "devices": [
            {
                "name": "mv0",
                "mode": "bridge",
                "mac": "02:00:00:00:01:00",
                "mc": ["01:00:5e:00:00:fb"],
            },
            {"name": "mv1", "mode": "bridge", "mac": "02:00:00:00:01:01"},
        ],
        "frames": [{"hex": "01005e0000fb" + "0a0000000001" + "88b5" + "00" * 46}],
    }
    kernel = Scenario(scenario).run(
        extras=False, false_positives=frozenset({("mv1", bytes.fromhex("01005e0000fb"))})
    )
    return scenario, kernel


def test_hash_filter_false_positives_are_counted_apart() -> None:
    scenario, kernel = _kernel_with_false_positive()
    v = verify.compare_with_kernel(scenario, kernel)
    assert v.agree
    assert v.false_positives == {0: [("mv1", "01:00:5e:00:00:fb")]}
    assert v.agreeing_frames() == 0  # neither agreement nor disagreement


def test_a_real_difference_is_not_excused_as_a_false_positive() -> None:
    scenario, kernel = _kernel_with_false_positive()
    kernel["frames"][0]["receptions"].append({"dev": "mv0", "pkttype": "host"})
    v = verify.compare_with_kernel(scenario, kernel)
    assert not v.agree and not v.false_positives


def test_shrink_keeps_only_what_the_disagreement_needs() -> None:
    scenario = random_scenario(5, frames=20)
    target = scenario["frames"][7]["hex"]

    def still_fails(candidate: dict) -> bool:
        return any(f["hex"] == target for f in candidate["frames"])

    small = shrink(scenario, still_fails)
    assert [f["hex"] for f in small["frames"]] == [target]
    assert len(small["devices"]) <= 1
    assert not small.get("hairpin")


def test_topology_becomes_the_same_scenario() -> None:
    topo = load_topology(REPO / "examples" / "host.topo")
    scenario = verify.host_scenario_from_topology(topo)
    names = {d["name"] for d in scenario["devices"]}
    assert {"web0", "tap0", "trap0", "v10web"} <= names
    assert {v["name"] for v in scenario["vlans"]} == {"eth0.10"}
    assert next(v for v in scenario["vlans"] if v["name"] == "eth0.10")["link"] == "lower"
    trap = next(d for d in scenario["devices"] if d["name"] == "trap0")
    assert trap["flags"] == ["nodst"] and trap["macaddr"] == ["0a:00:00:00:00:66"]
    host, log = Scenario(scenario).build()
    assert all(step["ok"] for step in log.steps)
    assert {n for n, d in host.devices.items() if d.up} >= {"web0", "v10web", "lower"}


def test_random_scenarios_are_deterministic_and_valid() -> None:
    for seed in range(20):
        a, b = (
            random_scenario(seed, vlans=seed % 2 == 0),
            random_scenario(seed, vlans=seed % 2 == 0),
        )
        assert a == b
        Scenario(a).run(extras=False)


def test_proc_net_ptype_parsing(tmp_path: Path) -> None:
    ptype = tmp_path / "ptype"
    ptype.write_text(
        "Type Device      Function\nALL  eth0     tpacket_rcv\n0800          ip_rcv\n"
        "0004          llc_rcv\n88cc eth0     lldp_rcv\n"
    )
    assert verify.kernel_global_protocols(str(ptype)) == {0x0800, 0x0004}
    assert verify.kernel_global_protocols(str(tmp_path / "missing")) is None


def test_verify_kernel_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "macvlan_sim.cli.main", "verify-kernel", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "--shrink" in done.stdout


def test_rule_coverage_is_reported() -> None:
    scenarios = [random_scenario(seed) for seed in range(30)]
    verifications = [
        verify.compare_with_kernel(s, Scenario(s).run(extras=False)) for s in scenarios
    ]
    seen = verify.rules_exercised(verifications)
    assert {"M3", "M4", "U1", "U7", "S", "B", "Q2", "T2"} <= set(seen)
    assert set(seen) <= set(verify.ALL_RULES)
