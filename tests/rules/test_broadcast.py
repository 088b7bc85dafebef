"""§6 ``macvlan_broadcast``: the mode-mask table row by row, bucket order, PAUSE; §3 hashes."""

from __future__ import annotations

import pytest
from rulekit import (
    BCAST,
    EXT,
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
    order,
    same_bucket_macs,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import ETH_P_PAUSE, MacaddrOp, Mode, PktType
from macvlan_sim.model.host import MacaddrChange
from macvlan_sim.model.mac import eth_hash, mc_hash, parse_mac

G = group(0xFB)
PAUSE_DST = parse_mac("01:80:c2:00:00:01")
DEVS = {
    "p1": (Mode.PRIVATE, 1),
    "p2": (Mode.PRIVATE, 2),
    "v1": (Mode.VEPA, 3),
    "v2": (Mode.VEPA, 4),
    "b1": (Mode.BRIDGE, 5),
    "b2": (Mode.BRIDGE, 6),
    "s1": (Mode.SOURCE, 7),
}
MACVLANS = list(DEVS)


def _mask_host(bclim: int, joined: bytes | None = None):
    """One or two devices of every mode. ``bclim`` 1 sends group frames through the queue (the
    veth lower is promiscuous), -1 inline; the table must hold on both paths."""
    h = new_host()
    for name, (mode, n) in DEVS.items():
        kw = {"macaddr": MacaddrChange(MacaddrOp.SET, (mac(90),))} if mode == Mode.SOURCE else {}
        add(h, name, mode, mac(n), bclim=bclim, **kw)
        if joined is not None:
            h.maddr_add(name, joined)
    return h


PATHS = pytest.mark.parametrize("bclim", [1, -1], ids=["queued", "inline"])
DSTS = pytest.mark.parametrize("dst", [BCAST, G], ids=["broadcast", "multicast"])


def _macvlans_got(out, pass_: int | None = None) -> set[str]:
    return {
        r.point
        for r in out.receptions
        if r.point in DEVS and r.pkttype != PktType.OUTGOING and (pass_ is None or r.pass_ == pass_)
    }


@PATHS
@DSTS
def test_mask_external_sender(bclim, dst):
    """External host: PRIVATE | VEPA | PASSTHRU | BRIDGE, not SOURCE; L's stack too."""
    h = _mask_host(bclim, joined=G)
    out = Engine(h).rx(frame(dst, EXT))
    assert _macvlans_got(out) == {"p1", "p2", "v1", "v2", "b1", "b2"}
    assert got(out)["lower:stack"] == 1
    want = PktType.BROADCAST if dst == BCAST else PktType.MULTICAST
    assert all(kinds(out, n) == [want] for n in ("p1", "v1", "b1"))


@PATHS
@DSTS
def test_mask_vepa_sender_hairpinned(bclim, dst):
    """From a VEPA macvlan's MAC (reflected by the switch): VEPA | BRIDGE, not the sender."""
    h = _mask_host(bclim, joined=G)
    out = Engine(h).rx(frame(dst, mac(3)))
    assert _macvlans_got(out) == {"v2", "b1", "b2"}
    assert got(out)["lower:stack"] == 1


@PATHS
@DSTS
def test_mask_bridge_sender_hairpinned(bclim, dst):
    """From a BRIDGE macvlan's MAC: VEPA only (bridge siblings had their local copy)."""
    h = _mask_host(bclim, joined=G)
    out = Engine(h).rx(frame(dst, mac(5)))
    assert _macvlans_got(out) == {"v1", "v2"}
    assert got(out)["lower:stack"] == 1


@PATHS
@pytest.mark.parametrize("sender,n", [("p1", 1), ("s1", 7)], ids=["private", "source"])
def test_mask_private_or_source_sender_returns_to_sender(bclim, sender, n):
    h = _mask_host(bclim, joined=G)
    out = Engine(h).rx(frame(BCAST, mac(n)))
    assert _macvlans_got(out) == {sender}
    assert "lower:stack" not in got(out)


def test_mask_external_reaches_passthru():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU)
    out = Engine(h).rx(frame(BCAST, EXT))
    assert got(out) == {"lower": 1, "lower:stack": 1, "pt": 1}
    assert delta(out, "pt") == {"rx_packets": 1, "rx_bytes": 60, "multicast": 1}


@PATHS
@DSTS
def test_mask_tx_bridge_local_copies(bclim, dst):
    """TX from a BRIDGE macvlan: local copies to BRIDGE siblings only; the original goes out
    L (wire gets it, L's tap sees OUTGOING, L's stack does not)."""
    h = _mask_host(bclim, joined=G)
    out = Engine(h).tx("b1", frame(dst, mac(5)))
    assert _macvlans_got(out) == {"b2"}
    assert got(out) == {"b2": 1, "wire": 1}
    assert [r.pkttype for r in at(out, "lower")] == [PktType.OUTGOING]


@PATHS
def test_mask_tx_vepa_with_hairpin(bclim):
    """The switch reflects a VEPA device's broadcast: VEPA + BRIDGE siblings and L get it."""
    h = _mask_host(bclim, joined=G)
    out = Engine(h, hairpin=True).tx("v1", frame(BCAST, mac(3)))
    assert _macvlans_got(out, pass_=0) == set()
    assert _macvlans_got(out, pass_=1) == {"v2", "b1", "b2"}
    assert [r.pass_ for r in incoming_at(out, "lower:stack")] == [1]


@PATHS
def test_mask_tx_bridge_with_hairpin(bclim):
    """Bridge sender: local copy to b2 on TX; the reflected copy reaches the VEPAs and L."""
    h = _mask_host(bclim, joined=G)
    out = Engine(h, hairpin=True).tx("b1", frame(BCAST, mac(5)))
    assert _macvlans_got(out, pass_=0) == {"b2"}
    assert _macvlans_got(out, pass_=1) == {"v1", "v2"}
    assert got(out)["b2"] == 1
    assert [r.pass_ for r in incoming_at(out, "lower:stack")] == [1]


@PATHS
@pytest.mark.parametrize("sender,n", [("p1", 1), ("s1", 7)], ids=["private", "source"])
def test_mask_tx_private_or_source_with_hairpin(bclim, sender, n):
    h = _mask_host(bclim, joined=G)
    out = Engine(h, hairpin=True).tx(sender, frame(BCAST, mac(n)))
    assert _macvlans_got(out) == {sender}
    assert [r.pass_ for r in incoming_at(out, sender)] == [1]
    assert "lower:stack" not in got(out)


def test_flood_skips_down_devices():
    h = _mask_host(1)
    h.set_down("v2")
    h.set_down("b2")
    out = Engine(h).rx(frame(BCAST, EXT))
    assert _macvlans_got(out) == {"p1", "p2", "v1", "b1"}


# --------------------------------------------------------------------------------- §3 order
def test_hash_values_from_spec():
    """§3: …:00:31 → 7, …:00:32 → 242; port hash of broadcast and 01:00:5e:00:00:11 is 158."""
    assert eth_hash(parse_mac("02:00:00:00:00:31")) == 7
    assert eth_hash(parse_mac("02:00:00:00:00:32")) == 242
    assert mc_hash(BCAST) == 158
    assert mc_hash(parse_mac("01:00:5e:00:00:11")) == 158


@pytest.mark.parametrize("bclim", [1, -1], ids=["queued", "inline"])
def test_bucket_order_walks_buckets_0_to_255(bclim):
    h = new_host()
    macs: dict[int, bytes] = {}
    n = 0
    while len(macs) < 8:
        n += 1
        macs.setdefault(eth_hash(mac(n)), mac(n))
    items = list(macs.items())
    # open in an order unrelated to the buckets
    items = items[3:] + items[:3]
    for i, (_bucket, m) in enumerate(items):
        add(h, f"d{i}", Mode.BRIDGE, m, bclim=bclim)
    names = [f"d{i}" for i in range(len(items))]
    expected = [f"d{i}" for i, _ in sorted(enumerate(items), key=lambda x: x[1][0])]
    out = Engine(h).rx(frame(BCAST, EXT))
    assert order(out, names) == expected


def test_bucket_order_newest_opened_first_and_flips_after_down_up():
    h = new_host()
    a, b = same_bucket_macs(2)
    other = next(mac(n) for n in range(500, 600) if eth_hash(mac(n)) != eth_hash(a))
    add(h, "A", Mode.VEPA, a)
    add(h, "C", Mode.VEPA, other)
    add(h, "B", Mode.VEPA, b)
    eng = Engine(h)
    ab = ["A", "B"]
    assert order(eng.rx(frame(BCAST, EXT)), ab) == ["B", "A"]
    h.set_down("A")
    h.set_up("A")
    assert order(eng.rx(frame(BCAST, EXT)), ab) == ["A", "B"]
    h.set_down("B")
    h.set_up("B")
    assert order(eng.rx(frame(BCAST, EXT)), ab) == ["B", "A"]


def test_bucket_order_of_tx_local_copies():
    h = new_host()
    a, b, c = same_bucket_macs(3, start=1000)
    add(h, "A", Mode.BRIDGE, a)
    add(h, "B", Mode.BRIDGE, b)
    add(h, "C", Mode.BRIDGE, c)
    add(h, "S", Mode.BRIDGE, mac(1))
    out = Engine(h).tx("S", frame(BCAST, mac(1)))
    assert order(out, ["A", "B", "C"]) == ["C", "B", "A"]


# --------------------------------------------------------------------------------- PAUSE
def _pause(src=EXT) -> bytes:
    return frame(PAUSE_DST, src, ethertype=ETH_P_PAUSE)


@pytest.mark.parametrize("bclim", [1, -1], ids=["queued", "inline"])
def test_pause_never_flooded_from_the_wire(bclim):
    """macvlan_broadcast does nothing for ETH_P_PAUSE, even for an ALLMULTI device or one
    that joined the PAUSE group; L's stack still gets it (tags-pause-runts frame 4)."""
    h = new_host()
    add(h, "all", Mode.BRIDGE, mac(1), bclim=bclim)
    h.set_allmulti("all", True)
    add(h, "joined", Mode.VEPA, mac(2), bclim=bclim)
    h.maddr_add("joined", PAUSE_DST)
    h.set_promisc("joined", True)
    out = Engine(h).rx(_pause())
    assert got(out) == {"lower": 1, "lower:stack": 1}
    assert "all" not in out.counters and "joined" not in out.counters


def test_pause_never_flooded_on_bridge_tx():
    h = new_host()
    add(h, "b0", Mode.BRIDGE, mac(1))
    add(h, "b1", Mode.BRIDGE, mac(2))
    h.set_allmulti("b1", True)
    out = Engine(h).tx("b0", _pause(mac(1)))
    assert got(out) == {"wire": 1}
    assert kinds(out, "wire") == [PktType.MULTICAST]


def test_pause_never_flooded_after_hairpin():
    h = new_host()
    add(h, "v0", Mode.VEPA, mac(1))
    add(h, "v1", Mode.VEPA, mac(2))
    h.set_allmulti("v1", True)
    out = Engine(h, hairpin=True).tx("v0", _pause(mac(1)))
    assert not incoming_at(out, "v1")
