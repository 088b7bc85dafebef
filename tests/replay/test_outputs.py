"""Issue 8 item 11 and issue 7 §3: output paths, disk full, broken pipes, the --out directory
policy, and the published JSON shape (validated against docs/replay-json.schema.json)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from macvlan_sim.cli.byte_rules import BYTE_RULES
from macvlan_sim.cli.main import main
from macvlan_sim.cli.out_dir import MANIFEST
from macvlan_sim.cli.replay_json import rule_text
from macvlan_sim.datapath.rules import RULES

from .helpers import REPO, replay_fails, replay_json

TRACE = str(REPO / "examples" / "trace.pcap")
TOPO = str(REPO / "examples" / "host.topo")
CLI = [sys.executable, "-m", "macvlan_sim.cli.main"]


# ---------------------------------------------------------------- --out paths
def test_out_on_a_regular_file(capsys, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    err = replay_fails(capsys, TRACE, "--out", str(target))
    assert f"--out {target}: exists and is not a directory" in err


def test_out_on_a_symlink_loop(capsys, tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    err = replay_fails(capsys, TRACE, "--out", str(tmp_path / "a"))
    assert "too many levels of symbolic links" in err and str(tmp_path / "a") in err


def test_non_empty_out_is_refused_then_force_clears_only_its_own_files(
    capsys, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = replay_json(capsys, TRACE, "--topology", TOPO, "--out", str(out))
    written = {p["pcap"] for p in first["points"].values()}
    assert set(os.listdir(out)) == written | {MANIFEST}
    (out / "notes.txt").write_text("mine")
    err = replay_fails(capsys, TRACE, "--out", str(out))
    assert "not empty" in err and "--force" in err
    # The second replay (bundled topology) writes other points: the first run's files go.
    second = replay_json(capsys, TRACE, "--out", str(out), "--force")
    now = {p["pcap"] for p in second["points"].values()}
    assert set(os.listdir(out)) == now | {MANIFEST, "notes.txt"}
    assert (out / "notes.txt").read_text() == "mine"
    assert written - now, "the first run had files the second did not write"


def test_help_says_what_force_does(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "non-empty --out directory" in text and "other files are left alone" in text


def test_disk_full_names_the_file_and_leaves_no_partial_pcaps(capsys, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # A file the replay will write, pointing at a device where every write fails with ENOSPC
    # (a full tmpfs fails the same way; not in the manifest, so --force leaves it in place).
    (out / "wire.pcap").symlink_to("/dev/full")
    err = replay_fails(capsys, TRACE, "--topology", TOPO, "--out", str(out), "--force")
    assert f"{out}/wire.pcap: write failed: No space left on device" in err
    assert os.listdir(out) == [], "half-written pcaps must be removed"
    # A directory the failed run created itself is removed altogether.
    target = tmp_path / "fresh"
    err = replay_fails(capsys, str(tmp_path / "missing.pcap"), "--out", str(target))
    assert "file not found" in err and not target.exists()


def test_stdout_on_a_full_disk_is_named(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*CLI, "replay", TRACE, "--json"], stdout=full, stderr=subprocess.PIPE, cwd=REPO
        )
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err == "macvlan-sim: error: writing to standard output: No space left on device\n"


def test_broken_pipe_exits_quietly_every_time() -> None:
    for args in (["--json"], ["--no-progress"]):
        for _ in range(2):
            proc = subprocess.Popen(
                [*CLI, "replay", TRACE, "--topology", TOPO, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=REPO,
            )
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()  # the reader is gone before the first byte: EPIPE for sure
            err = proc.stderr.read().decode()
            assert proc.wait() == 0 and err == "", err


# ---------------------------------------------------------------- the JSON document
def test_json_names_its_inputs_and_matches_the_table(capsys, tmp_path: Path) -> None:
    doc = replay_json(capsys, TRACE, "--topology", TOPO, "--out", str(tmp_path / "o"))
    assert doc["trace"] == TRACE and doc["topology"] == {"source": TOPO, "lower": "eth0"}
    inp = doc["input"]
    assert inp["records_read"] == inp["accounted"] == 66
    assert sum(f["frames"] for f in doc["fates"].values()) == inp["frames_fed"]
    assert main(["replay", TRACE, "--topology", TOPO, "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"records read\s*│\s*66\b", table)
    for rule, entry in doc["drops"].items():
        assert entry["text"] == rule_text(rule) and entry["copies"] == sum(entry["points"].values())
    assert doc["byte_rules"] == BYTE_RULES


def test_drops_are_keyed_by_rule_not_by_frame_size(capsys, tmp_path: Path) -> None:
    from tests.capture.builders import pcap_header, pcap_record

    from .helpers import frame

    sizes = (1600, 1700, 9000)
    trace = tmp_path / "t.pcap"
    trace.write_bytes(pcap_header() + b"".join(pcap_record(frame(size=n)) for n in sizes))
    drops = replay_json(capsys, str(trace))["drops"]
    assert list(drops) == ["L1"] and drops["L1"]["copies"] == len(sizes)


def test_every_drop_rule_the_datapath_records_has_a_text() -> None:
    source = "".join(p.read_text() for p in (REPO / "macvlan_sim" / "datapath").glob("*.py"))
    call = r'\.(?:drop|held)\((?:(?!\.(?:drop|held)\().)*?"([A-Z][0-9]?)",?\s*\)'
    used = set(re.findall(call, source, re.S))
    assert used >= {"T0", "L1", "P0", "Q1", "M1"}, used
    assert used <= set(RULES), used - set(RULES)


def test_byte_rules_are_documented() -> None:
    doc = (REPO / "docs" / "replay.md").read_text()
    for key in BYTE_RULES:
        assert f"`{key}`" in doc, key
