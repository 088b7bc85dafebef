"""``replay --json``: the statistics of a replay as a document scripts can rely on.

One function, :func:`replay_json`, turns a :class:`~macvlan_sim.cli.replay.ReplayStats` into
the document, whichever engine filled it (the exact engine or the fast path), so the two cannot
print different shapes. Its keys are stable and described by the JSON Schema in
``docs/replay-json.schema.json`` (``format`` names the version; a test validates real output
against the schema). Drops are keyed by rule id and fates by a short id, each with its English
text beside it, never by free text that varies with frame sizes or device names.
"""

from __future__ import annotations

from typing import Any

from macvlan_sim.cli.byte_rules import BYTE_RULES
from macvlan_sim.cli.replay import FATES, TRUNCATED_TREATMENT, ReplayStats
from macvlan_sim.datapath.rules import RULES
from macvlan_sim.io.capture import point_filename

FORMAT = "macvlan-sim.replay/1"

CLAMP_RULE = (
    "a timestamp before 1970 or from 2106 on does not fit classic pcap: the record is written "
    "with the nearest time pcap can hold"
)


def rule_text(rule: str) -> str:
    """The English line of a rule id, from the engine's table (docs/rules.md says more)."""
    if rule not in RULES:
        return f"rule {rule}"
    function, meaning = RULES[rule]
    return f"{meaning} ({function})"


def replay_json(stats: ReplayStats) -> dict[str, Any]:
    """The ``replay --json`` document for ``stats`` (see the module docstring)."""
    return {
        "format": FORMAT,
        "trace": stats.trace,
        "topology": {"source": stats.topology, "lower": stats.lower},
        "engine": stats.engine,
        "input": _input(stats),
        "fates": {
            fate: {"text": FATES[fate], "frames": stats.fates.get(fate, 0)} for fate in FATES
        },
        "points": {name: _point(stats, name) for name in sorted(stats.points)},
        "drops": {
            rule: {
                "text": rule_text(rule),
                "copies": n,
                "points": dict(sorted(stats.drop_points[rule].items())),
                "example": stats.drop_examples.get(rule, ""),
            }
            for rule, n in sorted(stats.drops.items())
        },
        "counters": stats.counters,
        "outputs": {
            "directory": stats.out_dir,
            "timestamps_clamped": stats.timestamps_clamped,
            "clamp_rule": CLAMP_RULE,
        },
        "byte_rules": dict(BYTE_RULES),
    }


def _input(stats: ReplayStats) -> dict[str, Any]:
    stop = stats.stopped
    return {
        "records_read": stats.records_read,
        "frames_fed": stats.frames_fed,
        "skipped": dict(sorted(stats.skipped_by_reason.items())),
        "accounted": stats.accounted,
        "truncated": {"records": stats.truncated, "treatment": TRUNCATED_TREATMENT},
        "stopped": None
        if stop is None
        else {
            "reason": stop.reason,
            "message": stop.message,
            "offset": stop.offset,
            "unread_bytes": stop.unread_bytes,
        },
    }


def _point(stats: ReplayStats, name: str) -> dict[str, Any]:
    st = stats.points[name]
    return {
        "frames": st.frames,
        "bytes": st.bytes,
        "pkttypes": dict(sorted(st.pkttypes.items())),
        "queued": st.queued,
        "pcap": point_filename(name) if stats.out_dir is not None else None,
        "timestamps_clamped": st.timestamps_clamped,
    }
