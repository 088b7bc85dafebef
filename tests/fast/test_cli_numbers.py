"""Numeric options of replay, gen and topology from-trace are range-checked at parse time: one
line and exit status 2 (they used to hang on ``--workers -2``, print a traceback on
``--seed -1``, report "wrote -1 frames" and exit 0, or silently drop a device); and a
topology file that is not UTF-8 is one line naming it, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from macvlan_sim.cli.main import main
from tests.capture.corpus import CORPUS

TRACE = str(CORPUS / "zeek__wikipedia.pcap")


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse exits on a bad option
        return int(exc.code or 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", TRACE, "--workers", "-2"],
        ["replay", TRACE, "--bc-rate", "0"],
        ["replay", TRACE, "--bc-rate", "-5"],
        ["gen", "{tmp}/x.pcap", "--frames", "-1"],
        ["gen", "{tmp}/x.pcap", "--devices", "0"],
        ["gen", "{tmp}/x.pcap", "--devices", "-3"],
        ["gen", "{tmp}/x.pcap", "--seed", "-1"],
        ["gen", "{tmp}/x.pcap", "--seed", "1.5"],
        ["topology", "from-trace", TRACE, "--devices", "-1"],
    ],
    ids=lambda argv: " ".join(a for a in argv if a not in (TRACE, "{tmp}/x.pcap")),
)
def test_out_of_range_numbers_are_one_line(argv: list[str], tmp_path: Path, capsys) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert _run(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err and argv[-2] in captured.err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_replay_topology_not_utf8_is_one_line(tmp_path: Path, capsys) -> None:
    topo = tmp_path / "bad.topo"
    topo.write_bytes(b"lower eth0 veth\n# caf\xe9\n")
    assert _run(["replay", TRACE, "--topology", str(topo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{topo}:2: not UTF-8" in err
