"""Frame classes and their outcomes, as the exact engine decides them.

The fast path never decides where a frame goes. It groups frames into *classes*: frames with
equal decision-relevant fields (see :mod:`macvlan_sim.fast.kernels` for the key: destination
and source — a unicast address the model never stores stands for every such address —, the
tag stack and ethertype as far as the receive path looks, and a length class bounded by every
length the rules test). For each class it runs the exact engine on two members of the class —
the first seen, and the last member of the chunk where the class first appears; when that one
has the first's length (or is the first), the second probe is the first padded or trimmed by
one byte within its length class instead, so byte counters can be told from packet counters —
and reads off the outcome: receptions (point, pkt_type, how the bytes differ from the input),
drops, fate, and every counter as ``slope * length + intercept``. If the two probes do not
agree on that structure, the class is handed to the exact engine frame by frame: the answer
stays the engine's.

Why this is complete: every rule compares unicast addresses for equality only (hash tables,
``dst == dev.mac``, NIC lists), so two unicast addresses absent from the model are
interchangeable; group addresses are kept whole (filters hash them); lengths matter only at
the thresholds collected by :func:`length_thresholds`; nothing else of a frame is read except
by IPv4 group reassembly, whose candidates are sent to the exact engine. The identity tests
(corpus and hypothesis) check it; the probes double-check it on every class of every run.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.fast import kernels
from macvlan_sim.fast.kernels import MAX_TAGS
from macvlan_sim.io.capture import MAX_CAPLEN
from macvlan_sim.io.replay import fate_of
from macvlan_sim.model.constants import ETH_HLEN, VLAN_HLEN
from macvlan_sim.model.host import Host

_ADDR = 12  # destination and source: never rewritten by the datapath


def address_universe(host: Host) -> np.ndarray:
    """Every 6-byte value stored anywhere in the model (device, list, filter, source entry…),
    as the hash set the classifier reads. Found by walking the model's objects rather than
    by listing fields, so an address a future rule keeps is found too."""
    seen: set[int] = set()
    found: set[int] = set()
    todo: deque[Any] = deque([host])
    while todo:
        obj = todo.popleft()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, bytes | bytearray):
            if len(obj) == 6:
                found.add(int.from_bytes(obj, "big"))
        elif isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            todo.extend(obj)
        elif type(obj).__module__.startswith("macvlan_sim"):
            slots = getattr(type(obj), "__slots__", ())
            todo.extend(getattr(obj, s) for s in slots if hasattr(obj, s))
            todo.extend(getattr(obj, "__dict__", {}).values())
    values = np.array(sorted(found), dtype=np.uint64)
    size = 16
    while size < 4 * len(values):
        size *= 2
    table = np.zeros(size, dtype=np.uint64)
    kernels.fill_set(values, table)
    return table


def length_classes(host: Host) -> np.ndarray:
    """Length class of every length a record can have (``lclass[len]``)."""
    lengths = np.arange(MAX_CAPLEN + 1)
    return np.searchsorted(length_thresholds(host), lengths).astype(np.int16)


def length_thresholds(host: Host) -> np.ndarray:
    """Lengths ``t`` such that some rule treats ``len > t`` differently: a tag pulled from a
    frame shorter than 20 bytes, and MTU checks (with room for up to the tags the key keeps)."""
    values = {ETH_HLEN + VLAN_HLEN + 1 + VLAN_HLEN * k for k in range(MAX_TAGS + 2)}
    for dev in host.devices.values():
        values.update(dev.mtu + ETH_HLEN + VLAN_HLEN * k for k in range(MAX_TAGS + 2))
    return np.array(sorted(values), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class ClassReception:
    """A copy every frame of the class makes: the bytes are the input's first 12, then
    ``middle``, then the input from ``12 + cut`` on (a tag pulled: cut 4; pushed: middle)."""

    point: str
    pkttype: str
    queued: bool
    cut: int
    middle: bytes
    #: reception.wire_len - len(input): what the point's byte count adds per frame (the
    #: length a capture at that point records, tags in band).
    data_delta: int


@dataclass
class ClassOutcome:
    """What every frame of one class does; ``scalar`` classes go to the exact engine."""

    scalar: str = ""
    receptions: tuple[ClassReception, ...] = ()
    drops: tuple[str, ...] = ()
    #: Per drop: None, or ``d`` when the reason names the frame's length plus ``d`` (an MTU
    #: drop says "frame of N bytes"): then ``drops[i]`` is a template with ``{n}``.
    drop_lengths: tuple[int | None, ...] = ()
    #: Per drop: (rule id, device where the copy died), as the replay statistics key them.
    drop_sites: tuple[tuple[str, str], ...] = ()
    fate: str = ""
    #: (device, field) -> (slope, intercept): the counter moves by slope * len + intercept.
    counters: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    @property
    def lengthwise(self) -> bool:
        """Does a drop reason name the frame's length (so examples need each length)?"""
        return any(d is not None for d in self.drop_lengths)


def _transform(injected: bytes, wire: bytes) -> tuple[int, bytes] | None:
    """(cut, middle) with ``wire == injected[:12] + middle + injected[12 + cut:]`` and the
    longest common tail (found by bisection: a common tail's every suffix is common too)."""
    if wire[:_ADDR] != injected[:_ADDR]:
        return None
    a, b = injected[_ADDR:], wire[_ADDR:]
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return len(a) - lo, b[: len(b) - lo]


def _shape(out: FrameOutcome, lower: str) -> ClassOutcome | None:
    """The outcome of one probe in class form, or None if it cannot be one."""
    if out.pending:
        return None
    receptions = []
    for r in out.receptions:
        t = _transform(out.injected, r.wire_bytes)
        if t is None:
            return None
        cut, middle = t
        receptions.append(
            ClassReception(
                r.point, r.pkttype.word, r.queued, cut, middle, r.wire_len - len(out.injected)
            )
        )
    return ClassOutcome(
        receptions=tuple(receptions),
        drops=tuple(d.reason for d in out.drops),
        drop_lengths=(None,) * len(out.drops),
        drop_sites=tuple((d.rule, d.point) for d in out.drops),
        fate=fate_of(out, lower),
    )


def _applies(shape: ClassOutcome, out: FrameOutcome) -> bool:
    """Does ``shape`` (from one probe) give exactly ``out``'s receptions (another probe)?"""
    if len(shape.receptions) != len(out.receptions):
        return False
    inp = out.injected
    for cr, r in zip(shape.receptions, out.receptions, strict=True):
        built = inp[:_ADDR] + cr.middle + inp[_ADDR + cr.cut :]
        if built != r.wire_bytes or r.wire_len - len(inp) != cr.data_delta:
            return False
    return True


class _ProbeEngine(Engine):
    """The exact engine, noting whether a frame used a broadcast queue at all (even when the
    flood then reached nobody): under a stateful queue such a frame's fate depends on the
    frames before it."""

    used_queue = False

    def queued(self, skb: Any, port: Any) -> None:
        self.used_queue = True
        super().queued(skb, port)


class ClassBook:
    """Outcomes of the classes met so far, computed by the exact engine. When the broadcast
    queue carries state from frame to frame, probes run on a private copy of the host, so
    they cannot disturb the queues the exact engine keeps for the frames it takes; otherwise
    every queue is empty between frames and the host itself serves."""

    def __init__(self, host: Host, *, hairpin: bool, queue_is_state: bool) -> None:
        self.thresholds = length_thresholds(host)
        self.lclass_of = length_classes(host)
        probe_host = copy.deepcopy(host) if queue_is_state else host
        self.engine = _ProbeEngine(probe_host, drain="frame", hairpin=hairpin, keep_paths=False)
        self.lower = host.lower.name if host.lower else "lower"
        self.queue_is_state = queue_is_state
        self.outcomes: list[ClassOutcome] = []

    def __len__(self) -> int:
        return len(self.outcomes)

    def scalar_flags(self) -> np.ndarray:
        return np.array([bool(o.scalar) for o in self.outcomes], dtype=bool)

    def add(self, first: bytes | None, other: bytes | None, reason: str = "") -> ClassOutcome:
        """Probe a new class with two members (``other`` may equal ``first``)."""
        outcome = ClassOutcome(scalar=reason) if reason else self._probe(first, other)
        self.outcomes.append(outcome)
        return outcome

    def _probe(self, first: bytes | None, other: bytes | None) -> ClassOutcome:
        assert first is not None and other is not None
        if len(other) == len(first):
            other = self._other_length(first)
        self.engine.used_queue = False
        out1 = self.engine.rx(first)
        out2 = self.engine.rx(other) if other != first else out1
        shape = _shape(out1, self.lower)
        if shape is None:
            return ClassOutcome(scalar="outcome not expressible per class")
        if self.queue_is_state and self.engine.used_queue:
            return ClassOutcome(scalar="broadcast queue carries state")
        drops = _drop_templates(out1, len(first), out2, len(other))
        if (
            out2.pending
            or not _applies(shape, out2)
            or drops is None
            or fate_of(out2, self.lower) != shape.fate
        ):
            return ClassOutcome(scalar="probes disagree")
        shape.drops, shape.drop_lengths = drops
        counters = _linear_counters(out1, len(first), out2, len(other))
        if counters is None:
            return ClassOutcome(scalar="counters not linear in length")
        shape.counters = counters
        return shape


    def _other_length(self, frame: bytes) -> bytes:
        """A member of the same class with another length (padded or trimmed by one byte), so
        that byte counters can be told apart from packet counters; the frame itself if the
        class holds one length only."""
        cls = np.searchsorted(self.thresholds, len(frame))
        if np.searchsorted(self.thresholds, len(frame) + 1) == cls:
            return frame + b"\0"
        if np.searchsorted(self.thresholds, len(frame) - 1) == cls and len(frame) > ETH_HLEN:
            return frame[:-1]
        return frame


_NUMBER = re.compile(r"\d+")


def _drop_templates(
    out1: FrameOutcome, len1: int, out2: FrameOutcome, len2: int
) -> tuple[tuple[str, ...], tuple[int | None, ...]] | None:
    """The two probes' drop reasons as one list: equal reasons stay, reasons that differ only
    in a number that is each probe's length plus the same ``d`` become a template. None if
    the probes' drops differ otherwise."""
    r1 = [d.reason for d in out1.drops]
    r2 = [d.reason for d in out2.drops]
    if [(d.rule, d.point) for d in out1.drops] != [(d.rule, d.point) for d in out2.drops]:
        return None
    texts: list[str] = []
    offsets: list[int | None] = []
    for a, b in zip(r1, r2, strict=True):
        if a == b:
            texts.append(a)
            offsets.append(None)
            continue
        if _NUMBER.split(a) != _NUMBER.split(b):
            return None
        na = [int(x) for x in _NUMBER.findall(a)]
        nb = [int(x) for x in _NUMBER.findall(b)]
        varying = {x - len1 for x, y in zip(na, nb, strict=True) if x != y}
        if len(varying) != 1 or any(y - x != len2 - len1 for x, y in zip(na, nb, strict=True)
                                    if x != y):
            return None
        d = varying.pop()
        parts = _NUMBER.split(a.replace("{", "{{").replace("}", "}}"))
        numbers = ["{n}" if x != y else str(x) for x, y in zip(na, nb, strict=True)]
        texts.append("".join(p + (numbers[i] if i < len(numbers) else "")
                             for i, p in enumerate(parts)))
        offsets.append(d)
    return tuple(texts), tuple(offsets)


def _linear_counters(
    out1: FrameOutcome, len1: int, out2: FrameOutcome, len2: int
) -> dict[tuple[str, str], tuple[int, int]] | None:
    keys = {(d, f) for d, c in out1.counters.items() for f in c}
    keys |= {(d, f) for d, c in out2.counters.items() for f in c}
    result: dict[tuple[str, str], tuple[int, int]] = {}
    for dev, fld in sorted(keys):
        v1 = out1.counters.get(dev, {}).get(fld, 0)
        v2 = out2.counters.get(dev, {}).get(fld, 0)
        if len1 == len2:
            if v1 != v2:
                return None
            slope = 0
        else:
            slope, rem = divmod(v2 - v1, len2 - len1)
            if rem:
                return None
        result[(dev, fld)] = (slope, v1 - slope * len1)
    return result
