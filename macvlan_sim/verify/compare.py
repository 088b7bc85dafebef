"""Comparing two scenario results frame by frame: the emulator's and a kernel's.

Receptions are compared as multisets of (device, pkttype, pass, out-of-band tag, bytes):
their order is timing, not behaviour (a queued broadcast may arrive after later unicast).
Counters are compared per frame and at the end. Fields only one side produces (``path``,
``queued``, ``drops``, ``note``) are ignored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ReceptionKey = tuple[str, str, int, str, str]


def reception_key(r: dict[str, Any]) -> ReceptionKey:
    vlan = r.get("vlan")
    return (
        r["dev"],
        r["pkttype"],
        int(r.get("pass", 0)),
        json.dumps(vlan, sort_keys=True) if vlan else "",
        r.get("hex", ""),
    )


def describe_key(key: ReceptionKey) -> str:
    dev, pkttype, pass_, vlan, hexed = key
    text = f"{dev} {pkttype}"
    if pass_:
        text += f" pass {pass_}"
    if vlan:
        tag = json.loads(vlan)
        text += f" tag {tag['tpid']}/{tag['vid']}"
    if hexed:
        text += f" bytes {hexed[:24]}…"
    return text


@dataclass
class FrameDiff:
    index: int
    note: str
    send: tuple[str, str] | None = None
    missing: list[ReceptionKey] = field(default_factory=list)  # expected, not produced
    extra: list[ReceptionKey] = field(default_factory=list)  # produced, not expected
    counters: dict[str, tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)
    #: Copies the reference side could not attribute (a kernel harness's ``errors``).
    unexplained: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.send or self.missing or self.extra or self.counters or self.unexplained)

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "note": self.note,
            "send": list(self.send) if self.send else None,
            "missing": [describe_key(k) for k in self.missing],
            "extra": [describe_key(k) for k in self.extra],
            "counters": {d: {"expected": a, "got": b} for d, (a, b) in self.counters.items()},
            "rules": self.rules,
            "unexplained": self.unexplained,
        }


@dataclass
class Comparison:
    frames: int = 0
    diffs: list[FrameDiff] = field(default_factory=list)
    after: dict[str, tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)
    setup: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: Copies the reference side saw outside any frame (e.g. caused by the setup).
    unexplained: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return not self.diffs and not self.after and not self.setup and not self.unexplained

    def as_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "agree": self.agree,
            "frames_differing": len(self.diffs),
            "diffs": [d.as_json() for d in self.diffs],
            "after": {d: {"expected": a, "got": b} for d, (a, b) in self.after.items()},
            "setup": [{"op": op, "expected": a, "got": b} for op, a, b in self.setup],
            "unexplained": self.unexplained,
        }


def _counter_diff(
    expected: dict[str, dict[str, int]],
    got: dict[str, dict[str, int]],
    ignore: frozenset[str],
) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    out = {}
    for dev in sorted(set(expected) | set(got)):
        a = {k: v for k, v in expected.get(dev, {}).items() if v and k not in ignore}
        b = {k: v for k, v in got.get(dev, {}).items() if v and k not in ignore}
        if a != b:
            out[dev] = (a, b)
    return out


def compare_results(
    expected: dict[str, Any],
    got: dict[str, Any],
    *,
    ignore_counters: frozenset[str] = frozenset(),
) -> Comparison:
    """``expected`` is the reference (the kernel's result), ``got`` the emulator's."""
    result = Comparison()
    for exp, mine in zip(expected.get("frames", []), got.get("frames", []), strict=False):
        result.frames += 1
        diff = _frame_diff(exp, mine, ignore_counters)
        if diff:
            result.diffs.append(diff)
    exp_after = expected.get("counters", {}).get("after", {})
    got_after = got.get("counters", {}).get("after", {})
    result.after = _counter_diff(exp_after, got_after, ignore_counters)
    exp_setup = {
        s["op"]: s.get("errno") if not s.get("ok") else None for s in expected.get("setup", [])
    }
    got_setup = {s["op"]: s.get("errno") if not s.get("ok") else None for s in got.get("setup", [])}
    for op in exp_setup:
        if op in got_setup and exp_setup[op] != got_setup[op]:
            result.setup.append((op, exp_setup[op] or "ok", got_setup[op] or "ok"))
    result.unexplained = [
        f"{e.get('kind', 'error')} copy at {e.get('dev', '?')}"
        for e in expected.get("errors") or []
    ]
    return result


def _frame_diff(exp: dict[str, Any], mine: dict[str, Any], ignore: frozenset[str]) -> FrameDiff:
    diff = FrameDiff(int(exp.get("index", 0)), str(exp.get("note", "")))
    if exp.get("send", "ok") != mine.get("send", "ok"):
        diff.send = (exp.get("send", "ok"), mine.get("send", "ok"))
    a = Counter(reception_key(r) for r in exp.get("receptions", []))
    b = Counter(reception_key(r) for r in mine.get("receptions", []))
    diff.missing = sorted((a - b).elements())
    diff.extra = sorted((b - a).elements())
    diff.counters = _counter_diff(exp.get("counters", {}), mine.get("counters", {}), ignore)
    diff.unexplained = [
        f"{e.get('kind', 'error')} copy at {e.get('dev', '?')}" for e in exp.get("errors") or []
    ]
    rules = []
    for r in mine.get("receptions", []):
        for step in r.get("path", []):
            rule = step.split(" ", 1)[0]
            if rule[:1] in "MUSBQTVHLP" and rule[1:].isdigit() and rule not in rules:
                rules.append(rule)
    diff.rules = rules
    return diff
