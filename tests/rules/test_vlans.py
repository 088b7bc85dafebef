"""§13 and §17 VLANs: tags without sub-interfaces, VID 0, QinQ, runts, sub-interfaces, VLANs on
macvlans, tagged TX, the NIC VLAN filter."""

from __future__ import annotations

import pytest
from rulekit import (
    BCAST,
    EXT,
    L_MAC,
    add,
    at,
    delta,
    frame,
    got,
    incoming_at,
    kinds,
    mac,
    new_host,
    tagged,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import ETH_P_8021AD, ETH_P_8021Q, GVRP_GROUP, Mode, PktType

Q, AD = ETH_P_8021Q, ETH_P_8021AD


def _two_macvlans(**kw):
    h = new_host(**kw)
    add(h, "mv0", Mode.BRIDGE, mac(1))
    add(h, "mv1", Mode.BRIDGE, mac(2))
    return h


def _finals(out) -> dict[str, PktType]:
    return dict(out.finals)


# --------------------------------------------------------------------------------- (b)
def test_vlan_no_subif_unicast_tap_host_final_otherhost():
    """§16.18: 8100/10 gives tap HOST, final OTHERHOST, 56 bytes."""
    h = _two_macvlans()
    out = Engine(h).rx(tagged(mac(1), EXT, ((Q, 10),)))
    assert got(out) == {"lower": 1, "mv0": 1}
    (rec,) = incoming_at(out, "mv0")
    assert rec.pkttype == PktType.HOST
    assert rec.vlan is not None and (rec.vlan.tpid, rec.vlan.vid) == (Q, 10)
    assert out.finals == [("mv0", PktType.OTHERHOST)]
    assert delta(out, "mv0")["rx_bytes"] == 56
    (low,) = incoming_at(out, "lower")
    assert low.vlan is not None and low.vlan.vid == 10


@pytest.mark.parametrize("tpid", [Q, AD], ids=["8021q", "8021ad"])
def test_vlan_no_subif_broadcast_every_final_otherhost(tpid):
    """A tagged broadcast reaches all eligible macvlans and L, each ending OTHERHOST; copies
    keep the tag (out of band)."""
    h = _two_macvlans()
    out = Engine(h).rx(tagged(BCAST, EXT, ((tpid, 10),)))
    assert got(out) == {"lower": 1, "lower:stack": 1, "mv0": 1, "mv1": 1}
    for name in ("mv0", "mv1"):
        (rec,) = incoming_at(out, name)
        assert rec.pkttype == PktType.BROADCAST
        assert rec.vlan is not None and (rec.vlan.tpid, rec.vlan.vid) == (tpid, 10)
    assert _finals(out) == {
        "lower": PktType.OTHERHOST,
        "mv0": PktType.OTHERHOST,
        "mv1": PktType.OTHERHOST,
    }


# --------------------------------------------------------------------------------- (c)
def test_vlan_vid0_priority_tag_normal_delivery():
    h = _two_macvlans()
    eng = Engine(h)
    out = eng.rx(tagged(mac(1), EXT, ((Q, 0x6000),)))  # PCP 3, VID 0
    assert out.finals == [("mv0", PktType.HOST)]
    out = eng.rx(tagged(BCAST, EXT, ((Q, 0x6000),)))
    assert _finals(out) == {
        "lower": PktType.BROADCAST,
        "mv0": PktType.BROADCAST,
        "mv1": PktType.BROADCAST,
    }


def test_vlan_two_vid0_tags_both_stripped():
    h = _two_macvlans()
    out = Engine(h).rx(tagged(mac(1), EXT, ((Q, 0), (Q, 0))))
    assert out.finals == [("mv0", PktType.HOST)]
    out = Engine(h).rx(tagged(L_MAC, EXT, ((Q, 0), (Q, 0))))
    assert out.finals == [("lower", PktType.HOST)]


# --------------------------------------------------------------------------------- (d)
@pytest.mark.parametrize(
    "tags",
    [((AD, 20), (Q, 10)), ((AD, 0), (Q, 10))],
    ids=["88a8-20+8100-10", "88a8-0+8100-10"],
)
def test_vlan_qinq_final_otherhost(tags):
    h = _two_macvlans()
    eng = Engine(h)
    out = eng.rx(tagged(mac(1), EXT, tags))
    assert got(out)["mv0"] == 1
    assert _finals(out) == {"mv0": PktType.OTHERHOST}
    out = eng.rx(tagged(L_MAC, EXT, tags))
    assert _finals(out) == {"lower": PktType.OTHERHOST}


def test_vlan_qinq_inner_tag_stays_in_payload():
    h = _two_macvlans()
    data = tagged(mac(1), EXT, ((AD, 20), (Q, 10)))
    out = Engine(h).rx(data)
    (rec,) = incoming_at(out, "mv0")
    assert (rec.vlan.tpid, rec.vlan.vid) == (AD, 20)
    assert rec.data[12:16] == bytes.fromhex("8100000a")
    assert delta(out, "mv0")["rx_bytes"] == 56


# --------------------------------------------------------------------------------- runts
@pytest.mark.parametrize("size", [16, 18, 19])
def test_vlan_tagged_frame_under_20_bytes_dropped_before_any_tap(size):
    h = _two_macvlans()
    data = tagged(mac(1), EXT, ((Q, 10),), size=20, payload=b"")[:size]
    out = Engine(h).rx(data)
    assert got(out) == {}
    assert delta(out, "lower")["rx_packets"] == 1  # the veth still received it


def test_vlan_14_byte_frame_with_vlan_ethertype_dropped_before_any_tap():
    h = _two_macvlans()
    out = Engine(h).rx(frame(mac(1), EXT, ethertype=Q, size=14, payload=b""))
    assert got(out) == {}


def test_vlan_20_byte_tagged_frame_delivered():
    h = _two_macvlans()
    out = Engine(h).rx(tagged(mac(1), EXT, ((Q, 10),), size=20, payload=b""))
    assert got(out) == {"lower": 1, "mv0": 1}
    assert delta(out, "mv0")["rx_bytes"] == 16


# --------------------------------------------------------------------------------- (a) subif
def _subif_host(**kw):
    """lower.10 with two macvlans on it, and two macvlans on the lower (vlan-subinterfaces)."""
    h = new_host(**kw)
    h.add_vlan("lower.10", "lower", 10)
    h.set_up("lower.10")
    add(h, "mvA", Mode.BRIDGE, mac(1))
    add(h, "mvB", Mode.BRIDGE, mac(2))
    add(h, "m10a", Mode.BRIDGE, mac(3), link="lower.10")
    add(h, "m10b", Mode.BRIDGE, mac(4), link="lower.10")
    return h


def test_vlan_subif_unicast_to_its_macvlan():
    h = _subif_host()
    out = Engine(h).rx(tagged(mac(3), EXT))
    assert got(out) == {"lower": 1, "lower.10": 1, "m10a": 1}
    assert kinds(out, "lower.10") == [PktType.OTHERHOST]
    assert kinds(out, "m10a") == [PktType.HOST]
    assert incoming_at(out, "lower.10")[0].vlan is None
    assert delta(out, "m10a") == {"rx_packets": 1, "rx_bytes": 56}


def test_vlan_subif_takes_its_vid_away_from_the_lowers_port():
    h = _subif_host()
    out = Engine(h).rx(tagged(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower.10": 1, "lower.10:stack": 1, "m10a": 1, "m10b": 1}


def test_vlan_subif_vlan_first_then_mac():
    """VID 10 unicast to a macvlan on the *lower*: only lower.10's stack, OTHERHOST."""
    h = _subif_host()
    out = Engine(h).rx(tagged(mac(1), EXT))
    assert got(out) == {"lower": 1, "lower.10": 1, "lower.10:stack": 1}
    assert kinds(out, "lower.10:stack") == [PktType.OTHERHOST]


def test_vlan_subif_own_mac_is_host():
    h = _subif_host()
    out = Engine(h).rx(tagged(L_MAC, EXT))
    assert kinds(out, "lower.10") == [PktType.HOST]
    assert kinds(out, "lower.10:stack") == [PktType.HOST]


@pytest.mark.parametrize(
    "data",
    [
        frame(BCAST, EXT),
        tagged(BCAST, EXT, ((Q, 20),)),
        tagged(BCAST, EXT, ((AD, 10),)),
    ],
    ids=["untagged", "vid-without-subif", "8021ad-same-vid"],
)
def test_vlan_other_frames_go_to_the_lowers_port(data):
    """Untagged, VIDs without a sub-interface and 802.1ad/10 (distinct from 802.1Q/10)."""
    h = _subif_host()
    out = Engine(h).rx(data)
    assert got(out) == {"lower": 1, "lower:stack": 1, "mvA": 1, "mvB": 1}


def test_vlan_subif_untagged_unicast_to_its_macvlan_goes_to_lower():
    h = _subif_host()
    out = Engine(h).rx(frame(mac(3), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}


def test_vlan_8021ad_subif_distinct_from_8021q():
    h = new_host()
    h.add_vlan("lower.ad10", "lower", 10, protocol=AD)
    h.set_up("lower.ad10")
    add(h, "mvA", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    out = eng.rx(tagged(BCAST, EXT, ((AD, 10),)))
    assert got(out) == {"lower": 1, "lower.ad10": 1, "lower.ad10:stack": 1}
    out = eng.rx(tagged(BCAST, EXT, ((Q, 10),)))
    assert got(out) == {"lower": 1, "lower:stack": 1, "mvA": 1}


def test_vlan_down_vlan_device_swallows_its_vid():
    h = _subif_host()
    h.set_down("lower.10")
    out = Engine(h).rx(tagged(BCAST, EXT))
    assert got(out) == {"lower": 1}
    out = Engine(h).rx(tagged(mac(1), EXT))
    assert got(out) == {"lower": 1}


def test_vlan_reorder_hdr_off_plain_vlan_device_gets_tag_in_band():
    h = new_host()
    h.add_vlan("lower.10", "lower", 10, reorder_hdr=False)
    h.set_up("lower.10")
    data = tagged(BCAST, EXT)
    out = Engine(h).rx(data)
    (rec,) = incoming_at(out, "lower.10")
    assert rec.vlan is None
    assert rec.data == data


def test_vlan_reorder_hdr_off_macvlan_port_discards_tag():
    h = new_host()
    h.add_vlan("lower.10", "lower", 10, reorder_hdr=False)
    h.set_up("lower.10")
    add(h, "m10a", Mode.BRIDGE, mac(3), link="lower.10")
    data = tagged(mac(3), EXT)
    out = Engine(h).rx(data)
    for point in ("lower.10", "m10a"):
        (rec,) = incoming_at(out, point)
        assert rec.vlan is None
        assert rec.data == frame(mac(3), EXT, size=56)


# --------------------------------------------------------------------------------- (a′)
def _vlan_on_macvlan_host(mode=Mode.BRIDGE):
    h = new_host()
    if mode == Mode.PASSTHRU:
        add(h, "mv0", Mode.PASSTHRU)
    else:
        add(h, "mv0", mode, mac(1))
        add(h, "mv1", Mode.BRIDGE, mac(2))
    h.add_vlan("mv0.20", "mv0", 20)
    h.set_up("mv0.20")
    add(h, "m20", Mode.BRIDGE, mac(5), link="mv0.20")
    return h


def test_vlan_on_macvlan_unicast_to_the_macvlan():
    h = _vlan_on_macvlan_host()
    out = Engine(h).rx(tagged(mac(1), EXT, ((Q, 20),)))
    assert got(out) == {"lower": 1, "mv0": 1, "mv0.20": 1, "mv0.20:stack": 1}
    (rec,) = incoming_at(out, "mv0")
    assert rec.pkttype == PktType.HOST and rec.vlan is not None and rec.vlan.vid == 20
    assert kinds(out, "mv0.20") == [PktType.HOST]
    assert kinds(out, "mv0.20:stack") == [PktType.HOST]


def test_vlan_on_macvlan_broadcast():
    h = _vlan_on_macvlan_host()
    out = Engine(h).rx(tagged(BCAST, EXT, ((Q, 20),)))
    c = got(out)
    for point in ("lower", "mv0", "mv1", "mv0.20", "mv0.20:stack", "m20"):
        assert c[point] == 1, point


def test_vlan_on_macvlan_unicast_to_a_macvlan_on_it_not_delivered():
    h = _vlan_on_macvlan_host()
    out = Engine(h).rx(tagged(mac(5), EXT, ((Q, 20),)))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert _finals(out) == {"lower": PktType.OTHERHOST}


def test_vlan_on_passthru_macvlan_reachable_from_the_wire():
    h = _vlan_on_macvlan_host(Mode.PASSTHRU)
    out = Engine(h).rx(tagged(mac(5), EXT, ((Q, 20),)))
    assert got(out)["m20"] == 1
    assert kinds(out, "m20") == [PktType.HOST]


def test_vlan_vid0_in_front_of_inner_tag_dispatched_twice():
    """§17: the lower's macvlans get the VID-0 frame, and after the strip lower.20 and its
    macvlans get it too; a plain VID-20 broadcast reaches only lower.20's side."""
    h = new_host()
    h.add_vlan("lower.20", "lower", 20)
    h.set_up("lower.20")
    add(h, "mA", Mode.BRIDGE, mac(1))
    add(h, "m20", Mode.BRIDGE, mac(3), link="lower.20")
    eng = Engine(h)
    out = eng.rx(tagged(BCAST, EXT, ((Q, 0), (Q, 20))))
    c = got(out)
    for point in ("mA", "lower.20", "m20"):
        assert c[point] == 1, point
    (rec,) = incoming_at(out, "mA")
    assert rec.vlan is not None and rec.vlan.vid == 0
    out = eng.rx(tagged(BCAST, EXT, ((Q, 20),)))
    assert "mA" not in got(out)
    assert got(out)["m20"] == 1


def test_vlan_vid0_unicast_to_lower_macvlan_not_seen_by_subif():
    h = new_host()
    h.add_vlan("lower.20", "lower", 20)
    h.set_up("lower.20")
    add(h, "mA", Mode.BRIDGE, mac(1))
    out = Engine(h).rx(tagged(mac(1), EXT, ((Q, 0), (Q, 20))))
    assert got(out) == {"lower": 1, "mA": 1}


def test_vlan_vid0_redispatch_on_passthru_macvlan():
    h = _vlan_on_macvlan_host(Mode.PASSTHRU)
    out = Engine(h).rx(tagged(BCAST, EXT, ((Q, 0), (Q, 20))))
    assert got(out)["mv0"] == 1
    assert got(out)["mv0.20"] == 1
    assert got(out)["m20"] == 1


# --------------------------------------------------------------------------------- QinQ subifs
def _qinq_host():
    h = new_host()
    h.add_vlan("lower.100", "lower", 100, protocol=AD)
    h.set_up("lower.100")
    h.add_vlan("lower.100.10", "lower.100", 10)
    h.set_up("lower.100.10")
    add(h, "m100", Mode.BRIDGE, mac(1), link="lower.100")
    add(h, "mq", Mode.BRIDGE, mac(2), link="lower.100.10")
    add(h, "mq2", Mode.BRIDGE, mac(3), link="lower.100.10")
    return h


def test_vlan_qinq_subinterfaces_one_tag_per_round():
    h = _qinq_host()
    out = Engine(h).rx(tagged(mac(2), EXT, ((AD, 100), (Q, 10))))
    assert got(out) == {"lower": 1, "lower.100": 1, "lower.100.10": 1, "mq": 1}
    (rec,) = incoming_at(out, "lower.100")
    assert rec.vlan is not None and (rec.vlan.tpid, rec.vlan.vid) == (Q, 10)
    assert kinds(out, "mq") == [PktType.HOST]


def test_vlan_qinq_inner_vid_without_subif_stays_on_outer_macvlans():
    h = _qinq_host()
    out = Engine(h).rx(tagged(BCAST, EXT, ((AD, 100), (Q, 30))))
    assert got(out)["m100"] == 1
    assert "mq" not in got(out)


def test_vlan_qinq_8021q_outer_does_not_match_8021ad_subif():
    h = _qinq_host()
    add(h, "mL", Mode.BRIDGE, mac(9))
    out = Engine(h).rx(tagged(BCAST, EXT, ((Q, 100),)))
    assert "lower.100" not in got(out)
    assert got(out)["mL"] == 1


def test_vlan_qinq_tx_from_innermost_macvlan_double_tagged():
    h = _qinq_host()
    out = Engine(h).tx("mq", frame(EXT, mac(2)))
    (rec,) = incoming_at(out, "wire")
    assert rec.wire_bytes == tagged(EXT, mac(2), ((AD, 100), (Q, 10)), size=68)


# --------------------------------------------------------------------------------- TX
def test_vlan_tx_from_macvlan_on_subif_leaves_tagged():
    h = _subif_host()
    out = Engine(h).tx("m10a", frame(EXT, mac(3)))
    (rec,) = incoming_at(out, "wire")
    assert rec.vlan is not None and (rec.vlan.tpid, rec.vlan.vid) == (Q, 10)
    assert rec.wire_bytes == tagged(EXT, mac(3), size=64)
    assert [r.pkttype for r in at(out, "lower.10")] == [PktType.OUTGOING]


def test_vlan_tx_from_subif_itself_leaves_tagged():
    h = _subif_host()
    out = Engine(h).tx("lower.10", frame(mac(3), L_MAC))
    (rec,) = incoming_at(out, "wire")
    assert rec.vlan is not None and rec.vlan.vid == 10
    assert not incoming_at(out, "m10a")


def test_vlan_bridge_local_delivery_on_subif():
    """Bridge-local between two macvlans on lower.10 goes through lower.10 (OTHERHOST); the
    real lower and the wire see nothing."""
    h = _subif_host()
    out = Engine(h).tx("m10a", frame(mac(4), mac(3)))
    assert got(out) == {"lower.10": 1, "m10b": 1}
    assert kinds(out, "lower.10") == [PktType.OTHERHOST]
    assert not at(out, "lower") and not at(out, "wire")


def test_vlan_bridge_macvlan_on_subif_to_macvlan_on_lower_goes_out_tagged():
    h = _subif_host()
    out = Engine(h).tx("m10a", frame(mac(1), mac(3)))
    assert set(got(out)) == {"wire"}
    (rec,) = incoming_at(out, "wire")
    assert rec.vlan is not None and rec.vlan.vid == 10


def test_vlan_bridge_broadcast_on_subif():
    h = _subif_host()
    out = Engine(h).tx("m10a", frame(BCAST, mac(3)))
    assert got(out) == {"m10b": 1, "wire": 1}
    assert delta(out, "m10b")["rx_bytes"] == 74


def _subif_host_link_never_up():
    """As _subif_host, but lower.10 is never brought up: it keeps the carrier it copied from
    the lower at registration, so its macvlans can transmit (the §17 "link down" setup)."""
    h = new_host()
    h.add_vlan("lower.10", "lower", 10)
    add(h, "m10a", Mode.BRIDGE, mac(3), link="lower.10")
    add(h, "m10b", Mode.BRIDGE, mac(4), link="lower.10")
    return h


@pytest.mark.parametrize("dst", [EXT, mac(4)], ids=["to-the-wire", "bridge-local"])
def test_vlan_tx_with_vlan_link_down_only_the_senders_copy(dst):
    """§17: send succeeds, only the sender's outgoing copy exists; bridge-local delivery (through
    dev_forward_skb into the down lower.10) is dropped too."""
    h = _subif_host_link_never_up()
    out = Engine(h).tx("m10a", frame(dst, mac(3)))
    assert out.send == "ok"
    assert [(r.point, r.pkttype) for r in out.receptions] == [("m10a", PktType.OUTGOING)]


def test_vlan_tx_broadcast_with_vlan_link_down_reaches_bridge_siblings():
    """A bridge broadcast's local copies go straight into each sibling (__dev_forward_skb on the
    sibling, which only checks that the *sibling* is up), not through lower.10; the original
    dies at the down lower.10. From the kernel source: §17 does not say which frames it sent,
    and this VM has no 8021q to check (docs/kernel-notes.md)."""
    h = _subif_host_link_never_up()
    out = Engine(h).tx("m10a", frame(BCAST, mac(3)))
    assert out.send == "ok"
    assert sorted((r.point, r.pkttype) for r in out.receptions) == [
        ("m10a", PktType.OUTGOING),
        ("m10b", PktType.BROADCAST),
    ]


def test_vlan_tx_after_vlan_link_went_down_is_dropped_by_the_noop_qdisc():
    """Taking lower.10 down turns its carrier off (vlan_dev_stop), and its macvlans lose theirs:
    their frames are dropped by noop_qdisc before any tap (verified on a veth lower, whose
    carrier loss behaves the same: tests/kernel/test_carrier.py)."""
    h = _subif_host()
    h.set_down("lower.10")
    out = Engine(h).tx("m10a", frame(BCAST, mac(3)))
    assert out.send == "ok"
    assert out.receptions == []
    assert delta(out, "m10a") == {"tx_dropped": 1}


# --------------------------------------------------------------------------------- NIC filter
def test_nic_vlan_filter_drops_unregistered_vids():
    h = new_host(filter_slots=64)
    h.add_vlan("lower.10", "lower", 10)
    h.set_up("lower.10")
    add(h, "mA", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    assert got(eng.rx(tagged(BCAST, EXT, ((Q, 20),)))) == {}
    assert got(eng.rx(tagged(BCAST, EXT, ((Q, 10),))))["lower.10"] == 1
    assert got(eng.rx(tagged(BCAST, EXT, ((AD, 20),))))["mA"] == 1  # 802.1ad: not filtered
    assert got(eng.rx(tagged(BCAST, EXT, ((Q, 0),))))["mA"] == 1  # priority tag


def test_nic_vlan_filter_off_while_promiscuous():
    h = new_host(filter_slots=64)
    add(h, "mA", Mode.BRIDGE, mac(1))
    h.set_promisc("mA", True)
    out = Engine(h).rx(tagged(BCAST, EXT, ((Q, 20),)))
    assert got(out)["mA"] == 1


def test_nic_vlan_device_on_macvlan_registers_its_vid():
    h = new_host(filter_slots=64)
    add(h, "mv0", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    assert got(eng.rx(tagged(mac(1), EXT, ((Q, 20),)))) == {}
    h.add_vlan("mv0.20", "mv0", 20)
    h.set_up("mv0.20")
    out = eng.rx(tagged(mac(1), EXT, ((Q, 20),)))
    assert got(out)["mv0.20"] == 1


def test_nic_down_vlan_device_addresses_not_registered():
    h = new_host(filter_slots=64)
    h.add_vlan("lower.10", "lower", 10, mac=mac(7))
    h.set_up("lower.10")
    add(h, "m10", Mode.BRIDGE, mac(3), link="lower.10")
    eng = Engine(h)
    assert got(eng.rx(tagged(mac(7), EXT)))["lower.10"] == 1
    assert got(eng.rx(tagged(mac(3), EXT)))["m10"] == 1
    h.set_down("lower.10")
    assert got(eng.rx(tagged(mac(7), EXT))) == {}
    assert got(eng.rx(tagged(mac(3), EXT))) == {}


def test_first_vlan_device_joins_gvrp_group():
    h = new_host()
    assert GVRP_GROUP not in h.lower.mc
    h.add_vlan("lower.10", "lower", 10)
    assert GVRP_GROUP in h.lower.mc
    h.add_vlan("lower.11", "lower", 11)
    h.delete("lower.10")
    assert GVRP_GROUP in h.lower.mc
    h.delete("lower.11")
    assert GVRP_GROUP not in h.lower.mc


def test_vlan_device_with_its_own_mac_only_upgrades_otherhost():
    """§13 (a) 2: OTHERHOST becomes HOST only for the VLAN device's MAC; HOST from L's
    eth_type_trans (dst = L's MAC) is kept."""
    h = new_host()
    h.add_vlan("lower.10", "lower", 10, mac=mac(7))
    h.set_up("lower.10")
    eng = Engine(h)
    assert kinds(eng.rx(tagged(mac(7), EXT)), "lower.10") == [PktType.HOST]
    assert kinds(eng.rx(tagged(L_MAC, EXT)), "lower.10") == [PktType.HOST]
    assert kinds(eng.rx(tagged(mac(8), EXT)), "lower.10") == [PktType.OTHERHOST]
