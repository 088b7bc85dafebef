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
from macvlan_sim.io.replay import Record, feed_record
from macvlan_sim.io.topology import Topology
from macvlan_sim.model.constants import Mode
from macvlan_sim.model.devices import MacvlanDevice, NetDevice, VlanDevice
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.host import WIRE_NAME, Host
from macvlan_sim.model.mac import format_mac, parse_mac
from macvlan_sim.model.nic import unicast_overflow
from macvlan_sim.teach.explain import Explanation
from macvlan_sim.teach.story import got, one_line, received

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
        rules = Explanation(out, eng.host).rules
        return out, Evidence(data, inject, one_line(title, out), rules)


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
    there = child.name in got(down)
    back = f"{lower.name}:stack" in got(up)
    if there and back:
        return Verdict(q, OK, f"{lower.name} and {child.name} reach each other", [ev1, ev2])
    if not there and not back:
        finding = (
            f"{lower.name} cannot reach {child.name}: what it sends to a child goes out on the "
            f"wire, and what a child sends to {lower.name}'s MAC leaves on the wire too (T3/T4)"
        )
    elif not there:
        finding = (
            f"{child.name} reaches {lower.name}, but not the other way: what {lower.name} sends "
            f"to {child.name} goes out on the wire"
        )
    else:
        finding = (
            f"{lower.name} reaches {child.name}, but not the other way: what {child.name} sends "
            f"to {lower.name}'s MAC does not reach {lower.name}'s stack"
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
    """The lower's promiscuity as the model keeps it (the kernel's reference count: passthru,
    an unfilterable unicast list, the user), and the engine's proof: where a unicast frame
    for a MAC nobody owns ends (rejected by a NIC filter, L2, or received somewhere)."""
    q = "Did the lower go promiscuous?"
    lower = lab.topo.host.lower
    assert lower is not None
    eng = lab.engine()
    out, ev = lab.send(eng, WIRE_NAME, _ping(OUTSIDER, STRANGER), "unicast for a stranger's MAC")
    rejected = any(d.rule == "L2" for d in out.drops)
    where = ", ".join(f"{r.point} ({r.pkttype.word})" for r in received(out)) or "nobody"
    macs = f"{len(lower.uc_addresses())} unicast MACs in its list"
    if lower.has_unicast_filter:
        slots = lower.filter_slots
        kind = f"a NIC with {slots} filter slot{'' if slots == 1 else 's'} and {macs}"
        if unicast_overflow(lower):
            kind += ": the list overflows its filter, which then accepts every unicast frame"
    else:
        kind = f"without a unicast filter, with {macs}"
    finding = f"{lower.name} ({kind}) is " + ("promiscuous" if lower.promisc else "not promiscuous")
    if rejected:
        finding += "; a frame for a stranger's MAC is rejected by its filter (L2)"
    else:
        finding += f"; a frame for a stranger's MAC gets in: it reaches {where}"
    takes_all = lower.promisc or (lower.has_unicast_filter and not rejected)
    return Verdict(q, PROBLEM if takes_all else OK, finding, [ev])


def broadcast_queue(lab: _Lab, trace: Iterable[Record] | None, service_every: int) -> Verdict:
    """Replay the trace (or a burst of broadcasts) with the workqueue running only every
    ``service_every`` frames: does the queue overflow (Q1)? The trace is read as a stream
    and fed as replay feeds it (timestamps, original lengths)."""
    q = f"Are broadcasts dropped when the workqueue runs every {service_every} frames?"
    host = copy.deepcopy(lab.topo.host)
    ports = [d.rx_port for d in host.devices.values() if d.rx_port is not None]
    if not ports:
        return Verdict(q, NOT_APPLICABLE, "no macvlan port")
    eng = lab.engine(host, drain="manual", keep_paths=False)
    if trace is None:
        size = max(p.bc_queue_len_used for p in ports) + 1
        frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=format_mac(OUTSIDER)) / ARP())
        count = max(size, service_every)
        outcomes = (eng.rx(frame) for _ in range(count))
        what = f"a burst of {count} broadcasts"
    else:
        outcomes = (feed_record(eng, r.data, r.timestamp_ns, r.orig_len) for r in trace)
        what = "the trace"
    drops, frames, first = 0, 0, None
    for i, out in enumerate(outcomes):
        frames += 1
        lost = sum(1 for d in out.drops if d.rule == "Q1")
        if lost and first is None:
            first = (i, out)
        drops += lost
        if (i + 1) % service_every == 0:
            eng.run_workqueue()
    eng.run_workqueue()
    sizes = ", ".join(f"{p.lower.name} {p.bc_queue_len_used}" for p in ports)
    if not drops:
        return Verdict(q, OK, f"{what} ({frames} frames) fits the queues ({sizes})")
    i, out = first  # type: ignore[misc]
    ev = Evidence(out.injected, WIRE_NAME, one_line(f"frame {i}", out), ["Q1"])
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
    owners: dict[bytes, dict[str, list[NetDevice]]] = {}
    for dev in lab.topo.host.devices.values():
        if dev.kind != "wire":
            by_origin = owners.setdefault(dev.mac, {})
            by_origin.setdefault(_mac_origin(dev).name, []).append(dev)
    # A MAC is in conflict when devices that did not inherit it from one another share it.
    shared = {
        mac: [d for devs in by_origin.values() for d in devs]
        for mac, by_origin in owners.items()
        if len(by_origin) > 1
        and any(isinstance(d, MacvlanDevice) for devs in by_origin.values() for d in devs)
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


def _mac_origin(dev: NetDevice) -> NetDevice:
    """The device ``dev``'s MAC comes from: a VLAN device inherits its real device's, a
    passthru macvlan its lower's (the kernel gives them the same address; not a conflict)."""
    while (
        dev.link is not None
        and dev.mac == dev.link.mac
        and (
            isinstance(dev, VlanDevice)
            or (isinstance(dev, MacvlanDevice) and dev.mode == Mode.PASSTHRU)
        )
    ):
        dev = dev.link
    return dev


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
    topo: Topology, trace: Iterable[Record] | None = None, *, service_every: int = 64
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
