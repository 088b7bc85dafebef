"""`diagnose` answers each question on the example topologies, with frames as proof."""

from __future__ import annotations

import json

import pytest

from macvlan_sim.cli.main import main
from macvlan_sim.io.topology import load_topology, parse_topology
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


def _verdicts(text: str):
    return diagnose(parse_topology("host ipv6 off\n" + text))


PASSTHRU = """ip link add pt link eth0 type macvlan mode passthru
ip link set pt up
ip link add link eth0 name eth0.10 type vlan id 10
ip link set eth0.10 up
"""


@pytest.mark.parametrize("lower", ["", " nic 64"])
def test_passthru_and_vlan_inherit_the_lowers_mac_without_a_conflict(lower: str) -> None:
    verdicts = _verdicts(f"lower eth0 address 02:00:00:00:00:01{lower}\n" + PASSTHRU)
    mac = _by_word(verdicts, "MAC")
    assert mac.status == "ok", mac.finding
    # A macvlan that copies another's address is still a conflict.
    dup = "ip link add d link eth0 address 02:00:00:00:00:01 type macvlan mode bridge\n"
    verdicts = _verdicts(f"lower eth0 address 02:00:00:00:00:01{lower}\n" + dup)
    assert _by_word(verdicts, "MAC").status == "problem"


@pytest.mark.parametrize("lower", ["", " nic 64"])
def test_promiscuous_verdict_follows_the_engine_on_passthru(lower: str) -> None:
    """Passthru makes the lower promiscuous and a stranger's unicast goes to the passthru
    device: the verdict says so (it used to say the frame was rejected)."""
    verdicts = _verdicts(f"lower eth0 address 02:00:00:00:00:01{lower}\n" + PASSTHRU)
    promisc = _by_word(verdicts, "promiscuous")
    assert promisc.status == "problem"
    assert "is promiscuous" in promisc.finding and "pt (host)" in promisc.finding
    assert "rejected" not in promisc.finding


def test_promiscuous_verdict_on_a_filtering_nic() -> None:
    """Within its slots the NIC rejects a stranger (L2); past them the engine lets it in."""
    two = (
        "ip link add a link eth0 address 02:00:00:00:01:00 type macvlan mode bridge\n"
        "ip link add b link eth0 address 02:00:00:00:01:01 type macvlan mode bridge\n"
        "ip link set a up\nip link set b up\n"
    )
    fits = _by_word(_verdicts("lower eth0 address 02:00:00:00:00:01 nic 64\n" + two), "promisc")
    assert fits.status == "ok" and "rejected by its filter (L2)" in fits.finding
    assert fits.evidence[0].rules == ["L2"]
    over = _by_word(_verdicts("lower eth0 address 02:00:00:00:00:01 nic 1\n" + two), "promisc")
    assert over.status == "problem" and "not promiscuous" in over.finding
    assert "overflows its filter" in over.finding and "overflows" not in fits.finding
    assert "gets in" in over.finding and "L2" not in over.evidence[0].rules


def test_reachability_needs_both_directions() -> None:
    """A source-mode child behind a hairpin: it reaches the lower, but unicast to its own
    MAC passes to the lower, not to it (the spec, source mode). One way is not 'reach each
    other'."""
    verdicts = _verdicts(
        "host hairpin on\nlower eth0 address 02:00:00:00:00:01\n"
        "ip link add c link eth0 address 02:00:00:00:01:00 type macvlan mode source\n"
        "ip link set c up\n"
    )
    reach = _by_word(verdicts, "host reach")
    assert reach.status == "problem"
    assert "c reaches eth0, but not the other way" in reach.finding
