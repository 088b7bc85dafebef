"""§9 TX (``macvlan_queue_xmit``) row by row, TX counters and send errors."""

from __future__ import annotations

import pytest
from rulekit import (
    BCAST,
    EXT,
    L_MAC,
    UNKNOWN,
    add,
    at,
    delta,
    frame,
    got,
    group,
    incoming_at,
    kinds,
    mac,
    new_host,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import MacaddrOp, MacvlanFlag, Mode, PktType
from macvlan_sim.model.host import DEFAULT_WIRE_MAC, MacaddrChange

WIRE_MAC = DEFAULT_WIRE_MAC


def _tx_host():
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1))
    add(h, "b1", Mode.BRIDGE, mac(2))
    add(h, "v0", Mode.VEPA, mac(3))
    add(h, "p0", Mode.PRIVATE, mac(4))
    add(h, "s0", Mode.SOURCE, mac(5), macaddr=MacaddrChange(MacaddrOp.ADD, (mac(99),)))
    add(h, "bdown", Mode.BRIDGE, mac(6), up=False)
    return h


def _wire_only(out, sender: str | None = None) -> None:
    """The frame went out L to the wire, and nowhere else."""
    assert set(got(out)) == {"wire"}
    assert got(out)["wire"] == 1
    assert [r.pkttype for r in at(out, "lower")] == [PktType.OUTGOING]
    if sender is not None:
        assert [r.pkttype for r in at(out, sender)] == [PktType.OUTGOING]


# --------------------------------------------------------------------------------- row 1
@pytest.mark.parametrize("dst,kind", [(BCAST, PktType.BROADCAST), (group(0xFB), PktType.MULTICAST)])
def test_tx_bridge_group_local_copies_then_wire(dst, kind):
    h = _tx_host()
    for name in ("b0", "b1", "v0", "p0"):
        h.maddr_add(name, group(0xFB))
    out = Engine(h).tx("b0", frame(dst, mac(1)))
    assert out.send == "ok"
    assert got(out) == {"b1": 1, "wire": 1}
    assert kinds(out, "b1") == [kind]
    assert kinds(out, "wire") == [kind]
    assert [r.pkttype for r in at(out, "lower")] == [PktType.OUTGOING]
    assert not at(out, "lower:stack")


def test_tx_bridge_group_sibling_filter_applies():
    h = _tx_host()
    add(h, "b2", Mode.BRIDGE, mac(7))
    g = group(0x42)
    h.maddr_add("b2", g)
    out = Engine(h).tx("b0", frame(g, mac(1)))
    assert got(out) == {"b2": 1, "wire": 1}


def test_tx_bridge_group_counters():
    """Bridge-local copy: rx_bytes frame + 14 (verified 60 → 74), multicast +1; sender tx."""
    h = _tx_host()
    out = Engine(h).tx("b0", frame(BCAST, mac(1)))
    assert delta(out, "b1") == {"rx_packets": 1, "rx_bytes": 74, "multicast": 1}
    assert delta(out, "b0") == {"tx_packets": 1, "tx_bytes": 60}


# --------------------------------------------------------------------------------- row 2
def test_tx_bridge_to_bridge_sibling_goes_through_lower_not_wire():
    h = _tx_host()
    out = Engine(h).tx("b0", frame(mac(2), mac(1)))
    assert out.send == "ok"
    assert got(out) == {"lower": 1, "b1": 1}
    assert kinds(out, "lower") == [PktType.OTHERHOST]
    assert kinds(out, "b1") == [PktType.HOST]
    assert not at(out, "wire")
    assert delta(out, "b1") == {"rx_packets": 1, "rx_bytes": 60}
    assert delta(out, "b0") == {"tx_packets": 1, "tx_bytes": 60}
    assert "lower" not in out.counters


def test_tx_bridge_to_itself_is_delivered_back():
    """§15.11: a bridge-mode macvlan sending to its own MAC receives the frame back."""
    h = _tx_host()
    out = Engine(h).tx("b0", frame(mac(1), mac(1)))
    assert got(out) == {"lower": 1, "b0": 1}
    assert kinds(out, "b0") == [PktType.HOST]
    assert not at(out, "wire")


def test_tx_bridge_to_sibling_source_entries_apply():
    h = _tx_host()
    add(h, "s1", Mode.SOURCE, mac(8), macaddr=MacaddrChange(MacaddrOp.ADD, (mac(1),)))
    out = Engine(h).tx("b0", frame(mac(2), mac(1)))
    assert got(out) == {"lower": 1, "s1": 1, "b1": 1}
    assert kinds(out, "s1") == [PktType.OTHERHOST]


def test_tx_bridge_to_sibling_source_nodst_steals():
    h = _tx_host()
    add(
        h,
        "s1",
        Mode.SOURCE,
        mac(8),
        flags=MacvlanFlag.NODST,
        macaddr=MacaddrChange(MacaddrOp.ADD, (mac(1),)),
    )
    out = Engine(h).tx("b0", frame(mac(2), mac(1)))
    assert got(out) == {"lower": 1, "s1": 1}


def test_tx_bridge_to_sibling_with_lower_down_dropped_silently():
    """§9 says dev_forward_skb into a down L drops the frame while the send counts as sent. On
    the live kernel the frame never gets that far: with L down the macvlans have no carrier,
    noop_qdisc drops the frame before any tap and the sender counts tx_dropped (checked live
    in tests/kernel/test_carrier.py; the kernel wins, docs/kernel-notes.md)."""
    h = _tx_host()
    h.set_down("lower")
    out = Engine(h).tx("b0", frame(mac(2), mac(1)))
    assert out.send == "ok"
    assert out.receptions == []
    assert delta(out, "b0") == {"tx_dropped": 1}


# --------------------------------------------------------------------------------- row 3
@pytest.mark.parametrize(
    "dst",
    [L_MAC, mac(3), mac(4), mac(5), mac(6), UNKNOWN, WIRE_MAC],
    ids=["lower", "vepa", "private", "source", "down-bridge", "unknown", "wire"],
)
def test_tx_bridge_other_unicast_goes_to_wire_only(dst):
    h = _tx_host()
    out = Engine(h).tx("b0", frame(dst, mac(1)))
    _wire_only(out, "b0")
    want = PktType.HOST if dst == WIRE_MAC else PktType.OTHERHOST
    assert kinds(out, "wire") == [want]
    assert delta(out, "b0") == {"tx_packets": 1, "tx_bytes": 60}


# --------------------------------------------------------------------------------- row 4
@pytest.mark.parametrize("sender", ["v0", "p0", "s0"])
@pytest.mark.parametrize(
    "dst",
    [BCAST, group(0xFB), mac(1), mac(3), mac(4), L_MAC, UNKNOWN],
    ids=["bcast", "mcast", "bridge", "vepa", "private", "lower", "unknown"],
)
def test_tx_vepa_private_source_everything_out_lower(sender, dst):
    h = _tx_host()
    for name in ("b0", "b1", "v0", "p0", "s0"):
        h.maddr_add(name, group(0xFB))
        h.set_allmulti(name, True)
    src = h.devices[sender].mac
    out = Engine(h).tx(sender, frame(dst, src))
    _wire_only(out, sender)
    assert delta(out, sender) == {"tx_packets": 1, "tx_bytes": 60}


@pytest.mark.parametrize("dst", [BCAST, UNKNOWN, L_MAC], ids=["bcast", "unknown", "lower"])
def test_tx_passthru_everything_out_lower(dst):
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    out = Engine(h).tx("pt", frame(dst, L_MAC))
    _wire_only(out, "pt")


# --------------------------------------------------------------------------------- row 5
@pytest.mark.parametrize("target", [1, 2, 3, 4])
def test_tx_lower_to_a_macvlan_goes_to_wire_only(target):
    """The classic limitation: L cannot reach its macvlans without an external hairpin."""
    h = _tx_host()
    out = Engine(h).tx("lower", frame(mac(target), L_MAC))
    assert set(got(out)) == {"wire"}
    assert [r.pkttype for r in at(out, "lower")] == [PktType.OUTGOING]


# --------------------------------------------------------------------------------- hairpin
@pytest.mark.parametrize(
    "sender,target",
    [("p0", "p1"), ("v0", "v1"), ("p0", "b0")],
    ids=["private-private", "vepa-vepa", "private-bridge"],
)
def test_tx_hairpinned_unicast_is_delivered(sender, target):
    """§16.7: hairpinned unicast private→private, vepa→vepa, private→bridge is delivered."""
    h = new_host()
    add(h, "p0", Mode.PRIVATE, mac(1))
    add(h, "p1", Mode.PRIVATE, mac(2))
    add(h, "v0", Mode.VEPA, mac(3))
    add(h, "v1", Mode.VEPA, mac(4))
    add(h, "b0", Mode.BRIDGE, mac(5))
    src, dst = h.devices[sender].mac, h.devices[target].mac
    out = Engine(h, hairpin=True).tx(sender, frame(dst, src))
    recs = incoming_at(out, target)
    assert [(r.pkttype, r.pass_) for r in recs] == [(PktType.HOST, 1)]


# --------------------------------------------------------------------------------- errors
def test_tx_on_down_device_is_enetdown():
    h = _tx_host()
    out = Engine(h).tx("bdown", frame(mac(1), mac(6)))
    assert out.send == "ENETDOWN"
    assert out.receptions == []
    assert not out.counters


def test_tx_send_errors():
    h = _tx_host()
    eng = Engine(h)
    assert eng.tx("nosuch", frame(mac(1), mac(2))).send == "ENODEV"
    assert eng.tx("b0", frame(mac(2), mac(1))[:13]).send == "EINVAL"
    assert eng.tx("b0", frame(mac(2), mac(1), size=1515)).send == "EMSGSIZE"
    assert eng.tx("b0", frame(mac(2), mac(1), size=1514)).send == "ok"


def test_tx_counters_whole_frame():
    h = _tx_host()
    eng = Engine(h)
    out = eng.tx("v0", frame(UNKNOWN, mac(3), size=123))
    assert delta(out, "v0") == {"tx_packets": 1, "tx_bytes": 123}
    out = eng.tx("b0", frame(mac(2), mac(1), size=99))
    assert delta(out, "b0") == {"tx_packets": 1, "tx_bytes": 99}
    assert eng.counters.totals["b0"]["tx_bytes"] == 99


def test_tx_bridge_broadcast_not_seen_by_lower_stack_or_sender():
    h = _tx_host()
    h.set_allmulti("b0", True)
    out = Engine(h).tx("b0", frame(BCAST, mac(1)))
    assert not incoming_at(out, "b0")
    assert not at(out, "lower:stack")
    assert got(out)["wire"] == 1


def test_tx_wire_sees_frame_from_external_point_of_view():
    h = _tx_host()
    out = Engine(h).tx("v0", frame(EXT, mac(3)))
    (rec,) = at(out, "wire")
    assert rec.data == frame(EXT, mac(3))


def test_tx_bridge_local_copy_forward_failure_counts_rx_errors():
    """§6 step 4: if the TX-local forward fails (over the sibling's MTU) the sibling counts
    rx_errors (reported as rx_dropped too, §12) and gets nothing."""
    h = _tx_host()
    h.devices["b1"].mtu = 100
    out = Engine(h).tx("b0", frame(BCAST, mac(1), size=300))
    assert not incoming_at(out, "b1")
    counted = delta(out, "b1")
    assert counted.get("rx_errors") == 1
    # macvlan reports rx_dropped = rx_errors; the core drop in __dev_forward_skb may add one
    assert counted.get("rx_dropped", 0) >= 1
    assert set(counted) == {"rx_errors", "rx_dropped"}
    assert got(out)["wire"] == 1


def test_tx_failure_counts_tx_dropped():
    """§9: a send that does not succeed (L down) counts tx_dropped, not tx_packets."""
    h = _tx_host()
    h.set_down("lower")
    out = Engine(h).tx("v0", frame(UNKNOWN, mac(3)))
    assert delta(out, "v0") == {"tx_dropped": 1}
    assert not at(out, "wire")
