"""`diagnose` answers each question on the example topologies, with frames as proof."""

from __future__ import annotations

import json

import pytest

from macvlan_sim.cli.main import main
from macvlan_sim.io.topology import load_topology
from macvlan_sim.teach.diagnose import diagnose
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def _by_word(verdicts, word):
    return next(v for v in verdicts if word in v.question)


def test_every_question_finds_its_problem_on_the_problem_host() -> None:
    verdicts = diagnose(load_topology(EXAMPLES / "diagnose.topo"), service_every=256)
    status = {v.question: v.status for v in verdicts}
    assert set(status.values()) <= {"problem", "note"}, status
    reach = _by_word(verdicts, "host reach")
    assert "fix checked" in reach.finding
    assert "T2" in reach.evidence[-1].rules and "U7" in reach.evidence[-1].rules
    vepa = _by_word(verdicts, "VEPA")
    assert vepa.evidence[0].rules == ["T4"] and "H" in vepa.evidence[1].rules
    assert "promiscuous" in _by_word(verdicts, "promiscuous").finding
    queue = _by_word(verdicts, "broadcasts dropped")
    assert queue.evidence[0].rules == ["Q1"]
    assert "mon" in _by_word(verdicts, "source-mode").finding
    assert "web0, dup" in _by_word(verdicts, "MAC").finding
    private = _by_word(verdicts, "private")
    assert "M3" in private.evidence[0].rules and "U7" in private.evidence[1].rules
    assert "spare is down" in _by_word(verdicts, "down").finding
    assert all(v.evidence for v in verdicts)


def test_a_tidy_host_gets_ok_or_not_applicable() -> None:
    verdicts = diagnose(load_topology(EXAMPLES / "trunk_host.topo"))
    status = {v.question: v.status for v in verdicts}
    assert status[_by_word(verdicts, "promiscuous").question] == "ok"
    assert status[_by_word(verdicts, "VEPA").question] == "not applicable"
    assert status[_by_word(verdicts, "MAC").question] == "ok"
    assert status[_by_word(verdicts, "down").question] == "ok"
    assert status[_by_word(verdicts, "broadcasts dropped").question] == "ok"


def test_queue_question_replays_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "diagnose",
            "--topology",
            str(EXAMPLES / "host.topo"),
            "--trace",
            str(EXAMPLES / "trace.pcap"),
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    queue = next(v for v in data["verdicts"] if "broadcasts dropped" in v["question"])
    assert "the trace" in queue["finding"] and queue["status"] == "ok"
