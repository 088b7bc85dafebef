"""Stopping and failing: one clear line, nothing left behind, nothing changed, no frame lost."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time

import pytest

from macvlan_sim.io.live import LiveEmulator, LiveError
from macvlan_sim.io.live.ring import RingGeometry
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.verify.kernel.netns import entered, remove_netns
from tests.conftest import REPO
from tests.live.lab import Capture, emulator, ip, lab, place_pair, topology

pytestmark = pytest.mark.kernel


def _link(ns: str, dev: str) -> str:
    done = subprocess.run(
        ["ip", "-n", ns, "-d", "link", "show", dev], capture_output=True, text=True, check=False
    )
    return done.stdout + done.stderr


def _open(ns: str, ifname: str, text: str | None = None) -> LiveEmulator:
    host = parse_topology(text or topology("bridge"), "<test>").host
    with entered(ns):
        return LiveEmulator(host, ifname)


def test_missing_down_and_taken_each_say_so_and_leave_nothing() -> None:
    with lab() as lb:
        with pytest.raises(LiveError, match=r"^interface nope0 does not exist$"):
            _open(lb.host, "nope0")
        ip("-n", lb.host, "link", "set", "up0", "down")
        with pytest.raises(LiveError, match=r"^interface up0 is down"):
            _open(lb.host, "up0")
        ip("-n", lb.host, "link", "set", "up0", "up")
        ip("-n", lb.host, "link", "add", "mv2", "type", "veth", "peer", "mv2peer")
        with pytest.raises(LiveError, match=r"cannot create TAP mv2: an interface with that"):
            _open(lb.host, "up0")
        assert "does not exist" in _link(lb.host, "mv1"), "mv1's TAP outlived the failed start"
        assert "veth" in _link(lb.host, "mv2"), "the emulator touched a device it did not make"
        ip("-n", lb.host, "link", "set", "lo", "up")
        with pytest.raises(LiveError, match=r"^interface lo is not an Ethernet interface$"):
            _open(lb.host, "lo")


def test_interface_disappearing_mid_run_loses_no_frame() -> None:
    """Frames wait in a ring block that the kernel has not handed over yet (a long block
    timeout) when the interface is deleted: the loop still feeds every one of them."""
    with lab() as lb:
        wire = Capture(lb.wire, "far0")
        try:
            frame = bytes.fromhex("ffffffffffff0200000000fe88b5") + bytes(50)
            with emulator(lb, topology("bridge"), geometry=RingGeometry(retire_ms=5000)) as emu:
                for _ in range(40):
                    wire.send(frame)
                time.sleep(0.2)  # into the ring's open block (it would retire only after 5 s)
                ip("-n", lb.host, "link", "del", "up0")
                deadline = time.monotonic() + 5
                while not emu.stats.stop_reason and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            wire.close()
    assert emu.stats.stop_reason == "interface up0 disappeared"
    assert emu.stats.ring_packets == 40 and emu.stats.ring_drops == 0
    assert emu.stats.frames_in == 40
    assert emu.stats.delivered == {"mv1": 40, "mv2": 40}


def test_cli_sigterm_stops_cleanly_with_table_pcaps_and_no_taps(tmp_path) -> None:
    with lab() as lb:
        topo = tmp_path / "live.topo"
        topo.write_text(topology("bridge"))
        before = _link(lb.host, "up0")
        cmd = [sys.executable, "-m", "macvlan_sim.cli.main", "live", "--iface", "up0"]
        cmd += ["--topology", str(topo), "--taps", "--pcap-dir", str(tmp_path / "pcaps"), "--json"]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", lb.host, *cmd],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The start line comes once every TAP is configured and the ring is capturing.
            ready = select.select([proc.stderr], [], [], 20)[0]
            assert ready and "TAPs mv1, mv2" in proc.stderr.readline(), proc.poll()
            assert "02:00:00:00:0a:02" in _link(lb.host, "mv2")
            during = _link(lb.host, "up0")
            wire = Capture(lb.wire, "far0")
            try:
                for _ in range(3):
                    wire.send(bytes.fromhex("ffffffffffff0200000000fe88b5") + bytes(50))
            finally:
                wire.close()
            time.sleep(0.2)
            proc.terminate()
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        after = _link(lb.host, "up0")
        assert "does not exist" in _link(lb.host, "mv1")
        assert "does not exist" in _link(lb.host, "mv2")
    assert proc.returncode == 0, err
    stats = json.loads(out)
    assert stats["frames_in"] == 3 and stats["delivered"] == {"mv1": 3, "mv2": 3}
    assert (tmp_path / "pcaps" / "mv1.pcap").stat().st_size == 24 + 3 * (16 + 64)
    # The interface the emulator did not create is exactly as it was: no PROMISC flag, same
    # address and MTU (the promiscuous membership belongs to the socket, not the interface).
    for state in (during, after):
        assert "PROMISC" not in state.split(">")[0]
        assert state.split("promiscuity")[0] == before.split("promiscuity")[0]


@pytest.mark.parametrize(
    ("dropped", "message"),
    [
        ("net_raw,-net_admin", "cannot capture on up0: a packet socket needs root or CAP_NET_RAW"),
        ("net_admin", "cannot create TAP mv1: needs root or CAP_NET_ADMIN"),
    ],
)
def test_cli_without_privileges_says_so_in_one_line(dropped: str, message: str) -> None:
    topo = REPO / "tests" / "data" / "live" / "two-bridge.topo"
    caps = f"-{dropped}"
    with lab() as lb:
        setpriv = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
        cli = [sys.executable, "-m", "macvlan_sim.cli.main", "live", "--iface", "up0"]
        done = subprocess.run(
            ["ip", "netns", "exec", lb.host, *setpriv, *cli, "--topology", str(topo), "--taps"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "does not exist" in _link(lb.host, "mv1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"macvlan-sim: error: {message}"]


def test_a_tap_deleted_with_its_namespace_is_dropped_not_fatal() -> None:
    """Deleting a container's namespace takes its TAP with it: the run goes on for the rest,
    and copies for the vanished device are counted as ``tap-gone``."""
    with lab() as lb:
        frame = bytes.fromhex("ffffffffffff0200000000fe88b5") + bytes(50)
        with emulator(lb, topology("bridge")) as emu:
            place_pair(lb)
            remove_netns(lb.a)
            deadline = time.monotonic() + 5
            while not emu.stats.taps_gone and time.monotonic() < deadline:
                time.sleep(0.01)
            wire = Capture(lb.wire, "far0")
            try:
                for _ in range(5):
                    wire.send(frame)
            finally:
                wire.close()
            while emu.stats.frames_in < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
    assert emu.stats.taps_gone == ["mv1"]
    assert emu.stats.frames_in == 5 and emu.stats.delivered["mv2"] == 5
    assert emu.stats.drops["tap-gone"] == 5 and emu.stats.stop_reason == ""
