"""The README's examples must keep working: its topology block parses and its Python runs."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import pytest

from macvlan_sim.io.topology import parse_topology

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_readme_starts_with_the_two_setup_commands() -> None:
    first = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first is not None and README.index(first.group(0)) < README.index("## ")
    commands = first.group(1).strip().splitlines()
    assert len(commands) == 2
    assert "macvlan-sim replay examples/trace.pcap" in commands[0]
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_readme_main_job_runs_and_runs_again(tmp_path: Path, capsys) -> None:
    """The first set-up command's replay works on a fresh checkout, and a second time."""
    from macvlan_sim.cli.main import main

    first = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first is not None
    words = shlex.split(first.group(1).splitlines()[0].split("&&", 1)[1])
    assert words[0] == "macvlan-sim"
    args = [str(REPO / w) if w.startswith("examples/") else w for w in words[1:]]
    args[args.index("--out") + 1] = str(tmp_path / "out")
    for _ in range(2):
        assert main(args) == 0
        assert (tmp_path / "out" / "wire.pcap").stat().st_size > 24
    capsys.readouterr()


def test_readme_topology_block_parses() -> None:
    block = re.search(r"```\n(host ipv6 off.*?)```", README, re.S)
    assert block is not None
    topo = parse_topology(block.group(1), "README.md")
    assert {"eth0", "web0", "tap0", "eth0.10"} <= set(topo.host.devices)


def test_readme_python_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    snippet = re.search(r"```python\n(.*?)```", README, re.S)
    assert snippet is not None
    script = tmp_path / "snippet.py"
    script.write_text(snippet.group(1))
    monkeypatch.chdir(REPO)
    runpy.run_path(str(script))
    out = capsys.readouterr().out
    assert "copies for web1" in out and "web1 broadcast" in out
