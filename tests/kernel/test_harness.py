"""Live-kernel behaviour of the harness: safety (namespace cleanup) and reported results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from macvlan_sim.verify.kernel import HarnessTerminated, harness, netns, run_scenario_on_kernel
from macvlan_sim.verify.kernel.sockets import Capture, Observer

from .conftest import require_kernel, wait_for_namespace

require_kernel()
pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
LOWER_MAC = "02:00:00:00:00:01"
PAYLOAD = "88b5" + b"MVO-selftest".hex() + "00" * 34


def frame(dst: str, src: str, inject: str = "wire", note: str = "") -> dict[str, str]:
    """A 60-byte marker frame like the examples'."""
    return {
        "inject": inject,
        "hex": dst.replace(":", "") + src.replace(":", "") + PAYLOAD,
        "note": note,
    }


def bridge(name: str, last: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "mode": "bridge", "mac": f"02:00:00:00:01:{last:02x}", **extra}


def ops(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["op"]: s for s in result["setup"]}


def recs(entry: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((r["dev"], r["pkttype"], r.get("pass", 0)) for r in entry["receptions"])


def ours() -> list[str]:
    return netns.list_ours(os.getpid())


# -- namespace safety --------------------------------------------------------------------------


def test_namespace_deleted_after_success(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    real = harness._Run.execute

    def spy(self: harness._Run) -> dict[str, Any]:
        seen.append(ours())
        return real(self)

    monkeypatch.setattr(harness._Run, "execute", spy)
    run_scenario_on_kernel(
        {"devices": [bridge("mv0", 0)], "frames": [frame("02:00:00:00:01:00", "0a:00:00:00:00:01")]}
    )
    assert len(seen) == 1 and len(seen[0]) == 1  # it existed during the run ...
    assert ours() == []  # ... and is gone now


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_namespace_deleted_after_exception_mid_run(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    alive: list[list[str]] = []
    real = harness._Run.run_frame

    def failing(self: harness._Run, index: int, *args: Any) -> dict[str, Any]:
        if index == 1:
            alive.append(ours())
            raise exc
        return real(self, index, *args)

    monkeypatch.setattr(harness._Run, "run_frame", failing)
    scenario = {
        "devices": [bridge("mv0", 0)],
        "frames": [frame("ff:ff:ff:ff:ff:ff", "0a:00:00:00:00:01")] * 3,
    }
    with pytest.raises(type(exc)):
        run_scenario_on_kernel(scenario)
    assert alive and len(alive[0]) == 1
    assert ours() == []


def test_keep_ns_leaves_the_namespace_for_inspection() -> None:
    run_scenario_on_kernel({"devices": [bridge("mv0", 0)]}, keep_ns=True)
    kept = ours()
    try:
        assert len(kept) == 1
    finally:
        for name in kept:
            netns.remove_netns(name)
    assert ours() == []


def test_namespace_deleted_after_sigterm() -> None:
    script = textwrap.dedent(
        """
        from macvlan_sim.verify.kernel import run_scenario_on_kernel
        frame = {"inject": "wire", "hex": "ffffffffffff0a0000000001" + "88b5" + "00" * 46}
        run_scenario_on_kernel(
            {"devices": [{"name": "mv0", "mode": "bridge"}], "frames": [frame] * 400},
            settle=0.1,
        )
        """
    )
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for_namespace(child)
        time.sleep(0.5)  # well into the frame loop
        assert child.poll() is None
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert netns.list_ours(child.pid) == []
    assert child.returncode != 0
    assert HarnessTerminated.__name__ in err.decode()


# -- reported results --------------------------------------------------------------------------


def test_send_errors_enetdown_and_enodev() -> None:
    scenario = {
        "lower": {"mac": LOWER_MAC},
        "devices": [
            bridge("mv0", 0),
            bridge("down0", 1, up=False),
            # Same MAC as mv0: created fine, refused at `up` -> stays down.
            bridge("busy0", 0),
            # A second passthru beside others: refused at creation -> does not exist.
            {"name": "pt0", "mode": "passthru"},
        ],
        "frames": [
            frame("0a:00:00:00:00:01", "02:00:00:00:01:01", "down0", "TX on a down device"),
            frame("0a:00:00:00:00:01", "02:00:00:00:01:00", "busy0", "TX on an up-refused device"),
            frame("0a:00:00:00:00:01", "02:00:00:00:01:00", "pt0", "TX on a refused device"),
            frame("0a:00:00:00:00:01", "02:00:00:00:01:00", "nosuch", "TX on a never-named one"),
            frame("0a:00:00:00:00:01", "02:00:00:00:01:00", "mv0", "TX that works"),
        ],
    }
    result = run_scenario_on_kernel(scenario)
    sends = [f["send"] for f in result["frames"]]
    assert sends == ["ENETDOWN", "ENETDOWN", "ENODEV", "ENODEV", "ok"]
    for entry in result["frames"][:4]:
        assert entry["receptions"] == [] and "counters" not in entry
    assert ("mv0", "outgoing", 0) in recs(result["frames"][4])
    assert set(result["counters"]["after"]) == {"lower", "wire", "mv0", "down0", "busy0"}
    assert result["counters"]["after"]["down0"] == {}


def test_eaddrinuse_at_up_for_a_busy_mac() -> None:
    scenario = {
        "lower": {"mac": LOWER_MAC},
        "devices": [
            bridge("mv0", 0),
            bridge("twin", 0),
            {"name": "aslower", "mode": "vepa", "mac": LOWER_MAC},
        ],
    }
    log = ops(run_scenario_on_kernel(scenario))
    # The kernel checks MACs at open, not at creation.
    assert log["macvlan twin mode bridge"]["ok"] is True
    assert log["macvlan aslower mode vepa"]["ok"] is True
    assert log["mv0 up"] == {"op": "mv0 up", "ok": True}
    assert log["twin up"] == {"op": "twin up", "ok": False, "errno": "EADDRINUSE"}
    assert log["aslower up"] == {"op": "aslower up", "ok": False, "errno": "EADDRINUSE"}


@pytest.mark.parametrize("first_passthru", [False, True])
def test_passthru_beside_another_device_is_einval(first_passthru: bool) -> None:
    devices = [bridge("mv0", 0), {"name": "pt0", "mode": "passthru"}]
    if first_passthru:
        devices.reverse()
    log = run_scenario_on_kernel({"devices": devices})["setup"]
    creates = [s for s in log if s["op"].startswith("macvlan ")]
    assert creates[0]["ok"] is True
    assert creates[1] == {"op": creates[1]["op"], "ok": False, "errno": "EINVAL"}


def test_hairpin_reflections_are_pass_1() -> None:
    def scenario(hairpin: bool) -> dict[str, Any]:
        return {
            "lower": {"mac": LOWER_MAC},
            "hairpin": hairpin,
            "devices": [
                {"name": "va", "mode": "vepa", "mac": "02:00:00:00:01:0a"},
                {"name": "vb", "mode": "vepa", "mac": "02:00:00:00:01:0b"},
                {"name": "pr", "mode": "private", "mac": "02:00:00:00:01:0c"},
            ],
            "frames": [
                frame("02:00:00:00:01:0b", "02:00:00:00:01:0a", "va", "vepa unicast va -> vb"),
                frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:01:0a", "va", "vepa broadcast"),
                frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:01:0c", "pr", "private broadcast"),
                frame("ff:ff:ff:ff:ff:ff", "0a:00:00:00:00:01", "wire", "from the wire"),
            ],
        }

    flat = run_scenario_on_kernel(scenario(False))["frames"]
    pin = run_scenario_on_kernel(scenario(True))["frames"]
    assert all(r.get("pass", 0) == 0 for f in flat for r in f["receptions"])
    assert recs(flat[0]) == [
        ("lower", "outgoing", 0),
        ("va", "outgoing", 0),
        ("wire", "otherhost", 0),
    ]
    # The switch sends the unicast back in; vb takes it as HOST on the second pass.
    assert recs(pin[0]) == [
        ("lower", "otherhost", 1),
        ("lower", "outgoing", 0),
        ("va", "outgoing", 0),
        ("vb", "host", 1),
        ("wire", "otherhost", 0),
        ("wire", "outgoing", 1),
    ]
    assert pin[0]["counters"]["vb"] == {"rx_packets": 1, "rx_bytes": 60}
    # A reflected VEPA broadcast reaches the other VEPA device and the lower, not the sender
    # and not the private one.
    assert {r for r in recs(pin[1]) if r[2] == 1} == {
        ("lower", "broadcast", 1),
        ("lower:stack", "broadcast", 1),
        ("vb", "broadcast", 1),
        ("wire", "outgoing", 1),
    }
    # A reflected private broadcast goes back to the sender only (0 bytes counted).
    assert {r for r in recs(pin[2]) if r[2] == 1} == {
        ("lower", "broadcast", 1),
        ("pr", "broadcast", 1),
        ("wire", "outgoing", 1),
    }
    assert pin[2]["counters"]["pr"] == {"rx_packets": 1, "tx_packets": 1, "tx_bytes": 60}
    # Frames injected on the wire are not reflected.
    assert recs(pin[3]) == recs(flat[3])


def test_bclim_is_set_and_read_back() -> None:
    def run(bclim: int | None) -> dict[str, Any]:
        port: dict[str, Any] = {"bcqueuelen": 0}
        if bclim is not None:
            port["bclim"] = bclim
        return run_scenario_on_kernel(
            {
                "lower": {"mac": LOWER_MAC},
                "port": port,
                "devices": [bridge("mv0", 0), bridge("mv1", 1)],
                "frames": [frame("ff:ff:ff:ff:ff:ff", "0a:00:00:00:00:01")],
            }
        )

    inline = run(-1)
    assert ops(inline)["port bclim -1"] == {"op": "port bclim -1", "ok": True}
    assert {"mv0", "mv1"} <= {r[0] for r in recs(inline["frames"][0])}
    assert "rx_dropped" not in inline["frames"][0]["counters"]["lower"]

    # Default cutoff on an (implicitly promiscuous) veth: queued, and with a queue of 0 the
    # broadcast is dropped and counted on the lower.
    queued = run(None)
    assert not any(s["op"].startswith("port bclim") for s in queued["setup"])
    assert {r[0] for r in recs(queued["frames"][0])} == {"lower", "lower:stack", "wire"}
    assert queued["frames"][0]["counters"]["lower"]["rx_dropped"] == 1

    assert ops(run(5))["port bclim 5"]["ok"] is True


@pytest.mark.parametrize("after_up", [False, True])
def test_multicast_join_and_allmulti(after_up: bool) -> None:
    scenario = {
        "lower": {"mac": LOWER_MAC},
        "config_after_up": after_up,
        "devices": [
            bridge("mv0", 0, mc=["01:00:5e:00:00:fb"]),
            bridge("mv1", 1, allmulti=True),
            bridge("mv2", 2, promisc=True),
        ],
        "frames": [
            frame("01:00:5e:00:00:fb", "0a:00:00:00:00:01"),
            frame("01:00:5e:00:00:42", "0a:00:00:00:00:01"),
        ],
    }
    result = run_scenario_on_kernel(scenario)
    names = [s["op"] for s in result["setup"]]
    config = ["mv0 maddr add 01:00:5e:00:00:fb", "mv1 allmulti on", "mv2 promisc on"]
    ups = ["mv0 up", "mv1 up", "mv2 up"]
    assert names[-6:] == (ups + config if after_up else config + ups)
    assert all(s["ok"] for s in result["setup"])
    joined, unjoined = ({r[0] for r in recs(f)} for f in result["frames"])
    # Promiscuity filters nothing per device (spec §8): mv2 behaves like ALLMULTI for groups.
    assert joined == {"lower", "lower:stack", "mv0", "mv1", "mv2", "wire"}
    assert unjoined == {"lower", "lower:stack", "mv1", "mv2", "wire"}


def test_8023_frames_reach_the_lower_stack_socket_of_the_right_protocol() -> None:
    llc = "ffffffffffff0a0000000001" + "002e" + "424203" + "00" * 43
    ipx = "ffffffffffff0a0000000001" + "002e" + "ffff" + "00" * 44
    for hexstr in (llc, ipx):
        # One frame per run, so only that frame's protocol socket exists.
        result = run_scenario_on_kernel({"frames": [{"inject": "wire", "hex": hexstr}]})
        entry = result["frames"][0]
        assert ("lower:stack", "broadcast", 0) in recs(entry), hexstr
        assert "rx_dropped" not in entry["counters"]["lower"]


def test_foreign_and_late_captures_are_reported_not_attributed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A capture that is not a copy of the frame goes to ``errors``, never to ``receptions``."""
    foreign = bytes.fromhex("0a00000077770a0000000042" + PAYLOAD)
    real_collect, real_drain = Observer.collect, Observer.drain
    calls = {"collect": 0, "drain": 0}

    def collect(self: Observer, settle: float, max_wait: float) -> list[Capture]:
        calls["collect"] += 1
        out = real_collect(self, settle, max_wait)
        if calls["collect"] == 2:  # 1 is the post-setup read, 2 is frame 0
            out.append(Capture("lower", "lower", "lower", 3, foreign, None))
        return out

    def drain(self: Observer) -> list[Capture]:
        calls["drain"] += 1
        out = real_drain(self)
        if calls["drain"] == 2:  # just before frame 1: a straggler of frame 0
            out.append(Capture("mv0", "mv0", "mv0", 0, foreign, (0x8100, 5)))
        return out

    monkeypatch.setattr(Observer, "collect", collect)
    monkeypatch.setattr(Observer, "drain", drain)
    unicast = frame("02:00:00:00:01:00", "0a:00:00:00:00:01")
    result = run_scenario_on_kernel({"devices": [bridge("mv0", 0)], "frames": [unicast] * 2})
    first, second = result["frames"]
    assert (
        recs(first)
        == recs(second)
        == [
            ("lower", "otherhost", 0),
            ("mv0", "host", 0),
            ("wire", "outgoing", 0),
        ]
    )
    assert first["errors"] == [
        {"kind": "unmatched", "dev": "lower", "pkttype": "otherhost", "hex": foreign.hex()},
        {
            "kind": "late",
            "dev": "mv0",
            "pkttype": "host",
            "vlan": {"tpid": "0x8100", "vid": 5, "pcp": 0, "dei": 0},
            "hex": foreign.hex(),
        },
    ]
    assert "errors" not in second


def test_lower_promisc_defaults_and_short_frames() -> None:
    result = run_scenario_on_kernel(
        {
            "lower": {"promisc": True},
            "devices": [{"name": "mv0"}],
            "frames": [{"inject": "wire", "hex": "ffffffffffff0a00000000"}],
        }
    )
    assert [s["op"] for s in result["setup"]] == [
        "veth lower(02:00:00:00:00:01) <-> wire(02:00:00:00:ff:fe)",
        "wire up",
        "lower up",
        "lower promisc on",
        "macvlan mv0 mode vepa",
        "mv0 up",
    ]
    # AF_PACKET refuses a frame shorter than the Ethernet header.
    assert result["frames"][0]["send"] == "EINVAL"
