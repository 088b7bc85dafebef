"""Issue 8 item 8: the harness records SIGTERM/SIGINT and acts on them in its main flow, so a
signal landing where Python ignores exceptions is not lost; stale namespaces are recognised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from macvlan_sim.verify.kernel import HarnessTerminated, netns


class _SignalsInDel:
    """Sends the signal from ``__del__``: an exception raised there is printed and ignored."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __del__(self) -> None:
        os.kill(os.getpid(), self.signum)
        for _ in range(1000):  # the handler runs here, between bytecodes of __del__
            pass


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGTERM, HarnessTerminated), (signal.SIGINT, KeyboardInterrupt)]
)
def test_a_signal_inside_an_ignored_callback_is_acted_on_later(signum, raised) -> None:
    reached_check = False
    with pytest.raises(raised), netns.sigterm_raises():
        _SignalsInDel(signum)  # dropped at once: __del__ runs, the signal arrives there
        reached_check = True
        netns.raise_if_signalled()
    assert reached_check
    netns.raise_if_signalled()  # acted on once, not again


def test_a_pending_signal_is_raised_when_the_guarded_body_ends() -> None:
    with pytest.raises(HarnessTerminated), netns.sigterm_raises():
        _SignalsInDel(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )


def test_a_second_signal_acts_at_once() -> None:
    with pytest.raises(HarnessTerminated), netns.sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**6):  # no safe point: the second signal must not wait for one
            pass
        pytest.fail("the second SIGTERM was not acted on")
    netns.raise_if_signalled()  # nothing left pending to hit a later run


def test_a_signal_pending_when_the_body_fails_otherwise_does_not_outlive_it() -> None:
    with pytest.raises(ValueError), netns.sigterm_raises():
        _SignalsInDel(signal.SIGTERM)
        raise ValueError("the body fails on its own")
    netns.raise_if_signalled()


def test_owner_alive_uses_pid_and_start_time() -> None:
    mine = netns.unique_name()
    assert netns.owner_alive(mine)
    pid, start = mine.split("-")[1:3]
    assert not netns.owner_alive(f"mvsim-{pid}-{int(start) + 1}-abcdef")  # pid reused
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert not netns.owner_alive(f"mvsim-{dead}-1-abcdef")
    assert not netns.owner_alive(f"mvsim-{dead}-abcdef")  # older names: pid only
    assert netns.owner_alive("mvsim-not-ours") and netns.owner_alive("other-1-2-3")
