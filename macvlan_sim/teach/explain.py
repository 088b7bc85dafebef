"""``explain``: one frame's way through the kernel, read from the engine's own decision record.

Nothing here decides where a frame goes. The engine runs the frame with decision paths kept;
its :class:`~macvlan_sim.datapath.outcome.FrameOutcome` holds every copy's path (rule ids and
kernel functions), the drops with theirs, the counters, and a :class:`Skip` for each device the
datapath passed over at a decision point. This module only arranges that record: a tree of the
paths (copies share the steps before they were cloned), the counters, and for every device
without a copy the reasons recorded for it — or, for a device no step reached, the reason
inherited from its link (which is itself in the record).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.datapath.reasons import Skip, WhyNot
from macvlan_sim.datapath.rules import RULES, rule_of
from macvlan_sim.io.replay import Record, feed_record
from macvlan_sim.model.devices import NetDevice
from macvlan_sim.model.errors import SimError
from macvlan_sim.model.host import WIRE_NAME, Host


@dataclass
class Explanation:
    """A frame's outcome plus, for every device without a copy, why not."""

    outcome: FrameOutcome
    host: Host
    not_delivered: dict[str, list[Skip]] = field(default_factory=dict)

    @property
    def rules(self) -> list[str]:
        """Every rule id the explanation shows, in first-seen order."""
        seen: dict[str, None] = {}
        for steps in self._paths():
            for step in steps:
                rule = rule_of(step)
                if rule:
                    seen[rule] = None
        for drop in self.outcome.drops:
            seen[drop.rule] = None
        for skips in self.not_delivered.values():
            for skip in skips:
                if skip.rule in RULES:
                    seen[skip.rule] = None
        return list(seen)

    def _paths(self) -> Iterable[tuple[str, ...]]:
        for rec in self.outcome.receptions:
            yield rec.path
        for drop in self.outcome.drops:
            yield drop.path

    def delivered(self) -> dict[str, list[str]]:
        """Device -> the pkt_types of the copies it received (taps and own stacks; a tap
        seeing its device send is not a copy received)."""
        out: dict[str, list[str]] = {}
        for rec in self.outcome.receptions:
            if rec.received:
                out.setdefault(rec.point, []).append(rec.pkttype.word)
        return out

    def as_json(self) -> dict[str, Any]:
        out = self.outcome
        receptions = []
        for rec in out.receptions:
            item = rec.as_json(out.injected)
            item["rules"] = [r for r in (rule_of(s) for s in rec.path) if r]
            receptions.append(item)
        return {
            "index": out.index,
            "inject": out.inject_point,
            "send": out.send,
            "receptions": receptions,
            "drops": [
                {"point": d.point, "reason": d.reason, "rule": d.rule, "path": list(d.path)}
                | ({"pass": d.pass_} if d.pass_ else {})
                for d in out.drops
            ],
            "counters": {d: dict(c) for d, c in out.counters.items() if c},
            "not_delivered": [
                {"device": name, "reasons": [s.as_json() for s in skips]}
                | {"reason": skips[-1].reason, "rule": skips[-1].rule}
                for name, skips in self.not_delivered.items()
            ],
            "rules": {r: RULES[r][1] for r in self.rules},
        }


def explain(
    engine: Engine,
    frame: bytes,
    *,
    inject: str = WIRE_NAME,
    before: Iterable[bytes | Record] = (),
    timestamp_ns: int | None = None,
    orig_len: int | None = None,
) -> Explanation:
    """Run ``before`` (a trace's earlier frames or records, without paths, so queues and
    reassembly hold what they held), then ``frame`` with paths kept, and explain it.
    ``timestamp_ns`` and ``orig_len`` are the record's, when ``frame`` comes from a trace:
    it is fed the way replay feeds it (:func:`~macvlan_sim.io.replay.feed_record`)."""
    with _quietly(engine):
        for item in before:
            _feed(engine, item)
    return _explain_now(engine, frame, inject, timestamp_ns, orig_len)


def explain_record(
    engine: Engine, records: Iterable[Record], index: int, *, trace: str = "the trace"
) -> Explanation:
    """Explain record ``index`` of a trace read as a stream: the records before it run
    quietly, one at a time (a multi-gigabyte trace runs in bounded memory).
    Raises :class:`SimError` if the trace has fewer records."""
    it = iter(records)
    seen = 0
    with _quietly(engine):
        for item in itertools.islice(it, index):
            _feed(engine, item)
            seen += 1
    record = next(it, None)
    if record is None:
        raise SimError(f"{trace}: no frame {index} (the trace has {seen} frames)")
    return _explain_now(engine, record.data, WIRE_NAME, record.timestamp_ns, record.orig_len)


@contextmanager
def _quietly(engine: Engine) -> Iterator[None]:
    """Frames run without decision paths (they only set up the state)."""
    keep = engine.keep_paths
    engine.keep_paths = False
    try:
        yield
    finally:
        engine.keep_paths = keep


def _feed(engine: Engine, item: bytes | Record) -> None:
    if isinstance(item, bytes | bytearray):
        engine.rx(item)
    else:
        feed_record(engine, item.data, item.timestamp_ns, item.orig_len)


def _explain_now(
    engine: Engine, frame: bytes, inject: str, timestamp_ns: int | None, orig_len: int | None
) -> Explanation:
    """Run ``frame`` with paths kept and serve the broadcast queue, whatever the drain: the
    explanation shows every copy the frame will make, queued ones included."""
    keep = engine.keep_paths
    engine.keep_paths = True
    try:
        if inject == WIRE_NAME:
            outcome = feed_record(engine, frame, timestamp_ns, orig_len)
        else:
            outcome = engine.inject(inject, frame, timestamp_ns=timestamp_ns)
        engine.run_workqueue()
    finally:
        engine.keep_paths = keep
    return explain_outcome(engine.host, outcome)


def explain_outcome(host: Host, outcome: FrameOutcome) -> Explanation:
    """Arrange an outcome that was produced with paths kept."""
    got = {rec.point for rec in outcome.receptions if rec.received}
    sent = {rec.point for rec in outcome.receptions} - got
    recorded: dict[str, list[Skip]] = {}
    for skip in outcome.skips:
        if skip.device in got:
            continue
        have = recorded.setdefault(skip.device, [])
        if all((s.why, s.reason, s.pass_) != (skip.why, skip.reason, skip.pass_) for s in have):
            have.append(skip)
    result: dict[str, list[Skip]] = {}
    for name, dev in host.devices.items():
        if name not in got:
            if name in recorded:
                result[name] = recorded[name]
            elif name in sent:
                result[name] = [Skip(name, WhyNot.ONLY_SENT, (), outcome.index)]
            else:
                result[name] = [_inherited(host, dev, outcome, got)]
    return Explanation(outcome, host, result)


def _inherited(host: Host, dev: NetDevice, outcome: FrameOutcome, got: set[str]) -> Skip:
    """A device no decision step reached: the send failed, its link missed the frame or only
    sent it, or the frame died first."""
    index = outcome.index
    if outcome.send != "ok":
        return Skip(dev.name, WhyNot.SEND_FAILED, (outcome.send,), index)
    link = dev.link
    if link is not None and dev.name != WIRE_NAME and link.name not in got:
        sent = any(r.point == link.name for r in outcome.receptions)
        why = WhyNot.LINK_ONLY_SENT if sent else WhyNot.LINK_MISSED
        return Skip(dev.name, why, (link.name,), index)
    if outcome.drops:
        first = outcome.drops[0]
        return Skip(dev.name, WhyNot.DROPPED_EARLIER, (first.rule, first.reason), index)
    return Skip(dev.name, WhyNot.NOT_REACHED, (), index)
