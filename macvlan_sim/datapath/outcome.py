"""The decision record: what happened to one input frame.

This is the one structure every consumer reads — the scenario runner and ``verify-kernel``
(receptions and counters), ``replay`` (per-point pcaps and statistics), callbacks, and the
explainer (each reception's ``path`` lists the spec rule ids and kernel functions that led
there). A vectorised path must produce the same receptions for the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from macvlan_sim.datapath.frame import VlanTag, count_tags, full_bytes
from macvlan_sim.datapath.reasons import Skip
from macvlan_sim.datapath.skb import render_trail
from macvlan_sim.model.constants import VLAN_HLEN, PktType


@dataclass(frozen=True, slots=True)
class Reception:
    """One copy of a frame seen at an observation point.

    ``point`` is a device name (a tap on it), ``NAME:stack`` (the lower's or a VLAN device's
    own stack received it), or ``wire``. ``data`` is the bytes in band; ``vlan`` the outer tag
    held out of band at that point. ``queued`` says it came through the broadcast queue.
    ``missing`` is the tail the capture did not keep (snaplen), as given to ``Engine.rx``.
    """

    point: str
    pkttype: PktType
    data: bytes
    vlan: VlanTag | None = None
    pass_: int = 0
    queued: bool = False
    steps: tuple[tuple[str, tuple[object, ...]], ...] = ()
    frame_index: int = 0
    missing: int = 0

    @property
    def received(self) -> bool:
        """A copy something received (a tap or stack on a device, or the far end of the
        cable), not a tap seeing its device send (``OUTGOING``)."""
        return self.pkttype != PktType.OUTGOING

    @property
    def wire_len(self) -> int:
        """The copy's length as a capture at this point records it (``len``, tag in band),
        original bytes included when the input was snaplen-truncated."""
        return len(self.data) + (VLAN_HLEN if self.vlan is not None else 0) + self.missing

    @property
    def path(self) -> tuple[str, ...]:
        return render_trail(self.steps)

    @property
    def wire_bytes(self) -> bytes:
        """The frame as a capture with PACKET_AUXDATA shows it: the tag back in band."""
        return full_bytes(self.data, self.vlan)

    def as_scapy(self) -> Any:
        """The copy as a scapy ``Ether`` packet (tag in band, as a capture would show it)."""
        from scapy.layers.l2 import Ether

        return Ether(self.wire_bytes)

    def as_json(self, injected: bytes, *, extras: bool = True) -> dict[str, Any]:
        """The scenario-result form; ``hex``/``tagged``/``untagged`` relative to ``injected``."""
        out: dict[str, Any] = {"dev": self.point, "pkttype": self.pkttype.word}
        if self.pass_:
            out["pass"] = self.pass_
        if self.vlan is not None:
            out["vlan"] = self.vlan.as_json()
        full = self.wire_bytes
        if full != injected:
            out["hex"] = self.data.hex()
            diff = count_tags(full) - count_tags(injected)
            if diff > 0:
                out["tagged"] = diff
            elif diff < 0:
                out["untagged"] = -diff
        if extras:
            if self.queued:
                out["queued"] = True
            out["path"] = list(self.path)
        return out


@dataclass(frozen=True, slots=True)
class Drop:
    """A copy that died, where, why (in the kernel's terms) and under which rule."""

    point: str
    reason: str
    rule: str
    frame_index: int = 0
    pass_: int = 0
    #: The decision steps up to the drop (kept only with ``keep_paths``).
    steps: tuple[tuple[str, tuple[object, ...]], ...] = ()

    @property
    def path(self) -> tuple[str, ...]:
        return render_trail(self.steps)


@dataclass
class FrameOutcome:
    """Everything one input frame caused, grouped for reporting.

    ``pending`` counts copies still waiting in a broadcast queue: the outcome is complete
    when it is 0 (the workqueue has run).
    """

    index: int
    injected: bytes
    inject_point: str
    send: str = "ok"
    note: str = ""
    receptions: list[Reception] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Final resting places: (device, pkttype) of every copy a protocol layer got.
    finals: list[tuple[str, PktType]] = field(default_factory=list)
    pending: int = 0
    #: Devices passed over, where and why (recorded only while paths are kept).
    skips: list[Skip] = field(default_factory=list)

    def count(self, dev: str, fld: str, amount: int) -> None:
        if amount:
            per = self.counters.setdefault(dev, {})
            per[fld] = per.get(fld, 0) + amount

    def points(self) -> list[str]:
        return [r.point for r in self.receptions]

    @property
    def accounted(self) -> bool:
        """Every frame ends somewhere: a reception, a final delivery, a drop, or a send error."""
        return bool(self.receptions or self.drops or self.finals) or self.send != "ok"

    def as_json(self, *, extras: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "inject": self.inject_point}
        if self.note:
            out["note"] = self.note
        out["send"] = self.send
        out["receptions"] = [r.as_json(self.injected, extras=extras) for r in self.receptions]
        out["counters"] = {d: dict(c) for d, c in self.counters.items() if c}
        if extras and self.drops:
            out["drops"] = [
                {"point": d.point, "reason": d.reason, "rule": d.rule}
                | ({"pass": d.pass_} if d.pass_ else {})
                for d in self.drops
            ]
        return out
