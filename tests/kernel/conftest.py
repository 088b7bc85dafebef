"""Plumbing for the live-kernel tests.

``require_kernel()`` skips (module-level when called at import time) with the reason from
``kernel_available()`` when this machine cannot run the harness: not root, no netns, no
veth/macvlan. With ``MACVLAN_SIM_REQUIRE_KERNEL=1`` (CI sets it: CI has root and macvlan) it
fails instead, because there a skip would silently hide a broken harness.

It lives in ``tests/conftest.py`` (tests marked ``kernel`` anywhere get it); this module
re-exports it for the kernel tests and adds the ``kernel`` fixture.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from macvlan_sim.verify.kernel import netns

from ..conftest import REQUIRE_ENV, kernel_required_by_env, require_kernel

__all__ = ["REQUIRE_ENV", "kernel_required_by_env", "require_kernel"]


@pytest.fixture(scope="session")
def kernel() -> None:
    """Fixture form of :func:`require_kernel`."""
    require_kernel()


def wait_for_namespace(child: subprocess.Popen) -> None:
    """Wait (at most 20 s) until the harness running in ``child`` has made its namespace."""
    deadline = time.monotonic() + 20
    while not netns.list_ours(child.pid):
        assert child.poll() is None, child.communicate()[1].decode()
        assert time.monotonic() < deadline, "child never created its namespace"
        time.sleep(0.02)
