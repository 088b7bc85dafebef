"""draw writes real PNG/SVG pictures; explain's command line: sources, JSON, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scapy.layers.l2 import ARP, Ether

from macvlan_sim.cli.main import main
from macvlan_sim.io.capture import CaptureRecord
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.model.constants import PktType
from macvlan_sim.teach.draw import TIME_BINS, Timeline, replay_traffic
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


QUEUE_OF_ONE = """host ipv6 off
host drain manual
lower eth0 address 02:00:00:00:00:01
ip link add a link eth0 address 02:00:00:00:01:00 type macvlan mode bridge bcqueuelen 1
ip link set a up
"""
BCAST = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="0a:00:00:00:00:05") / ARP())


def _records(count: int, step_ns: int, data: bytes = BCAST):
    for i in range(count):
        yield CaptureRecord(i, i * step_ns, 1, 0, data, len(data))


def test_draw_runs_the_trace_with_the_topologys_drain() -> None:
    """Under ``drain manual`` the one-slot queue holds the first broadcast and drops the
    second (Q1); the queued copy is counted once the queue is served at the end."""
    traffic = replay_traffic(parse_topology(QUEUE_OF_ONE), _records(2, 1000))
    assert traffic.dropped == 1
    assert traffic.by_type["a"][PktType.BROADCAST] == 1
    assert traffic.timeline.cumulative("a")[1][-1] == 1


def test_draw_traffic_memory_does_not_grow_with_the_trace() -> None:
    """A trace read as a stream leaves fixed-size per-device time bins (no per-frame list),
    and the cumulative curve still adds up to every reception."""
    topo = parse_topology(QUEUE_OF_ONE.replace("host drain manual", "host drain frame"))
    traffic = replay_traffic(topo, _records(400, 37 * 10**9))
    assert traffic.frames == 400
    assert all(len(bins) == TIME_BINS for bins in traffic.timeline.bins.values())
    xs, ys = traffic.timeline.cumulative("a")
    assert ys[-1] == traffic.by_type["a"][PktType.BROADCAST] == 400
    assert xs[-1] >= 399 * 37 and traffic.timeline.width * TIME_BINS > 399 * 37
    line = Timeline()
    for i in range(100_000):
        line.add("x", i * 0.5)
    assert len(line.bins["x"]) == TIME_BINS and line.cumulative("x")[1][-1] == 100_000


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
