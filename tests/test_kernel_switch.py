"""The switch .ci/run sets: without the live kernel, kernel tests skip with the reason —
unless MACVLAN_SIM_REQUIRE_KERNEL=1, where the same situation is a failure."""

from __future__ import annotations

import pytest

from . import conftest


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "kernel_available", lambda: (False, "not root"))


def test_skip_with_reason_without_the_switch(no_kernel: None, monkeypatch) -> None:
    monkeypatch.delenv(conftest.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="live kernel unavailable: not root"):
        conftest.require_kernel()


def test_failure_with_the_switch(no_kernel: None, monkeypatch) -> None:
    monkeypatch.setenv(conftest.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="MACVLAN_SIM_REQUIRE_KERNEL=1"):
        conftest.require_kernel()


def test_ci_sets_the_switch() -> None:
    script = (conftest.REPO / ".ci" / "run").read_text()
    assert "MACVLAN_SIM_REQUIRE_KERNEL=1" in script
