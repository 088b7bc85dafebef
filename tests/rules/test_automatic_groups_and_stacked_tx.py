"""The four kernel behaviours the spec corrected (§8, §9, §17), one test (or a few) per rule.

Every expectation comes from the corrected spec text and was observed on 6.18 kernels (the
machine's, and the qemu VM with 8021q and virtio-net); the VM answers are also kept as
regression data (tests/data/vm-regressions).
"""

from __future__ import annotations

import pytest
from rulekit import ALL_HOSTS, ALL_NODES, BCAST, EXT, add, delta, frame, got, mac, new_host, tagged

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import GVRP_GROUP, MacvlanFlag, Mode, PktType
from macvlan_sim.model.mac import mc_hash

UNJOINED = bytes.fromhex("01005e7f1234")


# ------------------------------------------------------------ §8 automatic memberships
@pytest.mark.parametrize("ipv6", [False, True], ids=["disable_ipv6", "ipv6"])
def test_s8_all_nodes_joined_at_registration_even_never_up(ipv6):
    """33:33:00:00:00:01 is joined at NETDEV_REGISTER (MTU >= 1280), with IPv6 disabled or
    not, and whether or not the device ever comes up; 01:00:5e:00:00:01 only once up."""
    h = new_host(ipv6=ipv6)
    add(h, "up", Mode.BRIDGE, mac(1))
    add(h, "never", Mode.BRIDGE, mac(2), up=False)
    h.add_vlan("lower.10", "lower", 10)
    for name in ("lower", "up", "never", "lower.10"):
        assert ALL_NODES in h.devices[name].mc, name
    assert ALL_HOSTS in h.devices["up"].mc
    assert ALL_HOSTS not in h.devices["never"].mc
    assert ALL_HOSTS not in h.devices["lower.10"].mc


def test_s8_all_nodes_survives_down_up_with_ipv6_disabled():
    """disable_ipv6=1 never sets IF_READY, so ipv6_mc_down never runs; all-hosts is left at
    down (ip_mc_down) and joined again at up."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_down("a")
    assert ALL_NODES in h.devices["a"].mc
    assert ALL_HOSTS not in h.devices["a"].mc
    h.set_up("a")
    assert ALL_NODES in h.devices["a"].mc and ALL_HOSTS in h.devices["a"].mc


def test_s8_all_nodes_reaches_every_up_non_source_macvlan():
    """A frame from the wire to 33:33:00:00:00:01 reaches every UP non-source macvlan and L."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.VEPA, mac(2))
    add(h, "c", Mode.PRIVATE, mac(3))
    add(h, "s", Mode.SOURCE, mac(4))
    add(h, "d", Mode.BRIDGE, mac(5), up=False)
    out = Engine(h).rx(frame(ALL_NODES, EXT))
    assert {p for p in got(out) if p in "abcsd"} == {"a", "b", "c"}
    assert got(out)["lower:stack"] == 1


def test_s8_all_nodes_needs_an_mtu_of_1280_and_follows_crossings():
    """No inet6_dev below 1280: a device created with MTU 1279 holds no all-nodes; raising
    the MTU to 1280 joins it, dropping it below 1280 leaves it (NETDEV_CHANGEMTU)."""
    h = new_host()
    add(h, "small", Mode.BRIDGE, mac(1), mtu=1279)
    add(h, "big", Mode.BRIDGE, mac(2))
    assert ALL_NODES not in h.devices["small"].mc
    eng = Engine(h)
    assert {p for p in got(eng.rx(frame(ALL_NODES, EXT))) if p in ("small", "big")} == {"big"}
    h.set_mtu("small", 1280)
    assert ALL_NODES in h.devices["small"].mc
    h.set_mtu("big", 1200)
    assert ALL_NODES not in h.devices["big"].mc
    assert {p for p in got(eng.rx(frame(ALL_NODES, EXT))) if p in ("small", "big")} == {"small"}


def test_s8_mtu_rules_of_stacked_devices():
    """A macvlan's MTU may not exceed its lower's (EINVAL); shrinking the lower shrinks its
    macvlans and VLAN devices, and each leaves all-nodes as it drops below 1280."""
    from macvlan_sim.model.errors import KernelError

    h = new_host()
    with pytest.raises(KernelError, match="MTU"):
        add(h, "huge", Mode.BRIDGE, mac(1), mtu=1501)
    add(h, "a", Mode.BRIDGE, mac(2))
    h.add_vlan("lower.10", "lower", 10)
    h.set_mtu("lower", 1000)
    assert h.devices["a"].mtu == h.devices["lower.10"].mtu == 1000
    for name in ("lower", "a", "lower.10"):
        assert ALL_NODES not in h.devices[name].mc, name


def test_s8_filtering_nic_accepts_the_automatic_groups():
    """The automatic groups sit in the NIC's multicast list, so a filtering NIC lower passes
    all-nodes and all-hosts and still drops an unjoined group."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    eng = Engine(h)
    for g in (ALL_NODES, ALL_HOSTS):
        assert got(eng.rx(frame(g, EXT)))["a"] == 1
    assert got(eng.rx(frame(UNJOINED, EXT))) == {}


def test_s8_automatic_groups_count_as_synced_subscribers():
    """§7 on a filtering NIC (no implicit promiscuity): the port's bc_filter holds groups with
    more than bclim synced subscribers. Every UP macvlan syncs all-nodes and all-hosts, a
    down one syncs nothing, and L's own joins count 0. With bcqueuelen 0 a queued frame is
    dropped (L rx_dropped +1), which makes queued and inline tell apart."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=0)
    lower = h.devices["lower"]
    assert lower.mc_synced_count(ALL_NODES) == 1
    assert lower.mc_synced_count(ALL_HOSTS) == 1
    eng = Engine(h)
    out = eng.rx(frame(ALL_NODES, EXT))  # 1 subscriber, bclim 1: inline
    assert got(out)["a"] == 1 and "rx_dropped" not in delta(out, "lower")
    add(h, "b", Mode.VEPA, mac(2), bcqueuelen=0)
    add(h, "c", Mode.VEPA, mac(3), up=False, bcqueuelen=0)
    assert lower.mc_synced_count(ALL_NODES) == 2
    port = lower.rx_port
    assert port.bc_filter.bit_set(mc_hash(ALL_NODES))
    out = eng.rx(frame(ALL_NODES, EXT))  # 2 subscribers > bclim 1: queued, queue of 0
    assert delta(out, "lower").get("rx_dropped") == 1
    assert not {"a", "b"} & set(got(out))
    h.change_macvlan("a", bclim=2)
    out = eng.rx(frame(ALL_HOSTS, EXT))  # 2 subscribers, bclim 2: inline to both
    assert got(out)["a"] == 1 and got(out)["b"] == 1


def test_s8_vlan_device_syncs_its_automatic_groups_while_up():
    """A VLAN device is a stacker too: while UP it syncs all-nodes and all-hosts into its real
    device, where they count as subscribers of the real device's port."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    lower = h.devices["lower"]
    h.add_vlan("lower.10", "lower", 10)
    assert lower.mc_synced_count(ALL_NODES) == 1
    assert GVRP_GROUP in lower.mc
    h.set_up("lower.10")
    assert lower.mc_synced_count(ALL_NODES) == 2
    assert lower.mc_synced_count(ALL_HOSTS) == 2


# ------------------------------------------------------------ §9 down lower with carrier
def test_s9_down_lower_with_carrier_noop_qdisc_counts_sent():
    """A macvlan on a never-up VLAN device (which kept its carrier): the frame dies in the VLAN
    device's noop_qdisc, which counts tx_dropped on *that* device and answers NET_XMIT_CN,
    so the macvlan counts the frame as sent. Nothing reaches the wire."""
    h = new_host()
    h.add_vlan("lower.10", "lower", 10)
    add(h, "m", Mode.VEPA, mac(3), link="lower.10")
    data = frame(EXT, mac(3))
    out = Engine(h).tx("m", data)
    assert out.send == "ok"
    assert delta(out, "m") == {"tx_packets": 1, "tx_bytes": len(data)}
    assert delta(out, "lower.10") == {"tx_dropped": 1}
    assert [(r.point, r.pkttype) for r in out.receptions] == [("m", PktType.OUTGOING)]


# ------------------------------------------------------------ §9 tags pushed at a macvlan
def test_s9_macvlan_has_no_vlan_tx_offload_tag_counted_in_band():
    """A VLAN device on a macvlan hands it the tag out of band; validate_xmit_vlan pushes it
    into the bytes before macvlan_start_xmit counts: a 60-byte broadcast on mv0.20 gives mv0
    tx_bytes +64 and a bridge sibling rx_bytes +78 (64 + 14)."""
    h = new_host()
    add(h, "mv0", Mode.BRIDGE, mac(1))
    add(h, "mv1", Mode.BRIDGE, mac(2))
    h.add_vlan("mv0.20", "mv0", 20)
    h.set_up("mv0.20")
    out = Engine(h).tx("mv0.20", frame(BCAST, mac(1)))
    assert delta(out, "mv0.20")["tx_bytes"] == 60
    assert delta(out, "mv0")["tx_bytes"] == 64
    assert delta(out, "mv1")["rx_bytes"] == 78
    wire = [r for r in out.receptions if r.point == "wire"]
    assert wire and (wire[0].vlan.tpid, wire[0].vlan.tci) == (0x8100, 20)


def test_s9_virtio_nic_lower_has_no_vlan_tx_offload_either():
    """virtio-net (our ``nic`` lower) offers no VLAN TX offload: a tag from lower.10 is in the
    bytes the NIC counts (tx_bytes +4), while a veth lower counts the frame without it."""
    for slots, extra in ((64, 4), (None, 0)):
        h = new_host(filter_slots=slots)
        h.add_vlan("lower.10", "lower", 10)
        h.set_up("lower.10")
        out = Engine(h).tx("lower.10", frame(BCAST, h.devices["lower"].mac))
        assert delta(out, "lower")["tx_bytes"] == 60 + extra


# ------------------------------------------------------------ §17 flags through a down VLAN
def test_s17_vlan_device_passes_promisc_to_its_real_device_while_down():
    """A passthru macvlan (no nopromisc) brought up on a never-up lower.1 makes the filtering
    NIC lower promiscuous: it then accepts unjoined multicast and VIDs with no
    sub-interface. With nopromisc the NIC filters as usual."""
    for flags, promisc in ((MacvlanFlag.NONE, True), (MacvlanFlag.NOPROMISC, False)):
        h = new_host(filter_slots=64)
        h.add_vlan("lower.1", "lower", 1)
        add(h, "p", Mode.PASSTHRU, link="lower.1", flags=flags)
        assert h.devices["lower"].promisc is promisc
        eng = Engine(h)
        assert bool(got(eng.rx(frame(UNJOINED, EXT)))) is promisc
        assert bool(got(eng.rx(tagged(BCAST, EXT, ((0x8100, 77),))))) is promisc


def test_s17_vlan_device_allmulti_reaches_real_device_while_down():
    """ALLMULTI set on a down VLAN device reaches the real device at once, and is not added a
    second time when the VLAN device comes up (6.18's vlan_dev_open no longer does)."""
    h = new_host(filter_slots=64)
    h.add_vlan("lower.10", "lower", 10)
    h.set_allmulti("lower.10", True)
    assert h.devices["lower"].allmulti == 1
    h.set_up("lower.10")
    assert h.devices["lower"].allmulti == 1
    h.set_down("lower.10")
    assert h.devices["lower"].allmulti == 1
    h.set_allmulti("lower.10", False)
    assert h.devices["lower"].allmulti == 0
