"""Real programs through the live emulator, mode by mode, beside the kernel's macvlans.

Each case builds the same lab twice — once with the emulator's TAPs as mv1/mv2, once with
kernel macvlans — runs the same ICMP echo from namespace A to B, and expects the same verdict
from both. A failing echo waits a short second: a fast failure is the kernel's answer too, and
the success cases, which show the lab works, complete in milliseconds.
"""

from __future__ import annotations

import pytest

from tests.live.lab import (
    ADDRS,
    LOWER_ADDR,
    Capture,
    echo,
    emulator,
    ip,
    is_echo_traffic,
    kernel_macvlans,
    lab,
    place_pair,
    topology,
)

pytestmark = pytest.mark.kernel

OK_WAIT = 5.0
FAIL_WAIT = 1.0


def _icmp_on_wire(frames: list[bytes]) -> int:
    return sum(1 for f in frames if is_echo_traffic(f) and f[12:14] == b"\x08\x00")


def _run(mode: str, *, hairpin: bool, kernel: bool, expect: bool) -> dict[str, object]:
    """One side of a case: the echo's verdict, the wire-side capture, the lower's probe."""
    wait = OK_WAIT if expect else FAIL_WAIT
    with lab(hairpin=hairpin) as lb:
        wire = Capture(lb.wire, "far0")
        try:
            if kernel:
                kernel_macvlans(lb, mode)
                result = _probe(lb, wait)
            else:
                with emulator(lb, topology(mode)) as emu:
                    place_pair(lb)
                    result = _probe(lb, wait)
                result["stats"] = emu.stats
            result["wire"] = wire.frames()
        finally:
            wire.close()
    return result


def _probe(lb, wait: float) -> dict[str, object]:
    ok = echo(lb.a, ADDRS["mv2"], timeout=wait)
    return {"echo": ok}


@pytest.mark.parametrize(
    ("mode", "hairpin", "expect"),
    [
        ("vepa", False, False),
        ("vepa", True, True),
        ("private", True, False),
    ],
    ids=["vepa-plain-wire-fails", "vepa-hairpin-works", "private-hairpin-fails"],
)
def test_echo_between_two_containers(mode: str, hairpin: bool, expect: bool) -> None:
    emulated = _run(mode, hairpin=hairpin, kernel=False, expect=expect)
    kernel = _run(mode, hairpin=hairpin, kernel=True, expect=expect)
    assert kernel["echo"] is expect, f"the kernel's {mode} macvlans: echo {kernel['echo']}"
    assert emulated["echo"] is expect, f"emulated {mode}: echo {emulated['echo']}"
    stats = emulated["stats"]
    # The echo's requests went through the emulator's transmit path and out of the real wire.
    assert stats.tap_in["mv1"] > 0 and stats.sent > 0
    if expect:  # the reflection came back in through the ring and into B's TAP
        assert stats.frames_in > 0 and stats.delivered["mv2"] > 0
        assert _icmp_on_wire(emulated["wire"]) > 0 and _icmp_on_wire(kernel["wire"]) > 0


def test_bridge_mode_stays_off_the_wire_and_the_lower_cannot_reach_children() -> None:
    for kernel in (False, True):
        with lab() as lb:
            wire = Capture(lb.wire, "far0")
            try:
                if kernel:
                    kernel_macvlans(lb, "bridge")
                    verdict = _bridge_probes(lb)
                else:
                    with emulator(lb, topology("bridge")) as emu:
                        place_pair(lb)
                        verdict = _bridge_probes(lb)
                    # Local delivery: the echo went TAP to TAP, never through the ring.
                    assert emu.stats.delivered["mv2"] > 0 and emu.stats.delivered["mv1"] > 0
                frames = wire.frames()
            finally:
                wire.close()
        side = "kernel" if kernel else "emulator"
        assert verdict == (True, False), f"{side}: (A→B echo, lower→mv1 echo) = {verdict}"
        # The ARP broadcasts flood out of the lower too (so both sides see some), the echo never.
        assert _icmp_on_wire(frames) == 0, f"{side}: ICMP on the wire in bridge mode"


def _bridge_probes(lb) -> tuple[bool, bool]:
    between = echo(lb.a, ADDRS["mv2"], timeout=OK_WAIT)
    ip("-n", lb.host, "addr", "add", f"{LOWER_ADDR}/24", "dev", "up0")
    from_lower = echo(lb.host, ADDRS["mv1"], timeout=FAIL_WAIT)
    return between, from_lower
