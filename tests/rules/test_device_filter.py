"""§8 per-device multicast filter, flag propagation, and the default group joins."""

from __future__ import annotations

import pytest
from rulekit import (
    ALL_HOSTS,
    ALL_NODES,
    BCAST,
    EXT,
    UNKNOWN,
    add,
    frame,
    got,
    group,
    incoming_at,
    mac,
    new_host,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import MacvlanFlag, Mode


def _macvlans(out, names) -> set[str]:
    return {n for n in names if incoming_at(out, n)}


def test_device_filter_exact_by_default():
    """Exact per-device match: the joined device gets its group, the others do not."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2))
    add(h, "c", Mode.VEPA, mac(3))
    g = group(0xFB)
    h.maddr_add("a", g)
    eng = Engine(h)
    assert _macvlans(eng.rx(frame(g, EXT)), "abc") == {"a"}
    # 300 unjoined groups: no false positives in exact mode (§16.5: unjoined group → L only)
    for n in range(0x100, 0x100 + 300):
        out = eng.rx(frame(group(n), EXT))
        assert _macvlans(out, "abc") == set()
        assert got(out)["lower:stack"] == 1


def test_device_filter_broadcast_always_passes():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out)["a"] == 1


def test_device_filter_maddr_del_stops_delivery():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    g = group(0xFB)
    h.maddr_add("a", g)
    eng = Engine(h)
    assert got(eng.rx(frame(g, EXT)))["a"] == 1
    h.maddr_del("a", g)
    assert got(eng.rx(frame(g, EXT)))["a"] == 0


@pytest.mark.parametrize("flag", ["allmulti", "promisc"])
def test_device_filter_allmulti_or_promisc_gets_unjoined_groups(flag):
    """§16.16: an ALLMULTI device gets unjoined groups (PROMISC: all bits too)."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2))
    getattr(h, f"set_{flag}")("a", True)
    eng = Engine(h)
    for n in (0x42, 0x43, 0x1234):
        assert _macvlans(eng.rx(frame(group(n), EXT)), "ab") == {"a"}
    getattr(h, f"set_{flag}")("a", False)
    assert _macvlans(eng.rx(frame(group(0x42), EXT)), "ab") == set()


def test_device_filter_allmulti_set_while_down_applies_at_open():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), up=False)
    h.set_allmulti("a", True)
    h.set_up("a")
    assert got(Engine(h).rx(frame(group(0x42), EXT)))["a"] == 1


def test_device_filter_promisc_does_not_give_foreign_unicast():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_promisc("a", True)
    eng = Engine(h)
    out = eng.rx(frame(UNKNOWN, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}
    out = eng.rx(frame(mac(2), EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}


def test_allmulti_propagates_to_lower_when_up():
    """§8: ALLMULTI on an UP macvlan reaches L; a NIC lower then accepts unjoined groups."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2), up=False)
    eng = Engine(h)
    g = group(0x42)
    assert got(eng.rx(frame(g, EXT))) == {}  # the NIC drops an unjoined group before taps
    h.set_allmulti("b", True)  # down: does not propagate
    assert not h.lower.allmulti_flag
    h.set_allmulti("a", True)
    assert h.lower.allmulti_flag
    assert got(eng.rx(frame(g, EXT)))["a"] == 1
    h.set_down("a")
    h.set_up("b")
    assert h.lower.allmulti_flag
    h.set_down("b")
    assert not h.lower.allmulti_flag


def test_promisc_propagates_to_lower_when_up():
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    assert not h.lower.promisc
    h.set_promisc("a", True)
    assert h.lower.promisc
    h.set_down("a")
    assert not h.lower.promisc
    h.set_up("a")
    assert h.lower.promisc


def test_promisc_on_passthru_not_propagated():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, flags=MacvlanFlag.NOPROMISC)
    h.set_promisc("pt", True)
    assert not h.lower.promisc
    h.set_allmulti("pt", True)
    assert h.lower.allmulti_flag


def test_device_filter_down_device_gets_nothing():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    g = group(0xFB)
    h.maddr_add("a", g)
    h.set_down("a")
    out = Engine(h).rx(frame(g, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1}


# --------------------------------------------------------------------------------- hash mode
def test_device_filter_hash_mode_false_positives_about_k_over_256():
    """With the salted 256-bit hash a device with k bits set accepts about k/256 of the groups
    it never joined (§3: 3 of 300 with about 3 bits). Joined groups always pass."""
    joined = [group(0x10), group(0x11), group(0x12)]
    total_fp, trials = 0, 0
    for seed in range(6):
        h = new_host(hash_filters=True, seed=seed)
        add(h, "a", Mode.BRIDGE, mac(1))
        for g in joined:
            h.maddr_add("a", g)
        eng = Engine(h)
        for g in joined:
            assert got(eng.rx(frame(g, EXT)))["a"] == 1
        for n in range(0x200, 0x200 + 300):
            total_fp += got(eng.rx(frame(group(n), EXT)))["a"]
            trials += 1
    # k = 3 joined + all-hosts + broadcast = 5 bits at most: expect ≈ 5/256 ≈ 2 %
    rate = total_fp / trials
    assert total_fp > 0
    assert rate < 3 * 5 / 256


def test_device_filter_hash_mode_salts_differ_between_devices():
    """The salt is per device (a heap pointer): two devices with the same joins do not accept
    the same set of unjoined groups."""
    h = new_host(hash_filters=True, seed=3)
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2))
    for name in "ab":
        for n in range(8):
            h.maddr_add(name, group(0x10 + n))
    eng = Engine(h)
    fp = {"a": set(), "b": set()}
    for n in range(0x400, 0x400 + 600):
        out = eng.rx(frame(group(n), EXT))
        for name in "ab":
            if incoming_at(out, name):
                fp[name].add(n)
    assert fp["a"] and fp["b"]
    assert fp["a"] != fp["b"]


# --------------------------------------------------------------------------------- joins
def test_default_join_ipv4_all_hosts_on_every_up_device():
    """01:00:5e:00:00:01 is joined by every UP device: every UP macvlan gets it."""
    h = new_host(filter_slots=64)
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.VEPA, mac(2))
    add(h, "c", Mode.PRIVATE, mac(3), up=False)
    for dev in ("lower", "a", "b"):
        assert ALL_HOSTS in h.devices[dev].mc
    assert ALL_HOSTS not in h.devices["c"].mc
    out = Engine(h).rx(frame(ALL_HOSTS, EXT))
    assert _macvlans(out, "abc") == {"a", "b"}


@pytest.mark.parametrize("ipv6", [False, True])
def test_default_join_ipv6_all_nodes_whether_ipv6_is_on_or_not(ipv6):
    """§8: all-nodes comes with registration, not with working IPv6."""
    h = new_host(ipv6=ipv6)
    add(h, "a", Mode.BRIDGE, mac(1))
    assert ALL_NODES in h.devices["a"].mc
    eng = Engine(h)
    assert got(eng.rx(frame(ALL_NODES, EXT)))["a"] == 1


def test_default_join_left_on_down():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    h.set_down("a")
    assert ALL_HOSTS not in h.devices["a"].mc
