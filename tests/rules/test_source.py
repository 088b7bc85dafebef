"""§5.1 source-mode forwarding and the SOURCE mode list operations of §10."""

from __future__ import annotations

import pytest
from rulekit import (
    BCAST,
    EXT,
    EXT2,
    L_MAC,
    UNKNOWN,
    add,
    delta,
    frame,
    got,
    group,
    has_rule,
    incoming_at,
    kinds,
    mac,
    new_host,
    order,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import MacaddrOp, MacvlanFlag, Mode, PktType
from macvlan_sim.model.errors import KernelError
from macvlan_sim.model.host import MacaddrChange

NODST = MacvlanFlag.NODST
EXT3 = bytes.fromhex("0a0000000003")


def op(kind: MacaddrOp, *macs: bytes) -> MacaddrChange:
    return MacaddrChange(kind, tuple(macs))


def sees(h, name: str, src: bytes) -> bool:
    """Does source device ``name`` get a copy of a frame from ``src``?"""
    out = Engine(h).rx(frame(UNKNOWN, src))
    return bool(incoming_at(out, name))


# --------------------------------------------------------------------------------- §5.1
def test_S_source_copies_newest_entry_first():
    """Two lists with the same MAC deliver newest first (§16.8)."""
    h = new_host()
    add(h, "sa", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    add(h, "sb", Mode.SOURCE, mac(2), macaddr=op(MacaddrOp.ADD, EXT))
    eng = Engine(h)
    assert order(eng.rx(frame(UNKNOWN, EXT)), ["sa", "sb"]) == ["sb", "sa"]
    assert order(eng.rx(frame(BCAST, EXT)), ["sa", "sb"]) == ["sb", "sa"]
    # Re-adding an existing entry is a no-op (ADD is idempotent): the order does not change.
    h.change_macvlan("sa", macaddr=op(MacaddrOp.ADD, EXT))
    assert order(eng.rx(frame(UNKNOWN, EXT)), ["sa", "sb"]) == ["sb", "sa"]
    # SET flushes and re-adds: sa's entry is now the newest.
    h.change_macvlan("sa", macaddr=op(MacaddrOp.SET, EXT))
    assert order(eng.rx(frame(UNKNOWN, EXT)), ["sa", "sb"]) == ["sa", "sb"]


def test_S_source_several_devices_each_get_a_copy():
    h = new_host()
    for i in range(3):
        add(h, f"s{i}", Mode.SOURCE, mac(i + 1), macaddr=op(MacaddrOp.SET, EXT, EXT2))
    out = Engine(h).rx(frame(UNKNOWN, EXT2))
    assert got(out) == {"lower": 1, "lower:stack": 1, "s0": 1, "s1": 1, "s2": 1}


def test_S_source_nodst_even_when_down():
    """Step 1 sets *consume* for a NODST device even if it is down; step 2 (the copy) needs
    the device UP, so the up listing device still gets its copy."""
    h = new_host()
    add(h, "sdown", Mode.SOURCE, mac(1), flags=NODST, macaddr=op(MacaddrOp.ADD, EXT), up=False)
    add(h, "sup", Mode.SOURCE, mac(2), macaddr=op(MacaddrOp.ADD, EXT))
    add(h, "b0", Mode.BRIDGE, mac(3))
    eng = Engine(h)
    out = eng.rx(frame(mac(3), EXT))
    assert got(out) == {"lower": 1, "sup": 1}
    out = eng.rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "sup": 1}


def test_S_source_down_device_without_nodst_gets_nothing():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT), up=False)
    add(h, "b0", Mode.BRIDGE, mac(3))
    out = Engine(h).rx(frame(mac(3), EXT))
    assert got(out) == {"lower": 1, "b0": 1}


@pytest.mark.parametrize(
    "dst,kind",
    [
        (mac(1), PktType.HOST),
        (UNKNOWN, PktType.OTHERHOST),
        (L_MAC, PktType.HOST),
        (BCAST, PktType.BROADCAST),
        (group(0x42), PktType.MULTICAST),
    ],
    ids=["own-mac", "unknown", "lower-mac", "broadcast", "multicast"],
)
def test_S_source_pkttype_host_only_for_own_mac(dst, kind):
    """pkt_type is HOST only when dst equals the source device's MAC; otherwise L's value is
    kept (L's MAC gives HOST on L, so the copy keeps HOST)."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    out = Engine(h).rx(frame(dst, EXT))
    assert kinds(out, "s0") == [kind]
    assert has_rule(incoming_at(out, "s0")[0], "S source entry")


def test_S_source_own_mac_copy_and_lower_gets_it():
    """Source-mode example frame 2: the copy (HOST) plus U4 to L's stack (OTHERHOST)."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    out = Engine(h).rx(frame(mac(1), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "s0": 1}
    assert kinds(out, "lower:stack") == [PktType.OTHERHOST]


@pytest.mark.parametrize("dst", [UNKNOWN, BCAST, group(0x42)], ids=["uc", "bc", "mc"])
def test_S_source_counts_rx_bytes_not_multicast(dst):
    """rx_packets +1, rx_bytes += frame, multicast not counted even for group frames."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    out = Engine(h).rx(frame(dst, EXT, size=77))
    assert delta(out, "s0") == {"rx_packets": 1, "rx_bytes": 77}


def test_S_source_tagged_copy_counts_frame_without_outer_tag():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    data = frame(UNKNOWN, EXT)
    data = data[:12] + bytes.fromhex("8100000a") + data[12:56]
    out = Engine(h).rx(data)
    counted = delta(out, "s0")
    assert (counted["rx_packets"], counted["rx_bytes"]) == (1, 56)
    assert "multicast" not in counted


def test_S_source_device_only_receives_listed_sources():
    """A source device gets nothing from unlisted senders: not broadcast (external mask has no
    SOURCE), not unicast to its own MAC."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    h.set_allmulti("s0", True)
    eng = Engine(h)
    for dst in (BCAST, group(0x42), mac(1), UNKNOWN):
        out = eng.rx(frame(dst, EXT2))
        assert not incoming_at(out, "s0")


# --------------------------------------------------------------------------------- list ops
def test_source_macaddr_add_is_idempotent():
    """ADD twice then DEL once: the entry is gone (there was only one)."""
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.ADD, EXT))
    out = Engine(h).rx(frame(UNKNOWN, EXT))
    assert got(out)["s0"] == 1
    h.change_macvlan("s0", macaddr=op(MacaddrOp.DEL, EXT))
    assert not sees(h, "s0", EXT)


def test_source_macaddr_del_removes_one_entry():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.SET, EXT, EXT2))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.DEL, EXT))
    assert not sees(h, "s0", EXT)
    assert sees(h, "s0", EXT2)


def test_source_macaddr_flush():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.SET, EXT, EXT2))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.FLUSH))
    assert not sees(h, "s0", EXT)
    assert not sees(h, "s0", EXT2)


def test_source_macaddr_set_replaces_the_list():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.SET, EXT, EXT2))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.SET, EXT2, EXT3))
    assert not sees(h, "s0", EXT)
    assert sees(h, "s0", EXT2)
    assert sees(h, "s0", EXT3)


def test_source_list_ops_leave_other_devices_alone():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.SET, EXT))
    add(h, "s1", Mode.SOURCE, mac(2), macaddr=op(MacaddrOp.SET, EXT))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.FLUSH))
    assert sees(h, "s1", EXT)
    h.change_macvlan("s0", macaddr=op(MacaddrOp.ADD, EXT))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.DEL, EXT))
    assert sees(h, "s1", EXT)


def test_source_leaving_source_mode_flushes_the_list():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), flags=NODST, macaddr=op(MacaddrOp.SET, EXT))
    add(h, "b0", Mode.BRIDGE, mac(2))
    h.change_macvlan("s0", mode=Mode.BRIDGE)
    out = Engine(h).rx(frame(mac(2), EXT))  # the nodst entry no longer steals it
    assert got(out) == {"lower": 1, "b0": 1}
    h.change_macvlan("s0", mode=Mode.SOURCE)
    assert not sees(h, "s0", EXT)


def test_source_deleting_the_device_flushes_the_list():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), flags=NODST, macaddr=op(MacaddrOp.SET, EXT))
    add(h, "b0", Mode.BRIDGE, mac(2))
    h.delete("s0")
    out = Engine(h).rx(frame(mac(2), EXT))
    assert got(out) == {"lower": 1, "b0": 1}


@pytest.mark.parametrize("mode", [Mode.PRIVATE, Mode.VEPA, Mode.BRIDGE, Mode.PASSTHRU])
def test_source_macaddr_on_non_source_device_is_einval(mode):
    h = new_host()
    with pytest.raises(KernelError) as exc:
        h.add_macvlan("x", "lower", mode=mode, mac=mac(1), macaddr=op(MacaddrOp.ADD, EXT))
    assert exc.value.errno_name == "EINVAL"
    h.add_macvlan("y", "lower", mode=mode, mac=mac(2))
    with pytest.raises(KernelError) as exc:
        h.change_macvlan("y", macaddr=op(MacaddrOp.ADD, EXT))
    assert exc.value.errno_name == "EINVAL"


def test_source_nodst_accepted_on_every_mode_but_only_acts_through_entries():
    h = new_host()
    for i, mode in enumerate((Mode.PRIVATE, Mode.VEPA, Mode.BRIDGE), start=1):
        add(h, f"m{i}", mode, mac(i), flags=NODST)
    eng = Engine(h)
    for i in range(1, 4):
        out = eng.rx(frame(mac(i), EXT))
        assert got(out) == {"lower": 1, f"m{i}": 1}
    out = eng.rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "m1": 1, "m2": 1, "m3": 1}


def test_source_macaddr_set_with_no_macs_is_a_flush():
    h = new_host()
    add(h, "s0", Mode.SOURCE, mac(1), macaddr=op(MacaddrOp.SET, EXT, EXT2))
    h.change_macvlan("s0", macaddr=op(MacaddrOp.SET))
    assert not sees(h, "s0", EXT)
    assert not sees(h, "s0", EXT2)


def test_nopromisc_accepted_by_the_kernel_on_any_mode():
    """§14: iproute2's nopromisc-needs-passthru check is client-side only."""
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1), flags=MacvlanFlag.NOPROMISC)
    assert h.devices["b0"].flags == MacvlanFlag.NOPROMISC
    assert h.lower.promisc  # it still puts its MAC in the veth's unicast list
