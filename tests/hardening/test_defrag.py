"""Issue 8 item 3: group IPv4 reassembly is bounded like the kernel's (64 KiB datagrams,
ipfrag_high_thresh, ipfrag_time, duplicate/overlap rules) and counts what it frees."""

from __future__ import annotations

import json

from macvlan_sim.datapath.defrag import (
    FREED,
    IPFRAG_HIGH_THRESH,
    IPFRAG_TIME_NS,
    TIMEOUT,
    Defragmenter,
    Verdict,
)
from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.scenario import Scenario
from macvlan_sim.model.constants import Mode
from macvlan_sim.model.host import Host
from macvlan_sim.verify.compare import compare_results
from macvlan_sim.verify.randomize import _ipv4

from ..conftest import data_path

DST = bytes.fromhex("01005e0000fb")
SRC = bytes.fromhex("0a0000000101")


def frag(ident: int, off8: int, payload: bytes, more: bool) -> bytes:
    header = _ipv4(ident, (0x2000 if more else 0) | off8, len(payload), 17)
    return DST + SRC + b"\x08\x00" + header + payload


def engine() -> Engine:
    host = Host(ipv6=False)
    host.add_lower("lower")
    host.add_macvlan("mv0", "lower", mode=Mode.BRIDGE)
    host.set_up("mv0")
    return Engine(host, keep_paths=False)


def test_emulator_agrees_with_the_kernel_on_reassembly_limits() -> None:
    folder = data_path("kernel-results")
    scenario = Scenario.load(folder / "defrag-limits.scenario.json")
    kernel = json.loads((folder / "defrag-limits.result.json").read_text())
    comparison = compare_results(kernel, scenario.run())
    assert comparison.frames == len(kernel["frames"]) == 98
    assert comparison.agree, json.dumps(comparison.as_json(), indent=1)


def test_an_oversized_datagram_is_discarded_and_counted_not_a_crash() -> None:
    eng = engine()
    payload = b"x" * 1480
    outs = [eng.rx(frag(9, off * 185, payload, True)) for off in range(44)]
    outs.append(eng.rx(frag(9, 44 * 185, b"y" * 528, False)))  # ends at 65,648
    last = outs[-1]
    assert [d.reason for d in last.drops] == [FREED[Verdict.OVERSIZE], Verdict.OVERSIZE]
    assert all(d.rule == "M1" for d in last.drops)
    assert eng.fragments_evicted == 45 and eng.defrag.queues == {} and eng.defrag.mem == 0


def test_memory_over_high_thresh_drops_every_fragment_until_queues_expire() -> None:
    eng = engine()
    ts = 0
    for ident in range(2100):
        eng.rx(frag(ident, 0, b"x" * 1480, True), timestamp_ns=ts)
    held = eng.drop_reasons[Verdict.HELD]
    refused = eng.drop_reasons[Verdict.NO_MEMORY]
    assert held + refused == 2100 and refused > 0
    assert eng.defrag.mem <= IPFRAG_HIGH_THRESH + 2200 and len(eng.defrag.queues) == held
    # Even the rest of a datagram already queued is refused while memory is over the limit.
    out = eng.rx(frag(0, 185, b"x" * 8, False), timestamp_ns=ts)
    assert [d.reason for d in out.drops] == [Verdict.NO_MEMORY]
    # Once ipfrag_time has passed every queue's timer fires and fragments are taken again.
    out = eng.rx(frag(5000, 0, b"x" * 8, True), timestamp_ns=IPFRAG_TIME_NS + 1)
    assert [d.reason for d in out.drops].count(TIMEOUT) == held
    assert out.drops[-1].reason == Verdict.HELD and eng.fragments_evicted == held
    assert len(eng.defrag.queues) == 1


def test_a_timer_is_set_once_at_creation_not_moved_by_later_fragments() -> None:
    d = Defragmenter()
    d.now_ns = 0
    d.check(frag(1, 0, b"a" * 8, True))
    d.now_ns = IPFRAG_TIME_NS  # a fragment at 30 s keeps the queue (not yet past its time)
    assert d.check(frag(1, 2, b"c" * 8, True)).verdict == Verdict.HELD
    d.now_ns = IPFRAG_TIME_NS + 1
    result = d.check(frag(1, 1, b"b" * 8, False))
    assert result.evicted == [(TIMEOUT, 2)] and result.verdict == Verdict.HELD


def test_duplicate_inside_a_run_overlap_across_runs_and_impossible_fragments() -> None:
    d = Defragmenter()
    assert d.check(frag(1, 0, b"a" * 16, True)).verdict == Verdict.HELD
    assert d.check(frag(1, 2, b"b" * 16, True)).verdict == Verdict.HELD
    assert d.check(frag(1, 1, b"c" * 16, True)).verdict == Verdict.DUPLICATE
    assert d.check(frag(1, 4, b"z" * 8, False)).data is not None
    d.check(frag(2, 2, b"b" * 16, True))
    d.check(frag(2, 0, b"a" * 16, True))
    result = d.check(frag(2, 1, b"c" * 16, True))
    assert result.verdict == Verdict.OVERLAP and result.evicted == [(FREED[Verdict.OVERLAP], 2)]
    d.check(frag(3, 2, b"a" * 16, False))  # last fragment: the datagram ends at 32
    result = d.check(frag(3, 4, b"b" * 8, True))  # data past the end
    assert result.verdict == Verdict.INVALID and d.queues == {} and d.mem == 0
