"""§11 addresses and lifecycle: busy addresses, down devices, MAC changes, L taking a MAC."""

from __future__ import annotations

import pytest
from rulekit import (
    BCAST,
    EXT,
    L_MAC,
    add,
    frame,
    got,
    incoming_at,
    kinds,
    mac,
    new_host,
    order,
    same_bucket_macs,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import Mode, PktType
from macvlan_sim.model.errors import KernelError
from macvlan_sim.model.mac import eth_hash


def _errno(call, *args, **kw) -> str | None:
    try:
        call(*args, **kw)
    except KernelError as exc:
        return exc.errno_name
    return None


@pytest.mark.parametrize("taken", ["macvlan", "lower"])
def test_eaddrinuse_at_up_not_at_add(taken):
    """§15.13: a MAC conflict is found at ``up``, not at ``add``."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    busy = mac(1) if taken == "macvlan" else L_MAC
    h.add_macvlan("b", "lower", mode=Mode.BRIDGE, mac=busy)  # no error
    assert _errno(h.set_up, "b") == "EADDRINUSE"
    assert not h.devices["b"].up
    out = Engine(h).rx(frame(busy, EXT))
    assert not incoming_at(out, "b")


def test_same_mac_as_a_down_device_is_not_busy():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), up=False)
    add(h, "b", Mode.BRIDGE, mac(1))  # a is down: not in vlan_hash
    assert _errno(h.set_up, "a") == "EADDRINUSE"
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "b": 1}


@pytest.mark.parametrize("up", [True, False], ids=["up", "down"])
@pytest.mark.parametrize("taken", ["macvlan", "lower"])
def test_mac_change_to_busy_address_fails_even_while_down(taken, up):
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2), up=up)
    busy = mac(1) if taken == "macvlan" else L_MAC
    assert _errno(h.set_address, "b", busy) == "EADDRINUSE"
    assert h.devices["b"].mac == mac(2)


def test_mac_change_to_a_down_devices_address_is_allowed():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), up=False)
    add(h, "b", Mode.BRIDGE, mac(2))
    h.set_address("b", mac(1))
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "b": 1}


def test_mac_change_while_up_moves_delivery():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_address("a", mac(9))
    eng = Engine(h)
    assert got(eng.rx(frame(mac(9), EXT))) == {"lower": 1, "a": 1}
    assert got(eng.rx(frame(mac(1), EXT))) == {"lower": 1, "lower:stack": 1}


def test_mac_change_while_down_applies_at_up():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), up=False)
    h.set_address("a", mac(9))
    h.set_up("a")
    eng = Engine(h)
    assert got(eng.rx(frame(mac(9), EXT))) == {"lower": 1, "a": 1}
    assert got(eng.rx(frame(mac(1), EXT))) == {"lower": 1, "lower:stack": 1}


def test_mac_change_rehashes_at_the_head_of_the_new_bucket():
    """§3: MAC-change rehash inserts at the head, like open."""
    a1, b1, a2 = same_bucket_macs(3, start=2000)
    h = new_host()
    add(h, "A", Mode.VEPA, a1)
    add(h, "B", Mode.VEPA, b1)
    eng = Engine(h)
    assert order(eng.rx(frame(BCAST, EXT)), ["A", "B"]) == ["B", "A"]
    h.set_address("A", a2)
    assert eth_hash(a2) == eth_hash(b1)
    assert order(eng.rx(frame(BCAST, EXT)), ["A", "B"]) == ["A", "B"]


def test_down_device_mac_goes_to_lower():
    """§15.2 / §16.9: unicast to a down macvlan goes to L (OTHERHOST); broadcast skips it."""
    h = new_host()
    for mode, n in ((Mode.BRIDGE, 1), (Mode.VEPA, 2), (Mode.PRIVATE, 3), (Mode.SOURCE, 4)):
        add(h, f"d{n}", mode, mac(n), up=False)
    add(h, "up", Mode.BRIDGE, mac(5))
    eng = Engine(h)
    for n in range(1, 5):
        out = eng.rx(frame(mac(n), EXT))
        assert got(out) == {"lower": 1, "lower:stack": 1}
        assert kinds(out, "lower:stack") == [PktType.OTHERHOST]
        assert not out.drops or all(d.rule != "U5" for d in out.drops)
    out = eng.rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "up": 1}


def test_deleted_device_mac_goes_to_lower():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.delete("a")
    assert h.lower.rx_port is None
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}


def test_lower_taking_a_macvlans_mac_macvlan_wins():
    """§11: if L later takes a macvlan's MAC, L's stack never sees frames to that MAC."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_address("lower", mac(1))
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "a": 1}
    assert kinds(out, "lower") == [PktType.HOST]
    assert kinds(out, "a") == [PktType.HOST]


def test_lower_taking_a_macvlans_mac_then_macvlan_down():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_address("lower", mac(1))
    h.set_down("a")
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert kinds(out, "lower:stack") == [PktType.HOST]
    assert _errno(h.set_up, "a") == "EADDRINUSE"


def test_open_adds_mac_to_nic_filter_stop_removes_it():
    """§17: a NIC drops unicast to a down macvlan's MAC before any tap; open adds the MAC."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1), up=False)
    eng = Engine(h)
    assert got(eng.rx(frame(mac(1), EXT))) == {}
    h.set_up("a")
    assert got(eng.rx(frame(mac(1), EXT))) == {"lower": 1, "a": 1}
    h.set_down("a")
    assert got(eng.rx(frame(mac(1), EXT))) == {}


def test_nic_accepts_source_device_mac_and_passes_it_to_lower():
    """§17: open adds a source-mode device's MAC to the unicast list; the frame then goes to
    L's stack as OTHERHOST."""
    h = new_host(filter_slots=64)
    add(h, "s", Mode.SOURCE, mac(1))
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert kinds(out, "lower:stack") == [PktType.OTHERHOST]


def test_nic_drops_unknown_unicast_before_any_tap():
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    out = Engine(h).rx(frame(mac(77), EXT))
    assert got(out) == {}
    assert not h.lower.promisc


def test_mac_change_while_up_moves_the_nic_unicast_entry():
    """§11: an UP device's MAC change adds the new address to L's unicast list and removes
    the old one: a NIC then accepts the new MAC and drops the old one."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_address("a", mac(9))
    eng = Engine(h)
    assert got(eng.rx(frame(mac(9), EXT))) == {"lower": 1, "a": 1}
    assert got(eng.rx(frame(mac(1), EXT))) == {}


def test_veth_lower_promiscuity_is_one_whatever_the_number_of_macvlans():
    """§17: the lower's promiscuity is 1 on a veth with macvlans up (0 on a NIC)."""
    h = new_host()
    for i in range(4):
        add(h, f"m{i}", Mode.BRIDGE, mac(i))
    assert h.lower.promiscuity == 1
    h2 = new_host(filter_slots=64)
    for i in range(4):
        add(h2, f"m{i}", Mode.BRIDGE, mac(i))
    assert h2.lower.promiscuity == 0


def test_implicit_promiscuity_also_from_a_source_device():
    """§7: any non-passthru macvlan that is up puts its MAC in L's unicast list."""
    h = new_host()
    add(h, "s", Mode.SOURCE, mac(1))
    assert h.lower.promisc


def test_nic_source_device_only_sees_what_the_nic_accepts():
    """§17: a source-mode device on a NIC only gets frames the NIC accepted."""
    from macvlan_sim.model.constants import MacaddrOp
    from macvlan_sim.model.host import MacaddrChange

    h = new_host(filter_slots=64)
    add(h, "s", Mode.SOURCE, mac(1), macaddr=MacaddrChange(MacaddrOp.ADD, (EXT,)))
    add(h, "b", Mode.BRIDGE, mac(2))
    eng = Engine(h)
    assert got(eng.rx(frame(mac(77), EXT))) == {}
    assert got(eng.rx(frame(mac(2), EXT))) == {"lower": 1, "s": 1, "b": 1}
