"""Differential tests: the emulator against the live kernel. Every test here is marked
``kernel``; without root or macvlan they skip, and under ``MACVLAN_SIM_REQUIRE_KERNEL=1``
(.ci/run) a skip is a failure."""

from __future__ import annotations

import pytest

from tests.kernel.conftest import require_kernel


@pytest.fixture(autouse=True)
def _live_kernel(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("kernel"):
        require_kernel()
