"""Hypothesis properties over random topologies and frames.

Topologies are built through the scenario format (so the runner's setup order is exercised
too): 1–6 macvlans of random modes, flags, up state and MACs drawn from a small pool (so MAC
conflicts and EADDRINUSE happen), random source lists and multicast joins, a veth or NIC
lower, random bcqueuelen/bclim. Expectations come from the spec; the only engine state read
is configuration (which devices ended up UP, which creations failed).
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.scenario import Scenario, run_scenario
from macvlan_sim.model.constants import Mode, PktType
from macvlan_sim.model.mac import format_mac, parse_mac

L_MAC = parse_mac("02:00:00:00:00:01")
MAC_POOL = [bytes([2, 0, 0, 0, 1, i]) for i in range(6)]
EXT_POOL = [bytes([0x0A, 0, 0, 0, 0, i + 1]) for i in range(3)]
UNKNOWN = parse_mac("0a:00:00:00:99:99")
BCAST = b"\xff" * 6
GROUPS = [
    parse_mac("01:00:5e:00:00:01"),
    parse_mac("01:00:5e:00:00:fb"),
    parse_mac("01:00:5e:00:00:11"),
    parse_mac("33:33:00:00:00:01"),
]
MODES = ["private", "vepa", "bridge", "source", "passthru"]
Q, AD = 0x8100, 0x88A8
TAGS = [None, (Q, 0), (Q, 10), (AD, 20)]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def build_frame(dst: bytes, src: bytes, tag: tuple[int, int] | None = None, size: int = 60):
    data = dst + src
    if tag is not None:
        data += struct.pack("!HH", *tag)
    data += struct.pack("!H", 0x88B5) + b"MVO-prop"
    return data.ljust(size, b"\x00")


# --------------------------------------------------------------------------------- strategies
@st.composite
def device_specs(draw, index: int) -> dict[str, Any]:
    mode = draw(st.sampled_from(MODES))
    spec: dict[str, Any] = {
        "name": f"m{index}",
        "mode": mode,
        "mac": format_mac(draw(st.sampled_from(MAC_POOL))),
        "up": draw(st.sampled_from([True, True, True, False])),
    }
    flags = draw(st.lists(st.sampled_from(["nodst", "nopromisc"]), unique=True, max_size=2))
    if flags:
        spec["flags"] = flags
    if mode == "source":
        listed = draw(st.lists(st.sampled_from(EXT_POOL + MAC_POOL[:2]), unique=True, max_size=3))
        if listed:
            spec["macaddr"] = [format_mac(m) for m in listed]
    joins = draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=2))
    if joins:
        spec["mc"] = [format_mac(g) for g in joins]
    if draw(st.integers(0, 5)) == 0:
        spec["allmulti"] = True
    if draw(st.integers(0, 7)) == 0:
        spec["promisc"] = True
    bcq = draw(st.sampled_from([None, None, 0, 1, 1000]))
    if bcq is not None:
        spec["bcqueuelen"] = bcq
    return spec


@st.composite
def scenarios(draw) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    devices = [draw(device_specs(i)) for i in range(n)]
    sc: dict[str, Any] = {
        "lower": {"mac": format_mac(L_MAC), "kind": draw(st.sampled_from(["veth", "nic"]))},
        "devices": devices,
        "ipv6": draw(st.booleans()),
    }
    bclim = draw(st.sampled_from([None, None, -1, 0, 1, 2]))
    if bclim is not None:
        sc["port"] = {"bclim": bclim}
    return sc


frame_specs = st.tuples(
    st.sampled_from([*MAC_POOL, L_MAC, UNKNOWN, BCAST, *GROUPS]),  # dst
    st.sampled_from([*EXT_POOL, *MAC_POOL, L_MAC]),  # src
    st.sampled_from(TAGS),
    st.sampled_from(["wire", "wire", "wire", "m0", "m1", "m2"]),  # inject point
)


# --------------------------------------------------------------------------------- model
class Topo:
    """The built host plus what the scenario asked for, for spec-derived expectations."""

    def __init__(self, sc: dict[str, Any]) -> None:
        self.sc = sc
        self.host, self.log = Scenario(sc).build()
        self.created = [d for d in sc["devices"] if d["name"] in self.host.devices]
        self.port = self.host.lower.rx_port
        self.nic = sc["lower"]["kind"] == "nic"

    def dev(self, name: str):
        return self.host.devices[name]

    def macvlan_names(self) -> list[str]:
        return [d["name"] for d in self.created]

    def up_non_source(self) -> set[str]:
        return {
            n for n in self.macvlan_names() if self.dev(n).up and self.dev(n).mode != Mode.SOURCE
        }

    def listing(self, src: bytes) -> list[dict[str, Any]]:
        """Created source-mode devices whose (requested) list holds ``src``."""
        return [
            d
            for d in self.created
            if d["mode"] == "source" and format_mac(src) in d.get("macaddr", [])
        ]

    def nodst_hit(self, src: bytes) -> bool:
        return any("nodst" in d.get("flags", []) for d in self.listing(src))

    def source_copies(self, src: bytes) -> set[str]:
        return {d["name"] for d in self.listing(src) if self.dev(d["name"]).up}

    def cutoff(self) -> int:
        bclim = self.sc.get("port", {}).get("bclim")
        return 1 if bclim is None else bclim

    def queue_len_used(self) -> int:
        return max((d.get("bcqueuelen", 1000) for d in self.created), default=0)

    def nic_drops_tag(self, tag) -> bool:
        """§17: the NIC's VLAN filter drops 802.1Q VIDs without a sub-interface unless the
        lower is promiscuous."""
        return (
            self.nic
            and tag is not None
            and tag[0] == Q
            and tag[1] & 0xFFF != 0
            and not (self.host.lower.promisc)
        )


def incoming(out, names) -> Counter:
    names = set(names)
    return Counter(
        r.point for r in out.receptions if r.point in names and r.pkttype != PktType.OUTGOING
    )


def points(out) -> Counter:
    return Counter(r.point for r in out.receptions if r.pkttype != PktType.OUTGOING)


# --------------------------------------------------------------------------------- properties
@SETTINGS
@given(sc=scenarios(), frames=st.lists(frame_specs, min_size=1, max_size=6))
def test_every_frame_and_copy_is_accounted_for(sc, frames):
    topo = Topo(sc)
    eng = Engine(topo.host)
    names = topo.macvlan_names()
    for dst, src, tag, point in frames:
        if point != "wire" and point not in topo.host.devices:
            point = "wire"
        out = eng.inject(point, build_frame(dst, src, tag), socket=point != "wire")
        assert out.accounted
        if out.send != "ok":
            assert not out.receptions
            continue
        finals = Counter(dev for dev, _ in out.finals)
        # every copy a macvlan tap saw came to rest on that device (no VLANs on macvlans here)
        assert incoming(out, names) == Counter({n: finals[n] for n in names if finals[n]})
        assert points(out)["lower:stack"] == finals["lower"]
        # every frame the lower received went somewhere or was dropped for a reason
        if any(r.point == "lower" and r.pkttype != PktType.OUTGOING for r in out.receptions):
            assert sum(finals[n] for n in [*names, "lower"]) + len(out.drops) >= 1
        assert out.pending == 0


@SETTINGS
@given(sc=scenarios(), data=st.data())
def test_unicast_to_an_up_device_reaches_exactly_it(sc, data):
    topo = Topo(sc)
    assume(topo.port is not None and not topo.port.passthru)
    candidates = sorted(topo.up_non_source())
    assume(candidates)
    target = data.draw(st.sampled_from(candidates))
    src = data.draw(st.sampled_from([*EXT_POOL, *MAC_POOL, L_MAC]))
    tag = data.draw(st.sampled_from(TAGS))
    out = Engine(topo.host).rx(build_frame(topo.dev(target).mac, src, tag))
    non_source = [n for n in topo.macvlan_names() if topo.dev(n).mode != Mode.SOURCE]
    got = incoming(out, non_source)
    if topo.nic_drops_tag(tag):
        assert not out.receptions or all(r.point == "wire" for r in out.receptions)
    elif topo.nodst_hit(src):
        assert got == Counter()
        assert points(out)["lower:stack"] == 0
    else:
        assert got == Counter({target: 1})
        (rec,) = [r for r in out.receptions if r.point == target]
        assert rec.pkttype == PktType.HOST
        assert points(out)["lower:stack"] == 0
    if not topo.nic_drops_tag(tag):
        assert set(incoming(out, topo.macvlan_names())) - set(non_source) == topo.source_copies(src)


@SETTINGS
@given(sc=scenarios(), data=st.data())
def test_external_broadcast_reaches_every_up_non_source_device_once(sc, data):
    topo = Topo(sc)
    assume(topo.port is not None)
    src = data.draw(st.sampled_from(EXT_POOL))
    tag = data.draw(st.sampled_from(TAGS))
    out = Engine(topo.host).rx(build_frame(BCAST, src, tag))
    if topo.nic_drops_tag(tag):
        assert not any(r.point != "wire" for r in out.receptions)
        return
    non_source = [n for n in topo.macvlan_names() if topo.dev(n).mode != Mode.SOURCE]
    got = incoming(out, non_source)
    if topo.nodst_hit(src):
        assert got == Counter()
        assert points(out)["lower:stack"] == 0
    else:
        queued_and_full = topo.cutoff() >= 0 and topo.queue_len_used() == 0
        expected = set() if queued_and_full else topo.up_non_source()
        assert got == Counter(dict.fromkeys(expected, 1))
        for r in out.receptions:
            if r.point in expected:
                assert r.pkttype == PktType.BROADCAST
        assert points(out)["lower:stack"] == 1
    sources = incoming(out, set(topo.macvlan_names()) - set(non_source))
    assert sources == Counter(dict.fromkeys(topo.source_copies(src), 1))


@SETTINGS
@given(sc=scenarios(), data=st.data())
def test_group_frame_from_private_source_or_passthru_returns_to_sender_only(sc, data):
    topo = Topo(sc)
    senders = sorted(
        n
        for n in topo.macvlan_names()
        if topo.dev(n).up and topo.dev(n).mode in (Mode.PRIVATE, Mode.SOURCE, Mode.PASSTHRU)
    )
    assume(senders)
    sender = data.draw(st.sampled_from(senders))
    dst = data.draw(st.sampled_from([BCAST, *GROUPS]))
    src = topo.dev(sender).mac
    out = Engine(topo.host).rx(build_frame(dst, src))
    got = incoming(out, topo.macvlan_names())
    copies = topo.source_copies(src)
    if topo.nic and dst != BCAST and not (topo.host.lower.promisc or topo.host.lower.allmulti_flag):
        assume(False)  # the NIC's multicast filter decides first; covered by the rule tests
    if topo.nodst_hit(src):
        assert got == Counter(dict.fromkeys(copies, 1))
    else:
        want = Counter(dict.fromkeys(copies, 1))
        want[sender] += 1
        assert got == want
        assert points(out)["lower:stack"] == 0
        (rec,) = [r for r in out.receptions if r.point == sender and "M3" in " ".join(r.path)]
        assert rec.pkttype == (PktType.BROADCAST if dst == BCAST else PktType.MULTICAST)


def _expected_bytes(rec) -> int:
    path = " ".join(rec.path)
    if "M3 " in path:
        return 0  # return to sender: 1 packet, 0 bytes
    if any(step.startswith("B bridge flood") for step in rec.path):
        return len(rec.wire_bytes) + 14  # bridge-local copy: frame + 14
    return len(rec.data)  # frame minus the out-of-band tag


@SETTINGS
@given(
    sc=scenarios(),
    frames=st.lists(frame_specs, min_size=1, max_size=6),
    hairpin=st.booleans(),
    drain=st.sampled_from(["frame", "manual"]),
)
def test_counters_match_receptions(sc, frames, hairpin, drain):
    """Sum of macvlan rx_packets deltas = receptions at macvlan taps that were counted (every
    incoming one: U7, flood copies, bridge-local copies, source copies, return to sender);
    rx_bytes and multicast follow §12; running totals are the sums of per-frame deltas. With
    a manual drain, queued copies are attributed to their own frame when the queue runs."""
    topo = Topo(sc)
    eng = Engine(topo.host, hairpin=hairpin, drain=drain)
    names = topo.macvlan_names()
    outs = []
    for dst, src, tag, point in frames:
        if point != "wire" and point not in topo.host.devices:
            point = "wire"
        outs.append(eng.inject(point, build_frame(dst, src, tag), socket=point != "wire"))
    eng.run_workqueue()
    summed: dict[str, Counter] = {}
    for out in outs:
        assert out.pending == 0
        recs = [r for r in out.receptions if r.point in names and r.pkttype != PktType.OUTGOING]
        rx_packets = sum(out.counters.get(n, {}).get("rx_packets", 0) for n in names)
        assert rx_packets == len(recs)
        rx_bytes = sum(out.counters.get(n, {}).get("rx_bytes", 0) for n in names)
        assert rx_bytes == sum(_expected_bytes(r) for r in recs)
        flooded = [r for r in recs if any(s.startswith("B ") for s in r.path)]
        assert sum(out.counters.get(n, {}).get("multicast", 0) for n in names) == len(flooded)
        assert all(out.counters.get(n, {}).get("rx_errors", 0) == 0 for n in names)
        for dev, fields in out.counters.items():
            summed.setdefault(dev, Counter()).update(fields)
    totals = {d: c for d, c in eng.counters.nonzero_totals().items() if c}
    assert totals == {d: dict(c) for d, c in summed.items() if any(c.values())}


@settings(max_examples=40, deadline=None)
@given(sc=scenarios(), frames=st.lists(frame_specs, min_size=1, max_size=5))
def test_run_scenario_is_deterministic(sc, frames):
    sc = dict(sc)
    sc["frames"] = [
        {"inject": point, "hex": build_frame(dst, src, tag).hex(), "note": f"f{i}"}
        for i, (dst, src, tag, point) in enumerate(frames)
    ]
    text = json.dumps(sc)
    first = run_scenario(json.loads(text))
    second = run_scenario(json.loads(text))
    assert first == second
    assert json.loads(json.dumps(first)) == first


@SETTINGS
@given(sc=scenarios())
def test_port_bookkeeping_matches_configuration(sc):
    """bc_queue_len_used is the max over all devices (down ones included); vlan_hash holds
    exactly the UP devices; no two UP devices share a MAC; a non-passthru UP device never has
    L's MAC."""
    topo = Topo(sc)
    if topo.port is None:
        return
    assert topo.port.bc_queue_len_used == topo.queue_len_used()
    up = [topo.dev(n) for n in topo.macvlan_names() if topo.dev(n).up]
    hashed = list(topo.port.hashed_devices())
    assert sorted(d.name for d in hashed) == sorted(d.name for d in up)
    if not topo.port.passthru:
        macs = [d.mac for d in up]
        assert len(macs) == len(set(macs))
        assert L_MAC not in macs
    else:
        assert len(topo.created) == 1
        assert topo.dev(topo.created[0]["name"]).mac == topo.host.lower.mac
