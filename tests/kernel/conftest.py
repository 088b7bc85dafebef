"""Plumbing for the live-kernel tests.

``require_kernel()`` skips (module-level when called at import time) with the reason from
``kernel_available()`` when this machine cannot run the harness: not root, no netns, no
veth/macvlan. With ``MACVLAN_SIM_REQUIRE_KERNEL=1`` (CI sets it: CI has root and macvlan) it
fails instead, because there a skip would silently hide a broken harness.

It lives in ``tests/conftest.py`` (tests marked ``kernel`` anywhere get it); this module
re-exports it for the kernel tests and adds the ``kernel`` fixture.
"""

from __future__ import annotations

import pytest

from ..conftest import REQUIRE_ENV, kernel_required_by_env, require_kernel

__all__ = ["REQUIRE_ENV", "kernel_required_by_env", "require_kernel"]


@pytest.fixture(scope="session")
def kernel() -> None:
    """Fixture form of :func:`require_kernel`."""
    require_kernel()
