"""``diagnose``: answers to the questions people bring, each proved by frames run through the
engine on a copy of the user's topology.

Every verdict names the frames that prove it and what the engine did with them (the rule ids
of the decision record). Nothing here predicts a delivery by itself: a check builds a frame,
runs it, and reads the outcome.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.io.topology import Topology
from macvlan_sim.model.constants import Mode
from macvlan_sim.model.devices import MacvlanDevice, NetDevice
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.host import WIRE_NAME, Host
from macvlan_sim.model.mac import format_mac, parse_mac
from macvlan_sim.teach.story import got, one_line

PROBLEM, NOTE, OK, NOT_APPLICABLE = "problem", "note", "ok", "not applicable"
STRANGER = parse_mac("0a:00:00:00:99:99")
OUTSIDER = parse_mac("0a:00:00:00:00:42")


@dataclass
class Evidence:
    """A frame, where it was sent, and what the engine did with it."""

    frame: bytes
    inject: str
    outcome: str
    rules: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "inject": self.inject,
            "hex": self.frame.hex(),
            "outcome": self.outcome,
            "rules": self.rules,
        }


@dataclass
class Verdict:
    question: str
    status: str
    finding: str
    evidence: list[Evidence] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "status": self.status,
            "finding": self.finding,
            "evidence": [e.as_json() for e in self.evidence],
        }


class _Lab:
    """Runs frames on fresh copies of the user's host and keeps the evidence."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo

    def engine(self, host: Host | None = None, **options: Any) -> Engine:
        kwargs: dict[str, Any] = {"drain": "frame", "hairpin": self.topo.hairpin}
        kwargs.update(options)
        return Engine(host or copy.deepcopy(self.topo.host), **kwargs)

    @staticmethod
    def send(eng: Engine, inject: str, frame: Ether, title: str) -> tuple[FrameOutcome, Evidence]:
        data = bytes(frame)
        out = eng.rx(data) if inject == WIRE_NAME else eng.inject(inject, data)
        rules = list(dict.fromkeys(_rules(out)))
        return out, Evidence(data, inject, one_line(title, out), rules)


def _rules(out: FrameOutcome) -> Iterable[str]:
    from macvlan_sim.datapath.rules import rule_of

    for rec in out.receptions:
        for step in rec.path:
            rule = rule_of(step)
            if rule:
                yield rule
    for drop in out.drops:
        yield drop.rule


def _ping(src: bytes, dst: bytes) -> Ether:
    return Ether(src=format_mac(src), dst=format_mac(dst)) / IP(dst="192.0.2.1") / ICMP()


def _up_macvlans(host: Host) -> list[MacvlanDevice]:
    return [d for d in host.macvlans() if d.up and d.port is not None]


def _pair_on_one_port(host: Host, mode: Mode) -> tuple[MacvlanDevice, MacvlanDevice] | None:
    """Two UP macvlans of ``mode`` on the same port, if there are."""
    by_port: dict[int, list[MacvlanDevice]] = {}
    for dev in _up_macvlans(host):
        if dev.mode == mode:
            by_port.setdefault(id(dev.port), []).append(dev)
    return next(((d[0], d[1]) for d in by_port.values() if len(d) >= 2), None)


# ---------------------------------------------------------------------- the questions
def host_child_reachability(lab: _Lab) -> Verdict:
    q = "Can the host reach its macvlan children (and they it)?"
    host = lab.topo.host
    child = next((d for d in _up_macvlans(host) if d.mode != Mode.PASSTHRU), None)
    if child is None:
        return Verdict(q, NOT_APPLICABLE, "no UP macvlan (other than passthru) to reach")
    lower = child.port_lower
    assert child.port is not None and lower is not None
    eng = lab.engine()
    down, ev1 = lab.send(
        eng, lower.name, _ping(lower.mac, child.mac), f"{lower.name} to {child.name}"
    )
    up, ev2 = lab.send(
        eng, child.name, _ping(child.mac, lower.mac), f"{child.name} to {lower.name}"
    )
    reached = child.name in got(down) or f"{lower.name}:stack" in got(up)
    if reached:
        return Verdict(q, OK, f"{lower.name} and {child.name} reach each other", [ev1, ev2])
    finding = (
        f"{lower.name} cannot reach {child.name}: what it sends to a child goes out on the wire, "
        f"and what a child sends to {lower.name}'s MAC leaves on the wire too (T3/T4)"
    )
    fix = _check_host_macvlan(lab, child)
    return Verdict(q, PROBLEM, finding + "; " + fix[0], [ev1, ev2, *fix[1]])


def _check_host_macvlan(lab: _Lab, child: MacvlanDevice) -> tuple[str, list[Evidence]]:
    """The usual fix: give the host a bridge macvlan of its own on the same lower; checked."""
    host = copy.deepcopy(lab.topo.host)
    lower = child.port_lower
    assert lower is not None
    name = "hostmv"
    while name in host.devices:
        name += "_"
    mac = bytes.fromhex("02feedbeef01")
    host.add_macvlan(name, lower.name, mode=Mode.BRIDGE, mac=mac)
    try:
        host.set_up(name)
    except KernelError as exc:
        return f"the usual fix (a macvlan for the host) could not be added: {exc}", []
    eng = lab.engine(host)
    out, ev = lab.send(eng, child.name, _ping(child.mac, mac), f"{child.name} to {name}")
    if name in got(out):
        return (
            f"fix checked: a bridge macvlan {name} on {lower.name} for the host's address "
            f"is reached from {child.name}",
            [ev],
        )
    return (
        f"a bridge macvlan {name} for the host does not help {child.name} ({child.mode} mode "
        "sends everything out: it needs a hairpin switch or bridge mode)",
        [ev],
    )


def vepa_without_hairpin(lab: _Lab) -> Verdict:
    q = "Can VEPA siblings talk to each other?"
    pair = _pair_on_one_port(lab.topo.host, Mode.VEPA)
    if pair is None:
        return Verdict(q, NOT_APPLICABLE, "no two UP VEPA macvlans share a lower")
    a, b = pair
    frame = _ping(a.mac, b.mac)
    off, ev_off = lab.send(lab.engine(hairpin=False), a.name, frame, "without a hairpin")
    on, ev_on = lab.send(lab.engine(hairpin=True), a.name, frame, "with a hairpin switch")
    if b.name in got(off):
        return Verdict(q, OK, f"{a.name} reaches {b.name} directly", [ev_off])
    status = OK if lab.topo.hairpin else PROBLEM
    finding = (
        f"{a.name} to {b.name}: VEPA sends everything out the lower (T4); only a hairpin "
        f"switch brings it back ({'delivered' if b.name in got(on) else 'still lost'} with one)"
        + ("; this topology has the hairpin on" if lab.topo.hairpin else "")
    )
    return Verdict(q, status, finding, [ev_off, ev_on])


def lower_promiscuous(lab: _Lab) -> Verdict:
    q = "Did the lower go promiscuous?"
    lower = lab.topo.host.lower
    assert lower is not None
    uc = lower.uc_addresses()
    eng = lab.engine()
    out, ev = lab.send(eng, WIRE_NAME, _ping(OUTSIDER, STRANGER), "unicast for a stranger's MAC")
    accepted = f"{lower.name}:stack" in got(out)
    if lower.has_unicast_filter:
        slots = lower.filter_slots or 0
        state = f"{len(uc)} unicast MACs for {slots} filter slots"
        over = len(uc) > slots or lower.promisc
        finding = f"{lower.name} is a NIC with {state}: " + (
            "it accepts every unicast frame (filter overflow)" if over else "it filters"
        )
    else:
        over = lower.promisc
        finding = (
            f"{lower.name} has no unicast filter: with {len(uc)} macvlan MACs in its list it is "
            + ("promiscuous" if lower.promisc else "not promiscuous")
        )
    finding += "; a frame for a stranger's MAC is " + ("accepted" if accepted else "rejected")
    return Verdict(q, PROBLEM if over else OK, finding, [ev])


def broadcast_queue(lab: _Lab, trace: list[bytes] | None, service_every: int) -> Verdict:
    """Replay the trace (or a burst of broadcasts) with the workqueue running only every
    ``service_every`` frames: does the queue overflow (Q1)?"""
    q = f"Are broadcasts dropped when the workqueue runs every {service_every} frames?"
    host = copy.deepcopy(lab.topo.host)
    ports = [d.rx_port for d in host.devices.values() if d.rx_port is not None]
    if not ports:
        return Verdict(q, NOT_APPLICABLE, "no macvlan port")
    if trace is None:
        size = max(p.bc_queue_len_used for p in ports) + 1
        frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=format_mac(OUTSIDER)) / ARP())
        count = max(size, service_every)
        frames, what = [frame] * count, f"a burst of {count} broadcasts"
    else:
        frames, what = trace, "the trace"
    eng = lab.engine(host, drain="manual", keep_paths=False)
    drops, first = 0, None
    for i, data in enumerate(frames):
        out = eng.rx(data)
        lost = sum(1 for d in out.drops if d.rule == "Q1")
        if lost and first is None:
            first = (i, data, out)
        drops += lost
        if (i + 1) % service_every == 0:
            eng.run_workqueue()
    eng.run_workqueue()
    sizes = ", ".join(f"{p.lower.name} {p.bc_queue_len_used}" for p in ports)
    if not drops:
        return Verdict(q, OK, f"{what} ({len(frames)} frames) fits the queues ({sizes})")
    i, data, out = first  # type: ignore[misc]
    ev = Evidence(data, WIRE_NAME, one_line(f"frame {i}", out), ["Q1"])
    finding = (
        f"{what}: {drops} broadcasts dropped (Q1, counted in the lower's rx_dropped), "
        f"first at frame {i}; queue lengths {sizes}. Raise bcqueuelen, or run the workqueue "
        "more often (a faster CPU)"
    )
    return Verdict(q, PROBLEM, finding, [ev])


def source_black_holes(lab: _Lab) -> Verdict:
    q = "Do source-mode devices black-hole traffic (nodst)?"
    host = lab.topo.host
    holes = []
    evidence = []
    for dev in host.macvlans():
        if dev.mode != Mode.SOURCE or dev.port is None:
            continue
        target = next(
            (d for d in _up_macvlans(host) if d.port is dev.port and d.mode != Mode.SOURCE), None
        )
        for src in dev.port.source_list(dev):
            dst = target.mac if target else STRANGER
            out, ev = lab.send(
                lab.engine(),
                WIRE_NAME,
                _ping(src, dst),
                f"from listed {format_mac(src)} to {target.name if target else 'a stranger'}",
            )
            evidence.append(ev)
            if any(d.rule in ("U1", "M2") for d in out.drops):
                holes.append(
                    f"{format_mac(src)} (listed by {dev.name}{'' if dev.up else ', down'})"
                )
            break
    if not evidence:
        return Verdict(q, NOT_APPLICABLE, "no source-mode device lists a MAC")
    if holes:
        finding = (
            "frames from " + ", ".join(holes) + " are consumed after the source copies: "
            "their destination never gets them (nodst, U1/M2; a down nodst device still "
            "consumes)"
        )
        return Verdict(q, PROBLEM, finding, evidence)
    return Verdict(
        q, OK, "source copies are made and the frames go on to their destination", evidence
    )


def mac_conflicts(lab: _Lab) -> Verdict:
    q = "Do devices share a MAC address?"
    owners: dict[bytes, list[NetDevice]] = {}
    for dev in lab.topo.host.devices.values():
        if dev.kind != "wire":
            owners.setdefault(dev.mac, []).append(dev)
    # A VLAN device inheriting its real device's MAC is the normal case, not a conflict.
    shared = {
        mac: devs
        for mac, devs in owners.items()
        if sum(1 for d in devs if isinstance(d, MacvlanDevice)) >= 1 and len(devs) > 1
    }
    if not shared:
        return Verdict(q, OK, "every macvlan has a MAC of its own")
    evidence, parts = [], []
    for mac, devs in shared.items():
        out, ev = lab.send(
            lab.engine(), WIRE_NAME, _ping(OUTSIDER, mac), f"unicast to {format_mac(mac)}"
        )
        evidence.append(ev)
        names = [d.name for d in devs]
        winners = sorted(got(out) & set(names)) or ["the lower's stack"]
        parts.append(
            f"{format_mac(mac)} on {', '.join(names)}: a frame for it reaches " + ", ".join(winners)
        )
    return Verdict(q, PROBLEM, "; ".join(parts), evidence)


def private_unicast_leak(lab: _Lab) -> Verdict:
    q = "Does private mode isolate its devices?"
    pair = _pair_on_one_port(lab.topo.host, Mode.PRIVATE)
    if pair is None:
        return Verdict(q, NOT_APPLICABLE, "no two UP private macvlans share a lower")
    a, b = pair
    eng = lab.engine(hairpin=True)
    bc, ev_bc = lab.send(
        eng,
        a.name,
        Ether(src=format_mac(a.mac), dst="ff:ff:ff:ff:ff:ff") / ARP(),
        "broadcast through a hairpin",
    )
    uc, ev_uc = lab.send(eng, a.name, _ping(a.mac, b.mac), "unicast through a hairpin")
    leak = b.name in got(uc)
    finding = (
        f"behind a hairpin switch {b.name} "
        + ("does not get" if b.name not in got(bc) else "gets")
        + f" {a.name}'s broadcasts (M3) but "
        + (
            "does get its unicast (U7): private isolates group frames only"
            if leak
            else "not its unicast either"
        )
    )
    return Verdict(q, PROBLEM if leak else OK, finding, [ev_bc, ev_uc])


def down_devices(lab: _Lab) -> Verdict:
    q = "Are devices down, and what happens to their traffic?"
    host = lab.topo.host
    down = [d for d in host.devices.values() if not d.up and d.kind != "wire"]
    if not down:
        return Verdict(q, OK, "every device is up")
    evidence, parts = [], []
    for dev in down:
        out, ev = lab.send(
            lab.engine(), WIRE_NAME, _ping(OUTSIDER, dev.mac), f"unicast to {dev.name}"
        )
        evidence.append(ev)
        where = sorted(got(out, wire=False)) or ["nobody"]
        parts.append(f"{dev.name} is down; a frame for its MAC ends at " + ", ".join(where))
    return Verdict(q, NOTE, "; ".join(parts), evidence)


def diagnose(
    topo: Topology, trace: list[bytes] | None = None, *, service_every: int = 64
) -> list[Verdict]:
    """Every question, answered on ``topo`` (and ``trace`` for the queue question)."""
    if service_every < 1:
        raise SimError("--service-every must be at least 1")
    lab = _Lab(topo)
    return [
        host_child_reachability(lab),
        vepa_without_hairpin(lab),
        lower_promiscuous(lab),
        broadcast_queue(lab, trace, service_every),
        source_black_holes(lab),
        mac_conflicts(lab),
        private_unicast_leak(lab),
        down_devices(lab),
    ]
