"""Shared test plumbing.

- ``shared_dir``: the project's ``../shared`` (real captures, the spec's examples); tests that
  need it skip with a clear reason where it is absent.
- Kernel tests (marker ``kernel``) skip without root or the macvlan driver; with
  ``MACVLAN_SIM_REQUIRE_KERNEL=1`` (set by ``.ci/run``: CI has both) such a skip is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MACVLAN_SIM_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the shared test data (../shared) is not beside the repo")
    return path


@pytest.fixture
def shared_dir() -> Path:
    return shared_path()


def require_kernel_enabled() -> bool:
    return os.environ.get("MACVLAN_SIM_REQUIRE_KERNEL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Turn the skip of a kernel test into a failure where the kernel is required."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and require_kernel_enabled() and item.get_closest_marker("kernel"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = (
            f"kernel test skipped but MACVLAN_SIM_REQUIRE_KERNEL=1 requires it to run: {reason}"
        )
