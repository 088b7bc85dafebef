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
from macvlan_sim.io.topology import load_topology, parse_topology
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
    """A scenario and a 'kernel' answer in which mv1's hash filter let an unjoined group in,
    with the real membership lists a kernel harness reads after the run."""
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
    auto = ["01:00:5e:00:00:01", "33:33:00:00:00:01"]
    kernel["topology"] = {
        "mv0": {"mc": sorted([*auto, GROUP]), "promiscuity": 0, "allmulti": 0},
        "mv1": {"mc": auto, "promiscuity": 0, "allmulti": 0},
    }
    return scenario, kernel


def test_hash_filter_false_positives_are_counted_apart() -> None:
    scenario, kernel = _kernel_with_false_positive()
    v = verify.compare_with_kernel(scenario, kernel)
    assert v.agree
    assert v.false_positives == {0: [("mv1", "01:00:5e:00:00:fb")]}
    assert (v.excused_copies, v.multicast_copies) == (1, 2)
    assert v.agreeing_frames() == 0  # neither agreement nor disagreement


def test_a_real_difference_is_not_excused_as_a_false_positive() -> None:
    scenario, kernel = _kernel_with_false_positive()
    kernel["frames"][0]["receptions"].append({"dev": "mv0", "pkttype": "host"})
    v = verify.compare_with_kernel(scenario, kernel)
    assert not v.agree and not v.false_positives


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda t: t.clear(), "no membership list"),
        (lambda t: t["mv1"]["mc"].append(GROUP), "did join"),
        (lambda t: t["mv1"].update(allmulti=1), "promiscuous or allmulti"),
    ],
    ids=["no-list", "group-joined", "allmulti"],
)
def test_no_excuse_without_the_membership_proof(change, why: str) -> None:
    """A kernel-only multicast copy is a disagreement unless the device's real list is known,
    lacks the group, and the device's filter was not all ones."""
    scenario, kernel = _kernel_with_false_positive()
    change(kernel["topology"])
    v = verify.compare_with_kernel(scenario, kernel)
    assert not v.agree and not v.false_positives and v.excused_copies == 0
    assert why in v.refused_excuses["mv1 01:00:5e:00:00:fb"]


def test_no_excuse_when_one_group_is_both_passed_and_kept_out() -> None:
    """The same device passing a group in one frame and dropping it in the next cannot be one
    salted filter: a model error, not a false positive."""
    scenario, kernel = _kernel_with_false_positive()
    scenario["frames"].append(dict(scenario["frames"][0]))
    second = Scenario(scenario).run(extras=False)["frames"][1]
    kernel["frames"].append(second | {"index": 1})
    after = kernel["counters"]["after"]
    for dev, fields in (second.get("counters") or {}).items():
        for k, n in fields.items():
            after.setdefault(dev, {})[k] = after.get(dev, {}).get(k, 0) + n
    v = verify.compare_with_kernel(scenario, kernel)
    assert not v.agree and not v.false_positives
    assert "no salt" in v.refused_excuses["mv1 01:00:5e:00:00:fb"]


def test_a_salt_explains_a_collision_and_none_explains_a_contradiction() -> None:
    from macvlan_sim.model.mac import mc_hash, parse_mac
    from macvlan_sim.verify.hash_fp import consistent_salt

    members = [parse_mac("33:33:00:00:00:01"), b"\xff" * 6]
    group = parse_mac(GROUP)
    salt = consistent_salt(members, [group])
    assert salt is not None
    assert mc_hash(group, salt) in {mc_hash(m, salt) for m in members}
    assert consistent_salt(members, [group], [group]) is None
    assert consistent_salt([], [group]) is None


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


def test_a_topology_keeps_its_mtus_in_the_kernel_scenario() -> None:
    """MTUs decide all-nodes memberships (§8), so verify-kernel --topology carries them."""
    topo = parse_topology(
        "host ipv6 off\nlower eth0 address 02:00:00:00:00:01 mtu 1400\n"
        "ip link add a link eth0 mtu 1200 type macvlan mode bridge\n"
        "ip link add b link eth0 type macvlan mode vepa\n",
        "t.topo",
    )
    scenario = verify.host_scenario_from_topology(topo)
    assert scenario["lower"]["mtu"] == 1400
    assert [d.get("mtu") for d in scenario["devices"]] == [1200, None]
    ours = Scenario(scenario).build()[0]
    assert ours.devices["a"].mtu == 1200 and ours.devices["b"].mtu == 1400
