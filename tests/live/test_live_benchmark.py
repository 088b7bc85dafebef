"""The live throughput benchmark runs, and its books balance (a tiny load; no speed claim)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.kernel


def test_benchmark_accounts_for_every_offered_frame() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/live_throughput.py", "--frames", "2000", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    kernel, emulated = result["kernel"], result["emulator"]
    assert kernel["offered"] == emulated["offered"] == 2000
    assert kernel["delivered"] + kernel["dropped"] == 2000
    assert emulated["frames_in"] + emulated["ring_drops"] == 2000
    assert emulated["delivered"] + emulated["dropped"] == 2000
    assert emulated["delivered"] > 0 and result["ratio"] > 0
