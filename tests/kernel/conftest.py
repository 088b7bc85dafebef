"""Plumbing for the live-kernel tests.

``require_kernel()`` skips (module-level when called at import time) with the reason from
``kernel_available()`` when this machine cannot run the harness: not root, no netns, no
veth/macvlan. With ``MACVLAN_SIM_REQUIRE_KERNEL=1`` (CI sets it: CI has root and macvlan) it
fails instead, because there a skip would silently hide a broken harness.

Reuse it either by calling ``require_kernel()`` at the top of a test module, by the ``kernel``
fixture, or by marking tests ``@pytest.mark.kernel`` (the hook below checks those).
"""

from __future__ import annotations

import os

import pytest

from macvlan_sim.kernel import kernel_available

REQUIRE_ENV = "MACVLAN_SIM_REQUIRE_KERNEL"


def kernel_required_by_env() -> bool:
    """True when the environment demands that kernel tests run rather than skip."""
    return os.environ.get(REQUIRE_ENV) == "1"


def require_kernel() -> None:
    """Skip (or, under ``MACVLAN_SIM_REQUIRE_KERNEL=1``, fail) unless the harness can run."""
    ok, reason = kernel_available()
    if ok:
        return
    if kernel_required_by_env():
        pytest.fail(f"{REQUIRE_ENV}=1 but the live kernel is unavailable: {reason}", pytrace=False)
    pytest.skip(f"live kernel unavailable: {reason}", allow_module_level=True)


@pytest.fixture(scope="session")
def kernel() -> None:
    """Fixture form of :func:`require_kernel`."""
    require_kernel()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every test marked ``kernel`` under this directory gets the same check."""
    if item.get_closest_marker("kernel") is not None:
        require_kernel()
