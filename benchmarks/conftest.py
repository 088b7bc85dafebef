"""Benchmarks report speed as ratios to a baseline measured in the same run.

Run: ``python -m pytest benchmarks --benchmark-only``; the summary at the end prints each
benchmark's frames per second and its ratio to the group's ``baseline``.
"""

from __future__ import annotations

from typing import Any

import pytest

FRAMES_KEY = "frames"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    rows: dict[str, dict[str, float]] = {}
    for bench in session.benchmarks:
        frames = bench.extra_info.get(FRAMES_KEY)
        if not frames or not bench.stats:
            continue
        group = bench.group or "default"
        rows.setdefault(group, {})[bench.name] = frames / bench.stats.median
    terminalreporter.section("throughput (median), as a ratio to the group's baseline")
    for group, results in rows.items():
        base = next((v for k, v in results.items() if "baseline" in k), None)
        for name, fps in sorted(results.items(), key=lambda kv: -kv[1]):
            ratio = f"{fps / base:8.3f}x baseline" if base else ""
            terminalreporter.write_line(f"{group:>10}  {name:<45} {fps:>12,.0f} frames/s {ratio}")
