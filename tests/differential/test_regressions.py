"""Every minimal scenario ``verify-kernel --shrink`` produced, kept as a regression case.

Each file holds the scenario and the kernel's answer at the time. The emulator is checked
against that stored answer everywhere (no root needed), and against the live kernel here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macvlan_sim.verify.verify_kernel import compare_with_kernel, verify_scenario

CASES = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_emulator_matches_the_stored_kernel_answer(path: Path) -> None:
    case = _load(path)
    verification = compare_with_kernel(case["scenario"], case["kernel_result"])
    assert verification.agree, json.dumps(verification.comparison.as_json(), indent=1)


@pytest.mark.kernel
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_emulator_matches_the_live_kernel(path: Path) -> None:
    verification = verify_scenario(_load(path)["scenario"])
    assert verification.agree, json.dumps(verification.comparison.as_json(), indent=1)


def test_there_are_regression_cases() -> None:
    assert CASES, "tests/differential/regressions/ holds the shrunk cases"
