"""draw writes real PNG/SVG pictures; explain's command line: sources, JSON, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from macvlan_sim.cli.main import main
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
TRUNK = str(EXAMPLES / "trunk_host.topo")


def test_draw_png_with_trace_and_svg(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    png, svg = tmp_path / "host.png", tmp_path / "trunk.svg"
    args = ["draw", "--topology", str(EXAMPLES / "host.topo"), "--out", str(png)]
    assert main([*args, "--trace", str(EXAMPLES / "trace.pcap")]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["draw", "--topology", TRUNK, "--out", str(svg)]) == 0
    text = svg.read_text()
    assert "<svg" in text and "c20b" in text and "VID 20" in text


def test_draw_refuses_other_formats(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "--topology", TRUNK, "--out", str(tmp_path / "x.jpg")]) == 2
    assert "must be a .png or .svg" in capsys.readouterr().err


def test_explain_scapy_json(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "Ether(dst='02:00:00:00:20:02')/Dot1Q(vlan=20)/IP(dst='10.0.20.2')/ICMP()"
    assert main(["explain", "--topology", TRUNK, "--scapy", frame, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    got = {r["dev"] for r in data["receptions"] if r["pkttype"] != "outgoing"}
    assert "c20b" in got and "c20a" not in got
    c20b = next(r for r in data["receptions"] if r["dev"] == "c20b")
    assert "U7" in c20b["rules"] and c20b["pkttype"] == "host"
    why = {d["device"]: d for d in data["not_delivered"]}
    assert why["c20a"]["rule"] == "U3"
    assert why["eth0.10"]["rule"] == "V1" and "VID 20" in why["eth0.10"]["reason"]
    assert why["c10a"]["rule"] == "-" and "eth0.10" in why["c10a"]["reason"]
    assert set(data["rules"]) >= {"U3", "U7", "V1"}


def test_explain_tree_and_trace_index(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", "--topology", str(EXAMPLES / "host.topo")]
    assert main([*args, "--trace", str(EXAMPLES / "trace.pcap"), "--index", "0"]) == 0
    out = capsys.readouterr().out
    assert "frame 0 on wire" in out and "no copy, and why" in out
    assert main([*args, "--trace", str(EXAMPLES / "trace.pcap"), "--index", "999"]) == 2
    assert "no frame 999" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os')", "dunder names are not allowed"),
        ("open('/etc/passwd')", "NameError"),
        ("Ether(", "SyntaxError"),
        ("Raw(b'ab')", "shorter than an Ethernet header"),
    ],
)
def test_explain_scapy_errors_are_one_line(expr, message, capsys) -> None:
    assert main(["explain", "--topology", TRUNK, "--scapy", expr]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_explain_hex_inject_on_a_device(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "02000000100202000000100108004500"  # c10a to c10b, bridge siblings
    code = main(["explain", "--topology", TRUNK, "--hex", frame + "00" * 30, "--inject", "c10a"])
    assert code == 0
    out = capsys.readouterr().out
    assert "T2" in out and "c10b" in out
    assert main(["explain", "--topology", TRUNK, "--hex", "zz"]) == 2
    assert "not hexadecimal" in capsys.readouterr().err


def test_explain_runs_as_a_command() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "macvlan_sim.cli.main",
            "explain",
            "--topology",
            TRUNK,
            "--scapy",
            "Ether(dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=30)/ARP()",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "c30a" in proc.stdout and "Traceback" not in proc.stderr


def test_readme_teaching_section_is_true(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's picture exists, and its explain tree's rule ids and 'why not' rows are
    what explain says today for that frame."""
    readme = (REPO / "README.md").read_text()
    assert (REPO / "docs" / "trunk_host.png").read_bytes()[:4] == b"\x89PNG"
    assert "](docs/trunk_host.png)" in readme
    frame = (
        "Ether(src='0a:00:00:00:00:07', dst='02:00:00:00:20:02')/Dot1Q(vlan=20)"
        "/IP(dst='10.0.20.2')/ICMP()"
    )
    assert frame in readme
    assert main(["explain", "--topology", TRUNK, "--scapy", frame, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for row in data["not_delivered"]:
        assert f"{row['device']:8} {row['rule']:5} {row['reason']}" in readme
