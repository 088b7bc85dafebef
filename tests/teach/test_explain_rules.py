"""`explain` covers every rule id of docs/rules.md: for each id, a frame whose explanation shows
it; and every device without a copy has a reason from the engine's record."""

from __future__ import annotations

import itertools

import pytest
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from macvlan_sim.datapath.reasons import WhyNot
from macvlan_sim.datapath.rules import RULES, UNREACHABLE
from macvlan_sim.io.capture import CaptureRecord
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.model.errors import SimError
from macvlan_sim.teach.explain import explain, explain_record

BASE = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add web0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge
ip link add web1 link eth0 address 02:00:00:00:01:01 type macvlan mode bridge
ip link add vm0  link eth0 address 02:00:00:00:02:00 type macvlan mode vepa
ip link add jail link eth0 address 02:00:00:00:03:00 type macvlan mode private
ip link add tap0 link eth0 address 02:00:00:00:04:00 type macvlan mode source \
 macaddr add 0a:00:00:00:00:01
ip link add trap link eth0 address 02:00:00:00:04:01 type macvlan mode source nodst \
 macaddr add 0a:00:00:00:00:66
ip link add spare link eth0 address 02:00:00:00:05:00 type macvlan mode bridge
ip link add link eth0 name eth0.10 type vlan id 10
ip link add link eth0 name eth0.20 type vlan id 20
ip link add v10 link eth0.10 address 02:00:00:00:10:00 type macvlan mode bridge
"""
BASE += "".join(
    f"ip link set {n} up\n"
    for n in ("web0", "web1", "vm0", "jail", "tap0", "trap", "eth0.10", "v10")
)
NIC = """host ipv6 off
lower eth0 address 02:00:00:00:00:01 nic 64
ip link add a link eth0 address 02:00:00:00:01:00 type macvlan mode bridge
ip link add b link eth0 address 02:00:00:00:01:01 type macvlan mode bridge
ip maddr add 01:00:5e:00:00:fb dev a
ip link set a up
ip link set b up
"""
PASSTHRU = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add pt link eth0 type macvlan mode passthru
"""
STACK = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add mv0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge
ip link add mv1 link eth0 address 02:00:00:00:01:01 type macvlan mode bridge
ip link add link mv0 name a type vlan id 10
ip link add link a name b type vlan id 20
ip link add link b name c type vlan id 30
ip link set mv0 up
ip link set mv1 up
ip link set a up
ip link set b up
ip link set c up
"""
EXT = "0a:00:00:00:00:05"
BIG = Raw(b"x" * 1500)
TEST_TYPE = 0x88B5
JAIL_BCAST = Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:03:00") / ARP()
_FRAGS = fragment(
    Ether(dst="01:00:5e:00:00:fb", src=EXT) / IP(dst="224.0.0.251") / UDP() / Raw(b"y" * 64),
    fragsize=32,
)

#: rule -> (topology, frame, inject, frames before it)
CASES: dict[str, tuple[str, object, str, tuple[object, ...]]] = {
    "M1": (BASE, _FRAGS[0], "wire", ()),
    "M2": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src="0a:00:00:00:00:66") / ARP(), "wire", ()),
    "M3": (BASE + "host hairpin on\n", JAIL_BCAST, "jail", ()),
    "H": (BASE + "host hairpin on\n", JAIL_BCAST, "jail", ()),
    "M4": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP(), "wire", ()),
    "Q2": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP(), "wire", ()),
    "B": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP(), "wire", ()),
    "M5": (NIC, Ether(dst="01:00:5e:00:00:fb", src=EXT) / ARP(), "wire", ()),
    "M6": (
        NIC + "ip maddr add 01:00:5e:00:00:fc dev eth0\n",
        Ether(dst="01:00:5e:00:00:fc", src=EXT) / ARP(),
        "wire",
        (),
    ),
    "L2": (NIC, Ether(dst="0a:00:00:00:00:99", src=EXT) / ARP(), "wire", ()),
    "U1": (BASE, Ether(dst="02:00:00:00:01:00", src="0a:00:00:00:00:66") / ARP(), "wire", ()),
    "S": (BASE, Ether(dst="02:00:00:00:01:00", src="0a:00:00:00:00:01") / ARP(), "wire", ()),
    "U2": (PASSTHRU + "ip link set pt up\n", Ether(dst="0a:00:00:00:00:42") / ARP(), "wire", ()),
    "U5": (PASSTHRU, Ether(dst="0a:00:00:00:00:42") / ARP(), "wire", ()),
    "U3": (BASE, Ether(dst="02:00:00:00:01:00", src=EXT) / ARP(), "wire", ()),
    "U7": (BASE, Ether(dst="02:00:00:00:01:00", src=EXT) / ARP(), "wire", ()),
    "U4": (BASE, Ether(dst="0a:00:00:00:00:42", src=EXT) / ARP(), "wire", ()),
    "Q1": (
        BASE.replace("host ipv6 off", "host ipv6 off\nhost drain manual")
        + "ip link set web0 type macvlan bcqueuelen 1\n"
        + "ip link set web1 type macvlan bcqueuelen 1\n"
        + "ip link set vm0 type macvlan bcqueuelen 1\n"
        + "ip link set jail type macvlan bcqueuelen 1\n"
        + "ip link set tap0 type macvlan bcqueuelen 1\n"
        + "ip link set trap type macvlan bcqueuelen 1\n"
        + "ip link set spare type macvlan bcqueuelen 1\n",
        Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP(),
        "wire",
        (Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP(),),
    ),
    "T0": (BASE + "ip link set wire down\n", Ether(dst="02:00:00:00:01:00") / ARP(), "wire", ()),
    "T6": (BASE + "ip link set wire down\n", Ether(dst="0a:00:00:00:00:42") / ARP(), "eth0", ()),
    "T1": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:01:00") / ARP(), "web0", ()),
    "T2": (BASE, Ether(dst="02:00:00:00:01:01", src="02:00:00:00:01:00") / ARP(), "web0", ()),
    "T3": (BASE, Ether(dst="02:00:00:00:02:00", src="02:00:00:00:01:00") / ARP(), "web0", ()),
    "T4": (BASE, Ether(dst="02:00:00:00:01:00", src="02:00:00:00:02:00") / ARP(), "vm0", ()),
    "T5": (STACK, Ether(dst="02:00:00:00:01:01", src="02:00:00:00:01:00") / BIG, "c", ()),
    "L1": (STACK.replace("bridge", "vepa"), Ether(dst="0a:00:00:00:00:42") / BIG, "c", ()),
    "V0": (BASE, bytes.fromhex("ffffffffffff0a000000000581000001"), "wire", ()),
    "V1": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / Dot1Q(vlan=99) / ARP(), "wire", ()),
    "V2": (BASE, Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / Dot1Q(vlan=20) / ARP(), "wire", ()),
    "V3": (BASE, Ether(dst="0a:00:00:00:00:42") / ARP(), "eth0.10", ()),
    "P0": (
        BASE,
        Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / Dot1Q(vlan=99, type=TEST_TYPE) / Raw(b"z" * 40),
        "wire",
        (),
    ),
}


def _explain(rule: str):
    topo_text, frame, inject, before = CASES[rule]
    topo = parse_topology(topo_text)
    return explain(
        topo.engine(keep_paths=True), bytes(frame), inject=inject, before=[bytes(b) for b in before]
    )


def test_every_documented_rule_has_a_case_or_is_argued_unreachable() -> None:
    assert set(CASES) | set(UNREACHABLE) == set(RULES)
    assert not set(CASES) & set(UNREACHABLE)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_explanation_shows_the_rule(rule: str) -> None:
    expl = _explain(rule)
    assert rule in expl.rules, expl.rules
    data = expl.as_json()
    assert rule in data["rules"]
    _every_device_left_out_has_a_recorded_reason(expl)


def _every_device_left_out_has_a_recorded_reason(expl) -> None:
    """Every device without a copy has a reason the record gave, never the catch-all."""
    names = set(expl.host.devices) - set(expl.delivered())
    assert names == set(expl.not_delivered)
    for name, skips in expl.not_delivered.items():
        assert skips, name
        assert all(s.why is not WhyNot.NOT_REACHED for s in skips), (name, skips)
    assert {d["device"] for d in expl.as_json()["not_delivered"]} == names


@pytest.mark.parametrize("drain", ["frame", "manual", "rate 1000"])
def test_a_broadcast_shows_its_queued_copies_whatever_the_drain(drain: str) -> None:
    """The broadcast queue is served for the explained frame under every drain (under
    ``drain rate`` nothing else would serve it, and every macvlan was left 'not reached')."""
    topo = parse_topology(BASE + f"host drain {drain}\n")
    frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP())
    expl = explain(topo.engine(keep_paths=True), frame)
    assert {"web0", "web1", "vm0", "jail"} <= set(expl.delivered())
    _every_device_left_out_has_a_recorded_reason(expl)


def _record(data: bytes, index: int = 0, ts: int = 0, orig_len: int | None = None):
    return CaptureRecord(
        index=index,
        timestamp_ns=ts,
        linktype=1,
        interface=0,
        data=data,
        orig_len=len(data) if orig_len is None else orig_len,
    )


def test_a_trace_record_is_fed_as_replay_feeds_it() -> None:
    """A snaplen-cut record is judged by its original length, and records carry their
    timestamps: under ``drain rate`` the earlier broadcast has been served by the time the
    explained one comes, so the one-slot queues have room (without timestamps, Q1)."""
    full = bytes(Ether(dst="02:00:00:00:01:00", src=EXT) / IP() / UDP() / Raw(b"x" * 200))
    cut = _record(full[:64], orig_len=len(full))
    expl = explain_record(parse_topology(BASE).engine(keep_paths=True), [cut], 0)
    web0 = next(r for r in expl.outcome.receptions if r.point == "web0")
    assert web0.wire_len == len(full)

    topo_text, frame, _, before = CASES["Q1"]
    rate = topo_text.replace("host drain manual", "host drain rate 1000")
    records = [_record(bytes(before[0]), 0, 0), _record(bytes(frame), 1, 10**9)]
    expl = explain_record(parse_topology(rate).engine(keep_paths=True), records, 1)
    assert "Q1" not in expl.rules and "web0" in expl.delivered()


def test_explain_record_reads_only_up_to_its_index() -> None:
    """The trace is a stream: records past the one explained are never read."""
    frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=EXT) / ARP())
    endless = (_record(frame, i, i * 1000) for i in itertools.count())
    expl = explain_record(parse_topology(BASE).engine(keep_paths=True), endless, 5)
    assert expl.outcome.index == 5
    assert next(endless).index == 6
    with pytest.raises(SimError, match=r"x\.pcap: no frame 3 \(the trace has 2 frames\)"):
        explain_record(parse_topology(BASE).engine(), [_record(frame)] * 2, 3, trace="x.pcap")


def test_reasons_name_the_decision() -> None:
    """A broadcast from outside: source-mode and down devices are left out, each for its
    recorded reason; the macvlan on an absent VLAN inherits its link's miss."""
    why = {n: [s.why for s in skips] for n, skips in _explain("B").not_delivered.items()}
    assert why["trap"] == [WhyNot.MODE_MASK]
    assert why["spare"] == [WhyNot.DOWN]
    assert why["eth0.10"] == [WhyNot.UNTAGGED]
    assert why["v10"] == [WhyNot.LINK_MISSED]
    unicast = _explain("U7").not_delivered
    assert [s.why for s in unicast["web1"]] == [WhyNot.NOT_ITS_MAC]
    nic = _explain("L2").not_delivered
    assert [s.why for s in nic["eth0"]] == [WhyNot.NIC_FILTER]
    assert [s.why for s in nic["a"]] == [WhyNot.LINK_MISSED]


def test_reception_received_is_everything_but_a_tap_seeing_its_device_send() -> None:
    expl = _explain("T1")
    kinds = {(r.point, r.received) for r in expl.outcome.receptions}
    assert kinds == {("web0", False), ("eth0", False), ("web1", True), ("wire", True)}
    assert set(expl.delivered()) == {"web1", "wire"}
