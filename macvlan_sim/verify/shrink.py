"""Reducing a disagreeing scenario to a minimal one that still disagrees.

Plain delta debugging over the parts of a scenario: first frames (in chunks, then one by one),
then devices (with the frames they send), then each optional feature of what is left (flags,
joins, source lists, allmulti/promisc, queue settings, hairpin). A candidate is kept whenever
``still_fails`` says the disagreement survives. The result is a ready regression case.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Scenario = dict[str, Any]
Check = Callable[[Scenario], bool]

_DEVICE_OPTIONALS = ("flags", "mc", "macaddr", "allmulti", "promisc", "bcqueuelen", "up")
_SCENARIO_OPTIONALS = ("hairpin", "config_after_up", "port")


def shrink(scenario: Scenario, still_fails: Check, *, max_checks: int = 400) -> Scenario:
    """The smallest scenario found (within ``max_checks`` runs) for which ``still_fails``."""
    budget = [max_checks]

    def check(candidate: Scenario) -> bool:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return still_fails(candidate)

    best = copy.deepcopy(scenario)
    changed = True
    while changed and budget[0] > 0:
        changed = False
        for step in (_drop_frames, _drop_devices, _drop_device_options, _drop_scenario_options):
            smaller = step(best, check)
            if smaller is not None:
                best, changed = smaller, True
    return best


def _drop_frames(sc: Scenario, check: Check) -> Scenario | None:
    frames = sc.get("frames", [])
    chunk = max(1, len(frames) // 2)
    improved = None
    while chunk >= 1:
        i = 0
        while i < len(frames):
            trial = frames[:i] + frames[i + chunk :]
            if trial and check(sc | {"frames": trial}):
                frames = trial
                improved = sc | {"frames": frames}
            else:
                i += chunk
        chunk //= 2
    return improved


def _drop_devices(sc: Scenario, check: Check) -> Scenario | None:
    improved = None
    for dev in list(sc.get("devices", [])):
        name = dev["name"]
        trial = dict(improved or sc)
        trial["devices"] = [d for d in trial["devices"] if d["name"] != name]
        trial["frames"] = [f for f in trial["frames"] if f.get("inject", "wire") != name]
        if trial["frames"] and check(trial):
            improved = trial
    return improved


def _drop_device_options(sc: Scenario, check: Check) -> Scenario | None:
    improved = None
    for index in range(len(sc.get("devices", []))):
        for key in _DEVICE_OPTIONALS:
            base = improved or sc
            dev = base["devices"][index]
            if key not in dev:
                continue
            trial = copy.deepcopy(base)
            del trial["devices"][index][key]
            if check(trial):
                improved = trial
    return improved


def _drop_scenario_options(sc: Scenario, check: Check) -> Scenario | None:
    improved = None
    for key in _SCENARIO_OPTIONALS:
        base = improved or sc
        if not base.get(key):
            continue
        trial = {k: v for k, v in base.items() if k != key}
        if check(trial):
            improved = trial
    return improved
