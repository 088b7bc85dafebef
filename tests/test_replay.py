"""Replay: every Ethernet capture of the shared corpus, corrupt files, accounting, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macvlan_sim.cli.main import default_topology_text, main
from macvlan_sim.cli.replay import Replayer
from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.capture import CaptureError, ethernet_frames, open_capture
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.io.trace_topology import topology_for

from .conftest import DATA, data_path

REPO = Path(__file__).resolve().parent.parent
PCAPS = DATA / "pcaps"
CORRUPT = {
    "libpcap__pcap-invalid-version-1.pcap",
    "libpcap__pcapng-invalid-vers-1.pcapng",
    "libpcap__shb-option-too-long.pcapng",
    "dpkt__truncated_dns_2.pcap",
    "tcpdump__pim_header_asan-2.pcap",
    "zeek__trunc-hdr.pcap",  # an 8-byte Ethernet record: a runt, refused unless --keep-going
}
MANIFEST = (
    json.loads((PCAPS / "manifest.json").read_text())["files"]
    if (PCAPS / "manifest.json").exists()
    else []
)
ETHERNET = sorted(e["file"] for e in MANIFEST if 1 in e["linktypes"] and e["file"] not in CORRUPT)
OTHER_LINKS = sorted(e["file"] for e in MANIFEST if 1 not in e["linktypes"])


def _replay(path: Path, topology_text: str, *, keep_going: bool = False):
    topo = parse_topology(topology_text, "t.topo")
    replayer = Replayer(Engine(topo.host, keep_paths=False))
    with open_capture(path, keep_going=keep_going) as reader:
        replayer.feed(ethernet_frames(reader))
        return replayer.finish(reader), reader


@pytest.mark.parametrize("name", ETHERNET or ["<no corpus>"])
def test_every_capture_replays_and_every_frame_is_accounted_for(name: str) -> None:
    path = data_path("pcaps", name)
    with open_capture(path) as reader:
        frames = [r.data for r in ethernet_frames(reader)]
    for text in (
        default_topology_text(),
        topology_for(frames, seed=1),
        topology_for(frames, seed=2),
    ):
        stats, reader = _replay(path, text)
        records = stats.records + sum(reader.skipped.values())
        assert stats.accounted == records == stats.records_read
        assert sum(stats.fates.values()) == stats.frames_fed
        assert stats.points["wire"].frames >= stats.frames_fed


def test_trace_topologies_put_macvlans_on_the_trace_addresses() -> None:
    path = data_path("pcaps", "zeek__mapi.pcap")
    with open_capture(path) as reader:
        frames = [r.data for r in ethernet_frames(reader)]
    stats, _ = _replay(path, topology_for(frames, seed=3))
    hit = {p for p, st in stats.points.items() if p.startswith("mv") and st.pkttypes["host"]}
    assert hit, "unicast to the trace's busiest MACs should reach their macvlans"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("libpcap__pcap-invalid-version-1.pcap", "unsupported pcap version 1.4"),
        ("libpcap__pcapng-invalid-vers-1.pcapng", "unsupported pcapng version 0.1"),
        ("libpcap__shb-option-too-long.pcapng", "trailing length"),
        ("dpkt__truncated_dns_2.pcap", "truncated"),
        ("tcpdump__pim_header_asan-2.pcap", "record 2"),
        ("zeek__trunc-hdr.pcap", "record 1"),
    ],
)
def test_corrupt_captures_fail_with_one_line(capsys, name: str, message: str) -> None:
    path = data_path("pcaps", name)
    code = main(["replay", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert name in err and message in err


def test_keep_going_skips_and_counts_bad_records(capsys) -> None:
    path = data_path("pcaps", "tcpdump__pim_header_asan-2.pcap")
    code = main(["replay", str(path), "--keep-going", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    inp = result["input"]
    assert inp["frames_fed"] + sum(inp["skipped"].values()) == inp["accounted"]
    assert sum(inp["skipped"].values()) >= 2


def test_mixed_link_types_are_skipped_and_counted(capsys) -> None:
    path = data_path("pcaps", "pcapplusplus__many_interfaces-1.pcapng")
    assert main(["replay", str(path), "--json"]) == 0
    inp = json.loads(capsys.readouterr().out)["input"]
    assert any("NULL" in k or "linktype 0" in k for k in inp["skipped"])
    assert inp["frames_fed"] > 0


def test_example_replay_writes_one_pcap_per_point(capsys, tmp_path: Path) -> None:
    trace, topo = REPO / "examples" / "trace.pcap", REPO / "examples" / "host.topo"
    code = main(["replay", str(trace), "--topology", str(topo), "--out", str(tmp_path), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["input"]["accounted"] == result["input"]["records_read"] == 66
    for point, st in result["points"].items():
        written = tmp_path / (point.replace(":", "-") + ".pcap")
        with open_capture(written) as reader:
            assert sum(1 for _ in reader) == st["frames"]
    assert result["points"]["trap0"]["frames"] == 1
    nodst = [d for d in result["drops"].values() if "nodst" in d["text"]]
    assert nodst and all("nodst consumes the frame" in d["example"] for d in nodst)


def test_example_trace_is_reproducible() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_trace.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_not_a_capture(capsys, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, this is not a pcap at all")
    assert main(["replay", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "not a pcap or pcapng file" in err


@pytest.mark.parametrize("name", OTHER_LINKS or ["<no corpus>"])
def test_non_ethernet_captures_are_refused_or_counted(capsys, name: str) -> None:
    path = data_path("pcaps", name)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is not Ethernet" in err and err.count("\n") == 1
    assert main(["replay", str(path), "--keep-going", "--json"]) == 0
    inp = json.loads(capsys.readouterr().out)["input"]
    assert inp["frames_fed"] == 0 and inp["accounted"] == sum(inp["skipped"].values()) > 0


def test_capture_errors_are_library_errors_not_crashes() -> None:
    path = data_path("pcaps", "dpkt__truncated_dns_2.pcap")
    with pytest.raises(CaptureError) as err, open_capture(path) as reader:
        list(reader)
    assert "\n" not in str(err.value)
