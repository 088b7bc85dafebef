"""§10 modes (PRIVATE, VEPA, BRIDGE, PASSTHRU), §2 validation, §1 port attachment."""

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
    incoming_at,
    kinds,
    mac,
    new_host,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import MacvlanFlag, Mode, PktType
from macvlan_sim.model.errors import KernelError

NOPROMISC = MacvlanFlag.NOPROMISC


def _errno(call, *args, **kw) -> str | None:
    try:
        call(*args, **kw)
    except KernelError as exc:
        return exc.errno_name
    return None


# --------------------------------------------------------------------------------- §2
def test_mode_and_flag_values():
    assert [int(m) for m in (Mode.PRIVATE, Mode.VEPA, Mode.BRIDGE, Mode.PASSTHRU)] == [1, 2, 4, 8]
    assert int(Mode.SOURCE) == 16
    assert (int(MacvlanFlag.NOPROMISC), int(MacvlanFlag.NODST)) == (1, 2)


def test_default_mode_is_vepa():
    h = new_host()
    dev = h.add_macvlan("m", "lower", mac=mac(1))
    assert dev.mode == Mode.VEPA


def test_unknown_flag_bit_and_mode_are_einval():
    h = new_host()
    assert _errno(h.add_macvlan, "a", "lower", mac=mac(1), flags=MacvlanFlag(4)) == "EINVAL"
    assert _errno(h.add_macvlan, "b", "lower", mac=mac(2), mode=Mode(3)) == "EINVAL"
    assert "a" not in h.devices and "b" not in h.devices
    h.add_macvlan("c", "lower", mac=mac(3), mode=Mode.BRIDGE)
    assert _errno(h.change_macvlan, "c", flags=MacvlanFlag(4)) == "EINVAL"
    assert _errno(h.change_macvlan, "c", mode=Mode(3)) == "EINVAL"


# --------------------------------------------------------------------------------- §1
def test_macvlan_on_macvlan_attaches_to_the_real_lower():
    h = new_host()
    add(h, "m0", Mode.BRIDGE, mac(1))
    add(h, "m1", Mode.BRIDGE, mac(2), link="m0")
    assert h.devices["m1"].port is h.lower.rx_port
    out = Engine(h).rx(frame(mac(2), EXT))
    assert got(out) == {"lower": 1, "m1": 1}


# --------------------------------------------------------------------------------- PRIVATE
def test_private_unicast_is_never_blocked():
    """§15.1: PRIVATE does not isolate unicast."""
    h = new_host()
    add(h, "p0", Mode.PRIVATE, mac(1))
    add(h, "p1", Mode.PRIVATE, mac(2))
    eng = Engine(h)
    out = eng.rx(frame(mac(2), mac(1)))  # a frame from p0's MAC, as a hairpin returns it
    assert got(out) == {"lower": 1, "p1": 1}
    assert kinds(out, "p1") == [PktType.HOST]


def test_private_tx_identical_to_vepa():
    h = new_host()
    add(h, "p0", Mode.PRIVATE, mac(1))
    add(h, "b0", Mode.BRIDGE, mac(2))
    out = Engine(h).tx("p0", frame(BCAST, mac(1)))
    assert set(got(out)) == {"wire"}


# --------------------------------------------------------------------------------- mode change
def test_mode_change_takes_effect_immediately():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2))
    eng = Engine(h)
    assert got(eng.tx("a", frame(mac(2), mac(1)))) == {"lower": 1, "b": 1}
    h.change_macvlan("b", mode=Mode.VEPA)  # the target is no longer a BRIDGE: out the lower
    assert set(got(eng.tx("a", frame(mac(2), mac(1))))) == {"wire"}
    h.change_macvlan("b", mode=Mode.BRIDGE)
    h.change_macvlan("a", mode=Mode.PRIVATE)  # the sender is no longer a BRIDGE
    assert set(got(eng.tx("a", frame(mac(2), mac(1))))) == {"wire"}
    h.change_macvlan("a", mode=Mode.SOURCE)  # a source device is not flooded
    out = eng.rx(frame(BCAST, EXT))
    assert not incoming_at(out, "a") and incoming_at(out, "b")


# --------------------------------------------------------------------------------- PASSTHRU
@pytest.mark.parametrize("first_up", [True, False])
def test_passthru_einval_beside_others(first_up):
    """A passthru device must be the port's only device, in both directions."""
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1), up=first_up)
    assert _errno(h.add_macvlan, "pt", "lower", mode=Mode.PASSTHRU) == "EINVAL"
    assert "pt" not in h.devices
    h2 = new_host()
    add(h2, "pt", Mode.PASSTHRU, up=first_up)
    for mode in (Mode.BRIDGE, Mode.VEPA, Mode.PRIVATE, Mode.SOURCE, Mode.PASSTHRU):
        assert _errno(h2.add_macvlan, "x", "lower", mode=mode, mac=mac(2)) == "EINVAL"
    assert "x" not in h2.devices


def test_passthru_takes_the_lowers_mac():
    h = new_host()
    dev = add(h, "pt", Mode.PASSTHRU, mac(7))
    assert dev.mac == L_MAC


def test_passthru_open_makes_lower_promiscuous_unless_nopromisc():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, up=False)
    assert not h.lower.promisc
    h.set_up("pt")
    assert h.lower.promisc
    h.set_down("pt")
    assert not h.lower.promisc
    h2 = new_host()
    add(h2, "pt", Mode.PASSTHRU, flags=NOPROMISC)
    assert not h2.lower.promisc


def test_passthru_all_unicast_as_host():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    eng = Engine(h)
    for dst in (L_MAC, UNKNOWN, mac(3)):
        out = eng.rx(frame(dst, EXT))
        assert got(out) == {"lower": 1, "pt": 1}
        assert kinds(out, "pt") == [PktType.HOST]
        assert delta(out, "pt") == {"rx_packets": 1, "rx_bytes": 60}


def test_passthru_down_black_holes_unicast_but_not_broadcast():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, up=False)
    eng = Engine(h)
    assert got(eng.rx(frame(L_MAC, EXT))) == {"lower": 1}
    assert got(eng.rx(frame(BCAST, EXT))) == {"lower": 1, "lower:stack": 1}


def test_passthru_mac_change_moves_the_lowers_mac():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    new = mac(42)
    h.set_address("pt", new)
    assert h.lower.mac == new
    assert h.devices["pt"].mac == new
    eng = Engine(h)
    out = eng.rx(frame(BCAST, new))  # the new MAC is hashed: return to sender
    assert got(out) == {"lower": 1, "pt": 1}
    out = eng.rx(frame(BCAST, L_MAC))  # the old one is not
    assert got(out) == {"lower": 1, "lower:stack": 1, "pt": 1}


def test_passthru_follows_lower_mac_changes():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    h.set_address("lower", mac(43))
    assert h.devices["pt"].mac == mac(43)


@pytest.mark.parametrize("how", ["via-passthru", "via-lower"])
def test_passthru_deletion_restores_the_lowers_mac(how):
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    h.set_address("pt" if how == "via-passthru" else "lower", mac(44))
    assert h.lower.mac == mac(44)
    h.delete("pt")
    assert h.lower.mac == L_MAC
    assert h.lower.rx_port is None


def test_passthru_lower_promiscuity_restored_on_delete():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    h.delete("pt")
    assert h.lower.promiscuity == 0


def test_passthru_nopromisc_toggle_while_down_wraps_lower_promiscuity():
    """§10/§16.12: toggling nopromisc on a down passthru device moves L's promiscuity
    counter anyway: 0 − 1 wraps to 4294967295."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, up=False)
    assert h.lower.promiscuity == 0
    h.change_macvlan("pt", flags=NOPROMISC)
    assert h.lower.promiscuity == 4294967295


def test_passthru_cannot_be_set_or_cleared_by_changelink():
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1))
    assert _errno(h.change_macvlan, "b0", mode=Mode.PASSTHRU) == "EINVAL"
    assert h.devices["b0"].mode == Mode.BRIDGE
    h2 = new_host()
    add(h2, "pt", Mode.PASSTHRU)
    for mode in (Mode.BRIDGE, Mode.VEPA, Mode.PRIVATE, Mode.SOURCE):
        assert _errno(h2.change_macvlan, "pt", mode=mode) == "EINVAL"
    assert h2.devices["pt"].mode == Mode.PASSTHRU


def test_passthru_open_does_not_conflict_with_lower_mac():
    """macvlan_addr_busy ignores L's MAC on a passthru port: opening works."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, up=False)
    h.set_up("pt")
    assert h.devices["pt"].up


def test_passthru_broadcast_l_and_device():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "pt": 1}
    assert not at(out, "pt")[0].pass_


def test_passthru_nopromisc_toggle_while_up_is_balanced():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    assert h.lower.promiscuity == 1
    h.change_macvlan("pt", flags=NOPROMISC)
    assert h.lower.promiscuity == 0
    h.change_macvlan("pt", flags=MacvlanFlag.NONE)
    assert h.lower.promiscuity == 1
    h.set_down("pt")
    assert h.lower.promiscuity == 0
