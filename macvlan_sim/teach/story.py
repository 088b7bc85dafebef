"""Small readers of a :class:`FrameOutcome` for examples and diagnoses: who got a copy, what
left on the wire, one line per frame."""

from __future__ import annotations

from pathlib import Path

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome, Reception
from macvlan_sim.io.topology import load_topology, parse_topology
from macvlan_sim.model.host import WIRE_NAME


def engine_for(topology: str | Path, *, text: bool = False, **options: object) -> Engine:
    """An engine on a topology file (or text), with the file's own hairpin/drain options
    unless ``options`` override them."""
    topo = parse_topology(str(topology)) if text else load_topology(topology)
    return topo.engine(**options)


def received(out: FrameOutcome) -> list[Reception]:
    """Copies something received (taps on devices and stacks, and the far end of the cable),
    not the taps that saw a device send."""
    return [r for r in out.receptions if r.received]


def got(out: FrameOutcome, *, wire: bool = True) -> set[str]:
    """The points that received a copy."""
    return {r.point for r in received(out) if wire or r.point != WIRE_NAME}


def on_wire(out: FrameOutcome) -> list[Reception]:
    """What left the host: copies the far end of the cable received."""
    return [r for r in received(out) if r.point == WIRE_NAME]


def wire_vids(out: FrameOutcome) -> list[int | None]:
    """The outer VLAN id of each frame that left on the wire (None: untagged)."""
    return [r.vlan.vid if r.vlan is not None else None for r in on_wire(out)]


def one_line(title: str, out: FrameOutcome, only: set[str] | None = None) -> str:
    """``title: -> a (host), b (broadcast); dropped: reason [rule]``."""
    parts = []
    for rec in received(out):
        if only is not None and rec.point not in only:
            continue
        tag = f" tag {rec.vlan.vid}" if rec.vlan is not None else ""
        parts.append(f"{rec.point} ({rec.pkttype.word}{tag}{', hairpin' if rec.pass_ else ''})")
    line = f"{title}: -> " + (", ".join(parts) if parts else "nobody")
    if out.send != "ok":
        line += f"; send failed: {out.send}"
    drops = [f"{d.reason} [{d.rule}]" for d in out.drops]
    if drops:
        line += "; dropped: " + "; ".join(dict.fromkeys(drops))
    return line
