"""§7 broadcast queue: bc_queue_len_used, overflow, bclim (bc_cutoff) tables, asynchrony."""

from __future__ import annotations

import pytest
from rulekit import (
    ALL_HOSTS,
    BCAST,
    EXT,
    add,
    delta,
    frame,
    got,
    group,
    has_rule,
    incoming_at,
    mac,
    new_host,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import MacvlanFlag, Mode
from macvlan_sim.model.mac import mc_hash, parse_mac

COLLIDES_WITH_BCAST = parse_mac("01:00:5e:00:00:11")


def _port(h):
    return h.lower.rx_port


# --------------------------------------------------------------------------------- length
def test_bc_queue_len_used_is_max_over_all_devices_including_down():
    """§16.15: 5/7/0 → 7 (the 7 is down); after deleting the 7 → 5."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=5)
    add(h, "b", Mode.BRIDGE, mac(2), bcqueuelen=7, up=False)
    add(h, "c", Mode.BRIDGE, mac(3), bcqueuelen=0)
    assert _port(h).bc_queue_len_used == 7
    h.delete("b")
    assert _port(h).bc_queue_len_used == 5


def test_bc_queue_len_used_recomputed_on_change():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=5)
    add(h, "b", Mode.BRIDGE, mac(2), bcqueuelen=7)
    h.change_macvlan("b", bcqueuelen=2)
    assert _port(h).bc_queue_len_used == 5
    h.change_macvlan("a", bcqueuelen=1)
    assert _port(h).bc_queue_len_used == 2


def test_bc_queue_len_default_is_1000():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    assert _port(h).bc_queue_len_used == 1000


def test_bc_queue_len_used_governs_overflow_behaviourally():
    """With a down device requesting 3 and an up one requesting 1, three queued broadcasts fit."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=1)
    add(h, "b", Mode.BRIDGE, mac(2), bcqueuelen=3, up=False)
    eng = Engine(h, drain="manual")
    outs = [eng.rx(frame(BCAST, EXT)) for _ in range(4)]
    assert [delta(o, "lower").get("rx_dropped", 0) for o in outs] == [0, 0, 0, 1]
    eng.run_workqueue()
    assert [got(o)["a"] for o in outs] == [1, 1, 1, 0]


# --------------------------------------------------------------------------------- overflow
def test_queue_overflow_counted_on_lower_rx_dropped():
    """§16.15: a burst with limit 1 delivers 1; the rest count in L's core rx_dropped."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=1)
    add(h, "b", Mode.VEPA, mac(2), bcqueuelen=1)
    eng = Engine(h, drain="manual")
    before = eng.counters.totals["lower"]["rx_dropped"]
    outs = [eng.rx(frame(BCAST, EXT)) for _ in range(50)]
    eng.run_workqueue()
    assert eng.counters.totals["lower"]["rx_dropped"] - before == 49
    assert sum(got(o)["a"] for o in outs) == 1
    assert sum(got(o)["b"] for o in outs) == 1
    # L's stack got every one of them (M4 returns PASS whether or not the clone was queued)
    assert sum(got(o)["lower:stack"] for o in outs) == 50
    assert "a" not in eng.counters.totals or eng.counters.totals["a"]["rx_dropped"] == 0


def test_queue_len_zero_drops_everything_queued():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=0)
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert delta(out, "lower").get("rx_dropped") == 1
    assert "a" not in out.counters


# --------------------------------------------------------------------------------- bclim -1
def test_bclim_minus_one_delivers_inline():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=0, bclim=-1)
    add(h, "b", Mode.BRIDGE, mac(2), bcqueuelen=0)
    eng = Engine(h, drain="manual")
    out = eng.rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "a": 1, "b": 1}
    for name in ("a", "b"):
        (rec,) = incoming_at(out, name)
        assert not rec.queued and has_rule(rec, "M5")
    assert "rx_dropped" not in delta(out, "lower")


def test_bclim_is_port_wide_last_writer_wins():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=0, bclim=-1)
    add(h, "b", Mode.BRIDGE, mac(2), bcqueuelen=0)  # no bclim given: the port keeps -1
    eng = Engine(h)
    assert got(eng.rx(frame(BCAST, EXT)))["a"] == 1
    h.change_macvlan("b", bclim=3)  # last writer: everything queued again (veth: promisc)
    out = eng.rx(frame(BCAST, EXT))
    assert "a" not in got(out) and "b" not in got(out)
    assert delta(out, "lower")["rx_dropped"] == 1


# --------------------------------------------------------------------------------- veth lower
def test_veth_lower_goes_promiscuous_when_a_macvlan_comes_up():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), up=False)
    assert not h.lower.promisc
    h.set_up("a")
    assert h.lower.promisc
    h.set_down("a")
    assert not h.lower.promisc


@pytest.mark.parametrize("cutoff", [1, 0, 2, 3])
def test_veth_lower_queues_every_group_frame(cutoff):
    """§16.13: on a (promiscuous) veth lower everything is queued whatever the cutoff ≥ 0."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=0, bclim=cutoff)
    g1 = group(0x21)
    h.maddr_add("a", g1)
    eng = Engine(h)
    for dst in (BCAST, g1, group(0x99), ALL_HOSTS):
        out = eng.rx(frame(dst, EXT))
        assert delta(out, "lower").get("rx_dropped") == 1
        assert not incoming_at(out, "a")


# --------------------------------------------------------------------------------- cutoff tables
def _classify(out, dev_names) -> str:
    """'queued' (dropped with bcqueuelen 0), 'inline' (delivered), 'inline-nomatch', 'none'."""
    dropped = delta(out, "lower").get("rx_dropped", 0)
    delivered = [n for n in dev_names if incoming_at(out, n)]
    path = {s.split(" ")[0] for r in out.receptions for s in r.path}
    if dropped:
        assert not delivered
        return "queued"
    if delivered:
        return "inline"
    return "inline-nomatch" if "M5" in path else "none"


SEC7_TABLE = {
    # traffic: {cutoff: result}
    "broadcast": {1: "queued", 0: "queued", -1: "inline", 5: "queued"},
    "group1": {1: "inline", 0: "queued", -1: "inline", 5: "inline"},
    "unjoined": {1: "none", 0: "none", -1: "none", 5: "none"},
    "collides": {1: "queued", 0: "queued", -1: "inline-nomatch", 5: "queued"},
}


@pytest.mark.parametrize("cutoff", [1, 0, -1, 5])
@pytest.mark.parametrize("traffic", list(SEC7_TABLE))
def test_cutoff_table_passthru_nopromisc(traffic, cutoff):
    """§7 table, verified on passthru + nopromisc with bcqueuelen 0."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, flags=MacvlanFlag.NOPROMISC, bcqueuelen=0)
    g1 = group(0x21)
    unjoined = group(0x77)
    assert len({mc_hash(g) for g in (g1, unjoined, BCAST, ALL_HOSTS)}) == 4
    h.maddr_add("pt", g1)
    h.change_macvlan("pt", bclim=cutoff)
    assert not h.lower.promisc
    dst = {"broadcast": BCAST, "group1": g1, "unjoined": unjoined}.get(traffic, COLLIDES_WITH_BCAST)
    out = Engine(h).rx(frame(dst, EXT))
    assert _classify(out, ["pt"]) == SEC7_TABLE[traffic][cutoff]
    assert got(out)["lower:stack"] == 1


SEC17_TABLE = {
    "broadcast": {1: "queued", 0: "queued", 2: "queued", -1: "inline"},
    "group1": {1: "inline", 0: "queued", 2: "inline", -1: "inline"},
    "group2": {1: "queued", 0: "queued", 2: "inline", -1: "inline"},
    "all-hosts": {1: "queued", 0: "queued", 2: "inline", -1: "inline"},
}


@pytest.mark.parametrize("cutoff", [1, 0, 2, -1])
@pytest.mark.parametrize("traffic", list(SEC17_TABLE))
def test_cutoff_table_nic_lower(traffic, cutoff):
    """§17 table on a NIC with a unicast filter (64 slots), bcqueuelen 0: synced count >
    cutoff queues; L's own join of 01:00:5e:00:00:01 does not count."""
    h = new_host(filter_slots=64)
    add(h, "m0", Mode.BRIDGE, mac(1), bcqueuelen=0)
    add(h, "m1", Mode.BRIDGE, mac(2), bcqueuelen=0)
    g1, g2 = group(0x21), group(0x22)
    assert len({mc_hash(g) for g in (g1, g2, BCAST, ALL_HOSTS)}) == 4
    h.maddr_add("m0", g1)
    h.maddr_add("m0", g2)
    h.maddr_add("m1", g2)
    h.change_macvlan("m1", bclim=cutoff)
    assert not h.lower.promisc
    dst = {"broadcast": BCAST, "group1": g1, "group2": g2, "all-hosts": ALL_HOSTS}[traffic]
    out = Engine(h).rx(frame(dst, EXT))
    assert _classify(out, ["m0", "m1"]) == SEC17_TABLE[traffic][cutoff]
    if SEC17_TABLE[traffic][cutoff] == "inline":
        subscribers = {"group1": {"m0"}}.get(traffic, {"m0", "m1"})
        assert {n for n in ("m0", "m1") if incoming_at(out, n)} == subscribers


def test_nic_default_settings_deliver_every_joined_group():
    h = new_host(filter_slots=64)
    add(h, "m0", Mode.BRIDGE, mac(1))
    add(h, "m1", Mode.BRIDGE, mac(2))
    g1, g2 = group(0x21), group(0x22)
    h.maddr_add("m0", g1)
    h.maddr_add("m0", g2)
    h.maddr_add("m1", g2)
    eng = Engine(h)
    assert got(eng.rx(frame(g1, EXT)))["m0"] == 1
    out = eng.rx(frame(g2, EXT))
    assert got(out)["m0"] == 1 and got(out)["m1"] == 1
    out = eng.rx(frame(ALL_HOSTS, EXT))
    assert got(out)["m0"] == 1 and got(out)["m1"] == 1


def test_port_filters_not_recomputed_on_lower_flag_change():
    """§7: a change to L's flags alone does not recompute the port filters; the next macvlan
    rx_mode recomputation does."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, flags=MacvlanFlag.NOPROMISC, bcqueuelen=0)
    unjoined = group(0x77)
    assert mc_hash(unjoined) not in {mc_hash(BCAST), mc_hash(ALL_HOSTS)}
    eng = Engine(h)
    h.set_allmulti("lower", True)
    out = eng.rx(frame(unjoined, EXT))
    assert _classify(out, ["pt"]) == "none"  # stale filter: no bit for it
    h.maddr_add("pt", group(0x55))  # macvlan rx_mode: filters now all-ones (L is ALLMULTI)
    out = eng.rx(frame(unjoined, EXT))
    assert _classify(out, ["pt"]) == "queued"


def test_queue_overflow_on_vlan_lower_counted_on_the_vlan_device():
    """§17: a port whose lower is a VLAN device counts overflow on that VLAN device."""
    h = new_host()
    h.add_vlan("lower.10", "lower", 10)
    h.set_up("lower.10")
    add(h, "m10", Mode.BRIDGE, mac(1), link="lower.10", bcqueuelen=0)
    data = frame(BCAST, EXT)
    data = data[:12] + bytes.fromhex("8100000a") + data[12:56]
    out = Engine(h).rx(data)
    assert delta(out, "lower.10").get("rx_dropped") == 1
    assert "rx_dropped" not in delta(out, "lower")
    assert not incoming_at(out, "m10")


# --------------------------------------------------------------------------------- async
def test_drain_manual_queued_broadcast_overtaken_by_unicast():
    """§7/§18: queued copies are deferred; a later unicast is delivered first."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    eng = Engine(h, drain="manual")
    bc = eng.rx(frame(BCAST, EXT))
    assert not incoming_at(bc, "a")
    assert bc.pending == 1
    assert got(bc)["lower:stack"] == 1  # L's stack is not deferred
    uc = eng.rx(frame(mac(1), EXT))
    assert got(uc)["a"] == 1
    eng.run_workqueue()
    (rec,) = incoming_at(bc, "a")
    assert rec.queued
    assert bc.pending == 0


def test_drain_manual_inline_not_deferred():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bclim=-1)
    eng = Engine(h, drain="manual")
    bc = eng.rx(frame(BCAST, EXT))
    assert got(bc)["a"] == 1
    assert bc.pending == 0


def test_queue_drains_in_fifo_order():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    eng = Engine(h, drain="manual")
    outs = [eng.rx(frame(BCAST, EXT, payload=bytes([i]) * 8)) for i in range(5)]
    seen = []
    eng.callbacks.register_each("a", seen.append)
    eng.run_workqueue()
    eng.flush()
    assert [r.data[14] for r in seen] == list(range(5))
    assert all(got(o)["a"] == 1 for o in outs)


def test_vlan_device_counts_as_a_synced_subscriber():
    """§7: the synced count counts every upper using dev_mc_sync, VLAN devices included."""
    h = new_host(filter_slots=64)
    add(h, "m0", Mode.BRIDGE, mac(1), bcqueuelen=0)
    h.add_vlan("lower.10", "lower", 10)
    h.set_up("lower.10")
    g = group(0x21)
    h.maddr_add("m0", g)
    eng = Engine(h)
    assert _classify(eng.rx(frame(g, EXT)), ["m0"]) == "inline"
    h.maddr_add("lower.10", g)
    h.maddr_add("m0", group(0x55))  # a macvlan rx_mode run picks up the new count
    assert _classify(eng.rx(frame(g, EXT)), ["m0"]) == "queued"


def test_port_filters_stale_after_a_macvlan_goes_down():
    """§7: only a macvlan's rx_mode (open, list change, PROMISC/ALLMULTI) or a cutoff change
    recomputes the port filters; a subscriber going down leaves them as they were."""
    h = new_host(filter_slots=64)
    add(h, "m0", Mode.BRIDGE, mac(1), bcqueuelen=0)
    add(h, "m1", Mode.BRIDGE, mac(2), bcqueuelen=0)
    g2 = group(0x22)
    h.maddr_add("m0", g2)
    h.maddr_add("m1", g2)
    eng = Engine(h)
    assert _classify(eng.rx(frame(g2, EXT)), ["m0"]) == "queued"
    h.set_down("m1")
    assert _classify(eng.rx(frame(g2, EXT)), ["m0"]) == "queued"  # stale: still 2
    h.maddr_add("m0", group(0x55))
    assert _classify(eng.rx(frame(g2, EXT)), ["m0"]) == "inline"


def test_inline_copies_go_through_the_backlog():
    """§7: inline copies are netif_rx'd, so L's stack (which continues synchronously) gets
    the frame before any macvlan copy is delivered."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bclim=-1)
    add(h, "b", Mode.BRIDGE, mac(2))
    out = Engine(h).rx(frame(BCAST, EXT))
    pts = [r.point for r in out.receptions]
    assert pts.index("lower:stack") < min(pts.index("a"), pts.index("b"))


def test_passthru_without_nopromisc_queues_every_group_frame():
    """§7: a promiscuous lower (passthru without nopromisc) has all-ones port filters."""
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, bcqueuelen=0)
    assert h.lower.promisc
    eng = Engine(h)
    for dst in (BCAST, group(0x77), ALL_HOSTS):
        assert _classify(eng.rx(frame(dst, EXT)), ["pt"]) == "queued"
    h.change_macvlan("pt", bclim=-1)
    assert _classify(eng.rx(frame(BCAST, EXT)), ["pt"]) == "inline"
