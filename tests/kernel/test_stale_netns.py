"""Issue 8 item 8: a namespace left by a run killed with SIGKILL is removed by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from macvlan_sim.verify.kernel import netns, run_scenario_on_kernel

from .conftest import require_kernel, wait_for_namespace

require_kernel()
pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]


def test_a_namespace_left_by_a_killed_run_is_reaped_by_the_next() -> None:
    script = textwrap.dedent(
        """
        from macvlan_sim.verify.kernel import run_scenario_on_kernel
        frame = {"inject": "wire", "hex": "ffffffffffff0a0000000001" + "88b5" + "00" * 46}
        run_scenario_on_kernel({"devices": [{"name": "mv0"}], "frames": [frame] * 400})
        """
    )
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env=dict(os.environ, PYTHONPATH=path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_namespace(child)
        child.send_signal(signal.SIGKILL)  # no cleanup can run
        child.wait(timeout=20)
        left = netns.list_ours(child.pid)
        assert len(left) == 1 and not netns.owner_alive(left[0])
        run_scenario_on_kernel({"devices": [{"name": "mv0"}], "frames": []})
        assert netns.list_ours(child.pid) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for name in netns.list_ours(child.pid):
            netns.remove_netns(name)
