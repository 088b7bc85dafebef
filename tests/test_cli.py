"""The command line: results on stdout, one-line errors and non-zero exits on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macvlan_sim.cli.main import main

from .conftest import data_path

REPO = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scenario_run_prints_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    path = data_path("scenario-examples", "source-mode.scenario.json")
    code, out, _ = run(capsys, "scenario", "run", str(path))
    assert code == 0
    result = json.loads(out)
    assert len(result["frames"]) == 8
    assert result["frames"][3]["receptions"][-1]["path"]  # extras on by default


def test_scenario_run_plain_has_only_the_contract(capsys, tmp_path: Path) -> None:
    scenario = {"devices": [{"name": "mv0", "mode": "bridge"}], "frames": [{"hex": "ff" * 60}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    code, out, _ = run(capsys, "scenario", "run", "--plain", str(path))
    assert code == 0
    frame = json.loads(out)["frames"][0]
    assert set(frame) <= {"index", "inject", "note", "send", "receptions", "counters"}
    assert all(
        set(r) <= {"dev", "pkttype", "pass", "vlan", "hex", "tagged", "untagged"}
        for r in frame["receptions"]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        (
            '{"lower": {"mac": "zz:00:00:00:00:01"}}',
            '$.lower.mac: "zz:00:00:00:00:01" is not a MAC address',
        ),
        ('{"devices": [{"name": "mv0", "mode": "hub"}]}', '$.devices[0].mode: "hub" is not one of'),
        ('{"devices": [{"name": "mv0", "link": "eth7"}]}', "unknown device 'eth7'"),
        ('{"frames": [{"inject": "wire"}]}', "$.frames[0]: 'hex' is required"),
        ('{"frames": [{"hex": "0g"}]}', '$.frames[0].hex: "0g" is not hexadecimal'),
        ('{"lower": {"kind": "token-ring"}}', "$.lower.kind"),
        ("[1, 2]", "$: [1, 2] is not an object"),
    ],
)
def test_bad_scenarios_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, "scenario", "run", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("macvlan-sim: error: ")


def test_refused_setup_is_reported_not_fatal(capsys, tmp_path: Path) -> None:
    scenario = {
        "devices": [
            {"name": "a", "mode": "bridge", "mac": "02:00:00:00:01:00"},
            {"name": "b", "mode": "passthru"},
        ],
        "frames": [{"inject": "b", "hex": "ff" * 60}, {"inject": "a", "hex": "ff" * 60}],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    code, out, _ = run(capsys, "scenario", "run", str(path))
    result = json.loads(out)
    assert code == 0
    refused = [s for s in result["setup"] if not s["ok"]]
    assert refused == [
        {"op": "macvlan b mode passthru", "ok": False, "errno": "EINVAL", "why": refused[0]["why"]}
    ]
    assert result["frames"][0]["send"] == "ENODEV"
    assert result["frames"][1]["send"] == "ok"


def test_missing_topology_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "topology", "show", "/nonexistent/x.topo")
    assert code == 2 and "cannot read" in err


def test_topology_show_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "topology", "show")
    assert code == 0 and "mv-bridge0" in out


def test_bad_topology_line_in_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "t.topo"
    path.write_text("lower eth0\nip link add mv0 link eth0 type macvlan mode hub\n")
    code, _, err = run(capsys, "topology", "show", str(path))
    assert code == 2
    assert f"{path}:2: unknown macvlan mode 'hub'" in err
