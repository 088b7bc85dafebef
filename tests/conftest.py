"""Shared test plumbing.

- ``data_path``: the test data shipped in ``tests/data`` (real captures with their manifest and
  licences, the real kernels' scenario results); the repository stands on its own, so a missing
  file is a failure, never a skip.
- ``require_kernel``: tests that need root and the kernel's macvlan skip with the reason where
  they cannot run; with ``MACVLAN_SIM_REQUIRE_KERNEL=1`` (set by ``.ci/run``: CI has both) they
  fail instead, because there a skip would hide a broken harness. Tests marked ``kernel`` get
  this check automatically.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from macvlan_sim.verify.kernel import kernel_available

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
REQUIRE_ENV = "MACVLAN_SIM_REQUIRE_KERNEL"


def data_path(*parts: str) -> Path:
    """A file or folder under ``tests/data``; it must exist (the data ships with the repo)."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path}: test data missing from the repository")
    return path


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


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every test marked ``kernel`` gets the check before it runs."""
    if item.get_closest_marker("kernel") is not None:
        require_kernel()
