"""§5 unicast branch of ``macvlan_handle_frame``: rules U1–U7."""

from __future__ import annotations

import pytest
from rulekit import (
    EXT,
    EXT2,
    L_MAC,
    UNKNOWN,
    add,
    at,
    delta,
    frame,
    got,
    has_rule,
    incoming_at,
    kinds,
    mac,
    new_host,
    tagged,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import MacaddrOp, MacvlanFlag, Mode, PktType
from macvlan_sim.model.host import MacaddrChange

NODST = MacvlanFlag.NODST


def _listing(*macs: bytes) -> MacaddrChange:
    return MacaddrChange(MacaddrOp.SET, tuple(macs))


def _link_only(out) -> bool:
    """Only the veth hop was counted (wire tx, lower rx): nothing counted the frame's fate."""
    return set(out.counters) <= {"wire", "lower"} and "rx_dropped" not in delta(out, "lower")


# --------------------------------------------------------------------------------- U1
def test_U1_source_match_copies_and_dispatch_continues():
    """Source entry without NODST: a copy for the source device (OTHERHOST: dst is not its
    MAC), and the destination macvlan still gets the frame (source-mode example, frame 1)."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=_listing(EXT))
    add(h, "b2", Mode.BRIDGE, mac(2))
    out = Engine(h).rx(frame(mac(2), EXT))
    assert got(out) == {"lower": 1, "s0": 1, "b2": 1}
    assert kinds(out, "s0") == [PktType.OTHERHOST]
    assert kinds(out, "b2") == [PktType.HOST]


def test_U1_source_match_nodst_steals_from_destination():
    h = new_host()
    add(h, "s1", Mode.SOURCE, mac(1), flags=NODST, macaddr=_listing(EXT))
    add(h, "b2", Mode.BRIDGE, mac(2))
    out = Engine(h).rx(frame(mac(2), EXT))
    assert got(out) == {"lower": 1, "s1": 1}
    assert "b2" not in out.counters
    assert any(d.rule == "U1" for d in out.drops)


@pytest.mark.parametrize("dst", [L_MAC, UNKNOWN], ids=["lower-mac", "unknown"])
def test_U1_source_match_nodst_steals_from_lower(dst):
    h = new_host()
    add(h, "s1", Mode.SOURCE, mac(1), flags=NODST, macaddr=_listing(EXT))
    out = Engine(h).rx(frame(dst, EXT))
    assert got(out) == {"lower": 1, "s1": 1}


def test_U1_nodst_on_down_device_black_holes():
    """§15.4: NODST on a *down* source device still black-holes the frame."""
    h = new_host()
    add(h, "s1", Mode.SOURCE, mac(1), flags=NODST, macaddr=_listing(EXT), up=False)
    add(h, "b2", Mode.BRIDGE, mac(2))
    out = Engine(h).rx(frame(mac(2), EXT))
    assert got(out) == {"lower": 1}
    assert _link_only(out)


# --------------------------------------------------------------------------------- U2
@pytest.mark.parametrize("dst", [L_MAC, UNKNOWN, mac(5)], ids=["own", "unknown", "other"])
def test_U2_passthru_target_whatever_the_destination(dst):
    """§15.3: a passthru device receives unicast for any destination MAC, as HOST."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    out = Engine(h).rx(frame(dst, EXT))
    assert got(out) == {"lower": 1, "pt": 1}
    (rec,) = incoming_at(out, "pt")
    assert rec.pkttype == PktType.HOST
    assert has_rule(rec, "U2")


# --------------------------------------------------------------------------------- U3
def test_U3_hash_lookup_picks_the_destination_device():
    h = new_host()
    names = {"p0": Mode.PRIVATE, "v0": Mode.VEPA, "b0": Mode.BRIDGE}
    for i, (name, mode) in enumerate(names.items(), start=1):
        add(h, name, mode, mac(i))
    eng = Engine(h)
    for i, name in enumerate(names, start=1):
        out = eng.rx(frame(mac(i), EXT))
        assert got(out) == {"lower": 1, name: 1}
        assert has_rule(incoming_at(out, name)[0], "U3")


# --------------------------------------------------------------------------------- U4
@pytest.mark.parametrize(
    "dst,kind", [(UNKNOWN, PktType.OTHERHOST), (L_MAC, PktType.HOST)], ids=["unknown", "lower"]
)
def test_U4_no_target_passes_to_lower(dst, kind):
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1))
    out = Engine(h).rx(frame(dst, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    (rec,) = incoming_at(out, "lower:stack")
    assert rec.pkttype == kind
    assert has_rule(rec, "U4")
    assert out.finals == [("lower", kind)]


def test_U4_source_mode_target_passes_to_lower():
    """§15.4: unicast to a source-mode device's own MAC (unlisted source) goes to L."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=_listing(EXT2))
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert kinds(out, "lower:stack") == [PktType.OTHERHOST]
    assert "s0" not in out.counters


# --------------------------------------------------------------------------------- U5
@pytest.mark.parametrize("dst", [L_MAC, UNKNOWN], ids=["own", "unknown"])
def test_U5_down_passthru_black_holes_unicast(dst):
    """A down passthru device: unicast is freed; L's stack never sees it; counted nowhere."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, up=False)
    out = Engine(h).rx(frame(dst, EXT))
    assert got(out) == {"lower": 1}
    assert any(d.rule == "U5" for d in out.drops)
    assert _link_only(out)


# --------------------------------------------------------------------------------- U7
@pytest.mark.parametrize("mode", [Mode.PRIVATE, Mode.VEPA, Mode.BRIDGE])
def test_U7_deliver_to_target_as_host(mode):
    h = new_host()
    add(h, "mv0", mode, mac(1))
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "mv0": 1}
    assert kinds(out, "lower") == [PktType.OTHERHOST]
    (rec,) = incoming_at(out, "mv0")
    assert rec.pkttype == PktType.HOST
    assert "U7 deliver to mv0 as host" in rec.path
    assert out.finals == [("mv0", PktType.HOST)]
    assert delta(out, "mv0") == {"rx_packets": 1, "rx_bytes": 60}
    assert not at(out, "lower:stack")


def test_U7_counts_frame_minus_4_per_stripped_tag():
    """§12: tagged 60 → 56 (verified); a 20-byte tagged frame → 16 (tags-pause-runts 12)."""
    h = new_host()
    add(h, "mv0", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    out = eng.rx(tagged(mac(1), EXT))
    assert delta(out, "mv0") == {"rx_packets": 1, "rx_bytes": 56}
    out = eng.rx(tagged(mac(1), EXT, size=20, payload=b""))
    assert delta(out, "mv0") == {"rx_packets": 1, "rx_bytes": 16}
    out = eng.rx(frame(mac(1), EXT, size=15, payload=b"\x01"))
    assert delta(out, "mv0") == {"rx_packets": 1, "rx_bytes": 15}


def test_U7_forced_host_even_when_promisc_flags_around():
    """PROMISC on a macvlan does not change U3/U7: foreign unicast still goes to L (§8)."""
    h = new_host()
    add(h, "mv0", Mode.BRIDGE, mac(1))
    h.set_promisc("mv0", True)
    out = Engine(h).rx(frame(UNKNOWN, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}


def test_U6_share_check_failure_counts_rx_errors():
    """U6: when skb_share_check cannot clone (an allocation failure, injected through the
    engine's fault hook) the frame is consumed: rx_errors +1 on the target (rx_dropped is
    reported equal to rx_errors, §12), no delivery, no rx_packets; the next frame is fine."""
    h = new_host()
    add(h, "mv0", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    asked = []

    def fail_once(point, dev):
        asked.append((point, dev.name))
        return len(asked) == 1

    eng.fault_hook = fail_once
    out = eng.rx(frame(mac(1), EXT))
    assert asked == [("skb_share_check", "mv0")]
    assert got(out) == {"lower": 1}
    assert delta(out, "mv0") == {"rx_errors": 1, "rx_dropped": 1}
    assert [d.rule for d in out.drops] == ["U6"]
    out = eng.rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "mv0": 1}
    assert delta(out, "mv0") == {"rx_packets": 1, "rx_bytes": 60}
