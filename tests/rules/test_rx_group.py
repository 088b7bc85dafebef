"""§5 group branch of ``macvlan_handle_frame``: rules M0–M6 (and §4 around them)."""

from __future__ import annotations

from collections import Counter

import pytest
from rulekit import (
    BCAST,
    EXT,
    L_MAC,
    TEST_ETHERTYPE,
    add,
    at,
    delta,
    frame,
    got,
    group,
    has_rule,
    incoming_at,
    kinds,
    mac,
    new_host,
)
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.datapath.receive import netif_receive_skb
from macvlan_sim.datapath.rx_handler import macvlan_handle_frame
from macvlan_sim.datapath.skb import Skb
from macvlan_sim.model.constants import MacaddrOp, MacvlanFlag, Mode, PktType, RxHandlerResult
from macvlan_sim.model.host import MacaddrChange
from macvlan_sim.model.mac import format_mac, mc_hash

NODST = MacvlanFlag.NODST
G = group(0xFB)


def _src_list(*macs: bytes) -> MacaddrChange:
    return MacaddrChange(MacaddrOp.SET, tuple(macs))


# --------------------------------------------------------------------------------- M0
def _busy_host():
    """Devices that every other rule would act on: a private sender, a bridge, a nodst source
    entry for EXT, an ALLMULTI bridge."""
    h = new_host()
    add(h, "p0", Mode.PRIVATE, mac(1))
    add(h, "b0", Mode.BRIDGE, mac(2))
    add(h, "s0", Mode.SOURCE, mac(3), flags=NODST, macaddr=_src_list(EXT))
    add(h, "b1", Mode.BRIDGE, mac(4))
    h.set_allmulti("b1", True)
    return h


@pytest.mark.parametrize(
    "data",
    [
        frame(BCAST, mac(1)),  # would be M3 (private sender)
        frame(BCAST, EXT),  # would be M2 (nodst source entry)
        frame(G, mac(9)),  # would be M4/M5
        frame(mac(2), mac(9)),  # would be U7
        frame(mac(2), EXT),  # would be U1
    ],
    ids=["M3-like", "M2-like", "group", "U7-like", "U1-like"],
)
def test_M0_loopback_passes(data):
    """A LOOPBACK frame (dev_loopback_xmit) is passed untouched: no rule runs, nothing counted."""
    h = _busy_host()
    eng = Engine(h)
    skb = Skb(data, h.lower, pkt_type=PktType.LOOPBACK, protocol=TEST_ETHERTYPE, pulled=True)
    skb.trail = []  # keep the decision path
    out = FrameOutcome(0, data, "lower")
    with eng._frame(out):
        result = macvlan_handle_frame(eng, skb, h.lower.rx_port)
        eng.process_backlog()
    assert result is RxHandlerResult.PASS
    assert skb.dev is h.lower
    assert skb.pkt_type == PktType.LOOPBACK
    assert out.receptions == [] and out.drops == [] and out.counters == {}
    steps = [step if isinstance(step, str) else step[0] for step in skb.trail]
    assert any(step.startswith("M0") for step in steps)


def test_M0_loopback_reaches_lower_stack_only():
    """Through the whole core receive path: L's tap and L's stack, no macvlan."""
    h = _busy_host()
    eng = Engine(h)
    data = frame(BCAST, mac(1))
    skb = Skb(data, h.lower, pkt_type=PktType.LOOPBACK, protocol=TEST_ETHERTYPE, pulled=True)
    out = FrameOutcome(0, data, "lower")
    with eng._frame(out):
        netif_receive_skb(eng, skb)
        eng.process_backlog()
    eng.run_workqueue()
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert kinds(out, "lower:stack") == [PktType.LOOPBACK]


# --------------------------------------------------------------------------------- M1
def _datagram(dst_mac: bytes, dst_ip: str, size: int = 100, ident: int = 77):
    return (
        Ether(dst=format_mac(dst_mac), src=format_mac(EXT))
        / IP(src="10.0.0.9", dst=dst_ip, id=ident)
        / UDP(sport=5353, dport=5353)
        / Raw(b"x" * size)
    )


def _m1_host():
    h = new_host()
    for i, (name, mode) in enumerate(
        [("b0", Mode.BRIDGE), ("v0", Mode.VEPA), ("p0", Mode.PRIVATE)], start=1
    ):
        add(h, name, mode, mac(i))
        h.maddr_add(name, G)
    return h


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
@pytest.mark.parametrize(
    "dst", [(G, "224.0.0.251"), (BCAST, "255.255.255.255")], ids=["multicast", "broadcast"]
)
def test_M1_multicast_ipv4_fragments_reassembled(dst, reverse):
    """Group-destination IPv4 fragments are held; the reassembled datagram (142 B in §16.20)
    is what L's stack and every macvlan receive, exactly once. L's tap sees each fragment."""
    h = _m1_host()
    eng = Engine(h)
    pkt = _datagram(*dst)
    whole = bytes(pkt)
    assert len(whole) == 142
    frags = [bytes(f) for f in fragment(pkt, fragsize=48)]
    assert len(frags) == 3
    if reverse:
        frags.reverse()
    outs = [eng.rx(f) for f in frags]
    for out, frag in zip(outs, frags, strict=True):
        assert [r.data for r in incoming_at(out, "lower")] == [frag]
    for out in outs[:-1]:
        assert got(out) == {"lower": 1}
        assert any(d.rule == "M1" for d in out.drops)
    total = sum((got(o) for o in outs), start=Counter())
    assert total == {"lower": 3, "lower:stack": 1, "b0": 1, "v0": 1, "p0": 1}
    last = outs[-1]
    for point in ("lower:stack", "b0", "v0", "p0"):
        (rec,) = incoming_at(last, point)
        assert rec.data == whole, point


def test_M1_tagged_multicast_fragments_reassembled():
    """M1 also applies after the VLAN tag is moved out of band (skb->protocol is 0x0800)."""
    h = _m1_host()
    eng = Engine(h)
    pkt = _datagram(G, "224.0.0.251")
    whole = bytes(pkt)
    frags = [bytes(f) for f in fragment(pkt, fragsize=48)]
    tag = bytes.fromhex("8100000a")
    outs = [eng.rx(f[:12] + tag + f[12:]) for f in frags]
    for out in outs[:-1]:
        assert got(out) == {"lower": 1}
    last = outs[-1]
    assert got(last) == {"lower": 1, "lower:stack": 1, "b0": 1, "v0": 1, "p0": 1}
    for point in ("b0", "v0", "p0"):
        (rec,) = incoming_at(last, point)
        assert rec.data == whole
        assert rec.vlan is not None and rec.vlan.vid == 10


@pytest.mark.parametrize("target", ["b0", "lower"])
def test_M1_unicast_fragments_not_reassembled(target):
    """Only the group branch defragments: unicast fragments are delivered one by one."""
    h = _m1_host()
    eng = Engine(h)
    dst = mac(1) if target == "b0" else L_MAC
    point = "b0" if target == "b0" else "lower:stack"
    frags = [bytes(f) for f in fragment(_datagram(dst, "10.0.0.1"), fragsize=48)]
    for frag in frags:
        out = eng.rx(frag)
        assert [r.data for r in incoming_at(out, point)] == [frag]
        assert not any(d.rule == "M1" for d in out.drops)


# --------------------------------------------------------------------------------- M2
def _m2_host(flags=MacvlanFlag.NONE, source_up=True):
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), flags=flags, macaddr=_src_list(EXT), up=source_up)
    add(h, "b0", Mode.BRIDGE, mac(2))
    add(h, "v0", Mode.VEPA, mac(3))
    return h


def test_M2_source_match_copies_and_dispatch_continues():
    h = _m2_host()
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "s0": 1, "b0": 1, "v0": 1}
    assert kinds(out, "s0") == [PktType.BROADCAST]
    assert has_rule(incoming_at(out, "s0")[0], "S ")


def test_M2_source_match_nodst_consumes():
    """NODST: the source device's copy only; L's stack and the other macvlans get nothing."""
    h = _m2_host(flags=NODST)
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "s0": 1}
    assert any(d.rule == "M2" for d in out.drops)


def test_M2_source_match_nodst_on_down_device_black_holes():
    """NODST counts even when the listing device is down (§5.1 step 1): nobody gets it."""
    h = _m2_host(flags=NODST, source_up=False)
    out = Engine(h).rx(frame(G, EXT))
    assert got(out) == {"lower": 1}


def test_M2_unlisted_source_is_not_consumed():
    h = _m2_host(flags=NODST)
    out = Engine(h).rx(frame(BCAST, mac(77)))
    assert got(out) == {"lower": 1, "lower:stack": 1, "b0": 1, "v0": 1}


# --------------------------------------------------------------------------------- M3
def _m3_host(sender_mode):
    h = new_host()
    kw = {"macaddr": _src_list(mac(60))} if sender_mode == Mode.SOURCE else {}
    add(h, "S", sender_mode, mac(1), **kw)
    add(h, "p1", Mode.PRIVATE, mac(2))
    add(h, "v1", Mode.VEPA, mac(3))
    add(h, "b1", Mode.BRIDGE, mac(4))
    for name in ("S", "p1", "v1", "b1"):
        h.set_allmulti(name, True)
    return h


@pytest.mark.parametrize("mode", [Mode.PRIVATE, Mode.SOURCE], ids=["private", "source"])
@pytest.mark.parametrize(
    "dst,kind",
    [(BCAST, PktType.BROADCAST), (G, PktType.MULTICAST)],
    ids=["broadcast", "multicast"],
)
def test_M3_return_to_sender_private_and_source(mode, dst, kind):
    """A group frame whose source is an UP private/source macvlan goes to that device only:
    L's stack is excluded, counted as 1 packet of 0 bytes, not as multicast."""
    h = _m3_host(mode)
    eng = Engine(h)
    out = eng.rx(frame(dst, mac(1)))
    assert got(out) == {"lower": 1, "S": 1}
    assert kinds(out, "S") == [kind]
    assert has_rule(incoming_at(out, "S")[0], "M3")
    assert delta(out, "S") == {"rx_packets": 1}
    assert eng.counters.totals["S"]["rx_bytes"] == 0
    assert eng.counters.totals["S"]["multicast"] == 0


def test_M3_return_to_sender_private():
    h = _m3_host(Mode.PRIVATE)
    out = Engine(h).rx(frame(BCAST, mac(1)))
    assert got(out) == {"lower": 1, "S": 1}
    assert delta(out, "S") == {"rx_packets": 1}


def test_M3_return_to_sender_source():
    h = _m3_host(Mode.SOURCE)
    out = Engine(h).rx(frame(BCAST, mac(1)))
    assert got(out) == {"lower": 1, "S": 1}
    assert delta(out, "S") == {"rx_packets": 1}


def test_M3_return_to_sender_passthru():
    """The passthru device has L's MAC: a group frame from that MAC goes back to it only."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, flags=MacvlanFlag.NOPROMISC)
    eng = Engine(h)
    out = eng.rx(frame(BCAST, L_MAC))
    assert got(out) == {"lower": 1, "pt": 1}
    assert kinds(out, "pt") == [PktType.BROADCAST]
    assert delta(out, "pt") == {"rx_packets": 1}


def test_M3_no_filter_check_and_no_queue():
    """The sender gets even a group it never joined, and the broadcast queue is not used
    (bcqueuelen 0 would drop a queued frame and count it on L)."""
    h = new_host()
    add(h, "S", Mode.PRIVATE, mac(1), bcqueuelen=0)
    add(h, "b1", Mode.BRIDGE, mac(2), bcqueuelen=0)
    out = Engine(h).rx(frame(group(0x42), mac(1)))
    assert got(out) == {"lower": 1, "S": 1}
    assert kinds(out, "S") == [PktType.MULTICAST]
    assert not incoming_at(out, "S")[0].queued
    assert "rx_dropped" not in delta(out, "lower")


def test_M3_only_for_up_sender():
    """vlan_hash holds UP devices only: a group frame from a down private device's MAC is an
    external frame (everyone else and L get it)."""
    h = _m3_host(Mode.PRIVATE)
    h.set_down("S")
    out = Engine(h).rx(frame(BCAST, mac(1)))
    assert got(out) == {"lower": 1, "lower:stack": 1, "p1": 1, "v1": 1, "b1": 1}


# --------------------------------------------------------------------------------- M4–M6
def _nic_host():
    """A NIC lower (IFF_UNICAST_FLT): not promiscuous, so port filters are not all-ones."""
    h = new_host(filter_slots=64)
    add(h, "b0", Mode.BRIDGE, mac(1))
    add(h, "b1", Mode.BRIDGE, mac(2))
    assert not h.lower.promisc
    return h


def test_M4_port_bc_filter_queues():
    """Broadcast sets the port bc_filter bit (cutoff 1): queued; L's stack still gets it."""
    h = _nic_host()
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "b0": 1, "b1": 1}
    for name in ("b0", "b1"):
        (rec,) = incoming_at(out, name)
        assert rec.queued and has_rule(rec, "M4")


def test_M4_group_with_two_subscribers_queued():
    h = _nic_host()
    g2 = group(0x22)
    h.maddr_add("b0", g2)
    h.maddr_add("b1", g2)
    out = Engine(h).rx(frame(g2, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "b0": 1, "b1": 1}
    assert all(r.queued for r in incoming_at(out, "b0") + incoming_at(out, "b1"))


def test_M5_port_mc_filter_inline():
    """A group with one subscriber is in mc_filter but not bc_filter: delivered inline."""
    h = _nic_host()
    g1 = group(0x21)
    assert mc_hash(g1) != mc_hash(BCAST)
    h.maddr_add("b0", g1)
    out = Engine(h).rx(frame(g1, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "b0": 1}
    (rec,) = incoming_at(out, "b0")
    assert not rec.queued and has_rule(rec, "M5")
    assert kinds(out, "b0") == [PktType.MULTICAST]


def test_M6_port_filters_clear_no_macvlan():
    """A group only L itself joined (synced count 0) passes the NIC, but no port filter bit
    is set: L's stack only."""
    h = _nic_host()
    g0 = group(0x33)
    assert mc_hash(g0) not in {mc_hash(BCAST), mc_hash(group(1))}
    h.maddr_add("lower", g0)
    out = Engine(h).rx(frame(g0, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    (rec,) = incoming_at(out, "lower:stack")
    assert has_rule(rec, "M6")


def test_M6_unjoined_group_on_non_promisc_lower():
    """passthru + nopromisc keeps a veth lower non-promiscuous: an unjoined group reaches L's
    stack only (§7 table: 'unjoined group: none')."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, flags=MacvlanFlag.NOPROMISC)
    assert not h.lower.promisc
    g = group(0x77)
    assert mc_hash(g) not in {mc_hash(BCAST), mc_hash(group(1))}
    out = Engine(h).rx(frame(g, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}


# --------------------------------------------------------------------------------- §4
def test_eth_type_trans_pkttype_on_lower_tap():
    """§4: L's tap sees every frame with eth_type_trans's pkt_type against L."""
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    cases = [
        (BCAST, PktType.BROADCAST),
        (G, PktType.MULTICAST),
        (L_MAC, PktType.HOST),
        (mac(1), PktType.OTHERHOST),
        (mac(99), PktType.OTHERHOST),
    ]
    for dst, kind in cases:
        out = eng.rx(frame(dst, EXT))
        assert kinds(out, "lower") == [kind], format_mac(dst)
        assert at(out, "wire")[0].pkttype == PktType.OUTGOING
