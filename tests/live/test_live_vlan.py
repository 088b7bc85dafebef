"""Tagged frames through the live emulator: from the wire into the right TAP, and back out.

This machine's kernel has no 8021q, so the VLAN devices exist in the emulator only (the
kernel's answers for VLAN dispatch are checked elsewhere, from a real 8021q kernel under qemu:
``tests/rules/test_vlans.py``, ``tests/test_kernel_examples.py``). What this test checks is the
live plumbing: the kernel takes the tag out of band on the veth, the ring recovers it, the
engine routes the frame, and each TAP receives exactly what the engine decided, tag and all.
"""

from __future__ import annotations

import struct
import time

import pytest

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import Reception
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.model.constants import PktType
from tests.live.lab import Capture, emulator, lab

pytestmark = pytest.mark.kernel

TOPOLOGY = """\
host ipv6 off
lower up0 veth
ip link add link up0 name up0.10 address 02:00:00:00:10:00 type vlan id 10
ip link add mv1 link up0 address 02:00:00:00:0a:01 type macvlan mode bridge
ip link add mv10 link up0.10 address 02:00:00:00:10:01 type macvlan mode bridge
ip link set up0.10 up
ip link set mv1 up
ip link set mv10 up
"""
TAPS = ("mv1", "mv10", "up0.10")
SRC = bytes.fromhex("0200000000fe")
EXPERIMENTAL = b"\x88\xb5"


def _tagged(dst: str, vid: int, marker: int) -> bytes:
    tag = struct.pack("!HH", 0x8100, vid)
    return bytes.fromhex(dst) + SRC + tag + EXPERIMENTAL + bytes([marker]) * 46


FROM_WIRE = [
    _tagged("020000001001", 10, 1),  # to mv10, on VLAN 10
    _tagged("ffffffffffff", 10, 2),  # broadcast on VLAN 10
    _tagged("020000000a01", 10, 3),  # mv1's address, but on VLAN 10: not mv1's
    _tagged("ffffffffffff", 20, 4),  # a VLAN nobody here has
]


def _expected() -> dict[str, list[bytes]]:
    """What the engine decides for the same frames, per TAP (the copies the device received)."""
    engine = Engine(parse_topology(TOPOLOGY).host, keep_paths=False)
    want: dict[str, list[bytes]] = {name: [] for name in TAPS}
    for frame in FROM_WIRE:
        for r in engine.rx(frame).receptions:
            if r.point in want and r.pkttype != PktType.OUTGOING:
                want[r.point].append(r.wire_bytes)
    return want


def _marked(frames: list[bytes]) -> list[bytes]:
    return [f for f in frames if EXPERIMENTAL in f[12:18]]


def test_wire_frames_reach_the_right_taps_with_the_right_tags() -> None:
    want = _expected()
    # The rules, spelled out, so the comparison cannot pass on an empty decision:
    assert _tagged("020000001001", 10, 1)[:12] + EXPERIMENTAL in [f[:14] for f in want["mv10"]]
    assert all(f[12:14] == EXPERIMENTAL for f in want["mv10"] + want["up0.10"])  # untagged
    # VLAN 10 traffic is not mv1's; the VLAN 20 broadcast reaches it with its tag in band.
    assert [f[12:16] for f in want["mv1"]] == [struct.pack("!HH", 0x8100, 20)]
    with lab() as lb:
        wire = Capture(lb.wire, "far0")
        caps: dict[str, Capture] = {}
        try:
            with emulator(lb, TOPOLOGY) as emu:
                seen: list[Reception] = []
                emu.engine.callbacks.register("mv10", seen.extend)
                caps = {name: Capture(lb.host, name) for name in TAPS}
                for frame in FROM_WIRE:
                    wire.send(frame)
                _wait_for(lambda: emu.stats.frames_in >= len(FROM_WIRE))
                got = {name: _marked(cap.frames()) for name, cap in caps.items()}
                # A program on mv10 answers: the frame leaves the wire tagged for VLAN 10.
                reply = bytes.fromhex("0200000000fe020000001001") + EXPERIMENTAL + b"\x07" * 46
                caps["mv10"].send(reply)
                out: list[bytes] = []

                def reply_seen() -> bool:
                    out.extend(f for f in wire.frames() if f[6:12] == reply[6:12])
                    return bool(out)

                _wait_for(reply_seen)
                time.sleep(0.05)  # anything further (there should be nothing) shows up too
                reply_seen()
        finally:
            for cap in [wire, *caps.values()]:
                cap.close()
    assert got == want
    # Python callbacks saw the same copies (they are flushed once per batch).
    assert [r.wire_bytes for r in seen if r.pkttype != PktType.OUTGOING] == want["mv10"]
    assert emu.stats.frames_in == len(FROM_WIRE)
    assert out == [reply[:12] + struct.pack("!HH", 0x8100, 10) + reply[12:]]


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the live emulator"
        time.sleep(0.01)
