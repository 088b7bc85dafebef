"""The excused-false-positive bound over the whole live differential run.

Each live comparison reports its proven hash-filter false positives (excused copies) and the
kernel's multicast copies at macvlans through :func:`record_excuses`. The totals are summed
across xdist workers (each worker hands its sums to the controller when it finishes) and the
session fails when excused copies exceed ``EXCUSE_BOUND`` (0.5%) of the multicast copies: a
model that drifts shows up as a number, not as silence. A per-test bound would be meaningless
(one block sees only some dozens of multicast copies).
"""

from __future__ import annotations

import json

import pytest

from macvlan_sim.verify.hash_fp import EXCUSE_BOUND

_KEY = "macvlan_sim_excuses"
_totals = {"excused": 0, "copies": 0}


def record_excuses(verification) -> None:
    """Add one live comparison's excused copies and multicast copies to the run's totals."""
    _totals["excused"] += verification.excused_copies
    _totals["copies"] += verification.multicast_copies


def excuses_over_bound(excused: int, copies: int) -> bool:
    return excused > EXCUSE_BOUND * copies


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Controller side: add what a finished xdist worker counted."""
    sums = json.loads(getattr(node, "workeroutput", {}).get(_KEY, "{}"))
    for key, value in sums.items():
        _totals[key] += value


def pytest_sessionfinish(session, exitstatus) -> None:
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker: hand the sums over
        config.workeroutput[_KEY] = json.dumps(_totals)
        return
    if excuses_over_bound(_totals["excused"], _totals["copies"]) and _totals["copies"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    excused, copies = _totals["excused"], _totals["copies"]
    if not copies or hasattr(terminalreporter.config, "workeroutput"):
        return
    terminalreporter.write_sep("-", "hash-filter false positives excused with proof")
    terminalreporter.write_line(
        f"{excused} of {copies} multicast copies in the live comparisons "
        f"(bound {EXCUSE_BOUND:.1%})"
        + (": OVER THE BOUND, the run fails" if excuses_over_bound(excused, copies) else "")
    )
