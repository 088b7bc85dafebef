"""Live throughput: the emulator's TAPs beside the kernel's macvlans, under the same load.

Run as root: ``python benchmarks/live_throughput.py [--frames N] [--json]``.

The same lab is built twice (a veth cable ``far0`` → ``up0`` between two namespaces we create
and delete): once with ``macvlan-sim live`` on ``up0`` and its TAPs ``mv1``/``mv2``, once with
kernel macvlans ``mv1``/``mv2`` on ``up0``. A separate process in the far namespace sends N
60-byte unicast frames, alternately to mv1 and mv2, as fast as it can through a packet socket
(the offered load). We report, for each side, the frames delivered to mv1/mv2 (TAP writes for
the emulator; the macvlans' ``rx_packets`` for the kernel), the frames dropped (ring full, as
``PACKET_STATISTICS`` reports, plus every other reason), and delivered frames per second, and the
emulator's rate as a ratio to the kernel's. A speed claim is only ever this ratio, measured in
one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from macvlan_sim.io.live import LiveEmulator  # noqa: E402
from macvlan_sim.io.topology import parse_topology  # noqa: E402
from macvlan_sim.verify.kernel.netns import entered  # noqa: E402
from tests.live.lab import MACS, kernel_macvlans_here, lab, topology  # noqa: E402

SRC = bytes.fromhex("0200000000fe")
IDLE = 0.3


def frames() -> list[bytes]:
    return [
        bytes.fromhex(MACS[dev].replace(":", "")) + SRC + b"\x88\xb5" + bytes(46)
        for dev in ("mv1", "mv2")
    ]


def generate(ifname: str, count: int) -> None:
    """The load: ``count`` frames out of ``ifname`` as fast as one process can send them."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((ifname, 0))
    pair = frames()
    send = sock.send
    start = time.perf_counter()
    sent = 0
    for i in range(count):
        while True:
            try:
                send(pair[i & 1])
                break
            except BlockingIOError:
                continue
        sent += 1
    print(json.dumps({"sent": sent, "seconds": time.perf_counter() - start}))


def offer(ns: str, count: int) -> dict[str, float]:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, __file__, "--generate", "far0", str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def _rx_packets(ns: str, dev: str) -> int:
    done = subprocess.run(
        ["ip", "-n", ns, "-s", "-j", "link", "show", dev], capture_output=True, text=True
    )
    return int(json.loads(done.stdout)[0]["stats64"]["rx"]["packets"])


def kernel_side(count: int) -> dict[str, float]:
    with lab() as lb:
        kernel_macvlans_here(lb, "bridge")
        load = offer(lb.wire, count)
        time.sleep(0.1)
        delivered = sum(_rx_packets(lb.host, dev) for dev in ("mv1", "mv2"))
    seconds = load["seconds"]
    return {
        "offered": load["sent"],
        "offered_per_s": load["sent"] / seconds,
        "delivered": delivered,
        "dropped": load["sent"] - delivered,
        "seconds": seconds,
        "delivered_per_s": delivered / seconds,
    }


def emulator_side(count: int) -> dict[str, float]:
    with lab() as lb:
        host = parse_topology(topology("bridge"), "<bench>").host
        with entered(lb.host):
            emu = LiveEmulator(host, "up0")
        thread = threading.Thread(target=emu.run, daemon=True)
        thread.start()
        try:
            start = time.perf_counter()
            load = offer(lb.wire, count)
            last, seen_at = -1, time.perf_counter()
            while time.perf_counter() - seen_at < IDLE:  # until the emulator goes idle
                now = emu.stats.frames_in
                if now != last:
                    last, seen_at = now, time.perf_counter()
                time.sleep(0.01)
            seconds = seen_at - start
        finally:
            emu.stop()
            thread.join(10)
            emu.close()
    st = emu.stats
    delivered = st.delivered["mv1"] + st.delivered["mv2"]
    return {
        "offered": load["sent"],
        "offered_per_s": load["sent"] / load["seconds"],
        "delivered": delivered,
        "dropped": st.ring_drops + sum(st.drops.values()),
        "ring_drops": st.ring_drops,
        "frames_in": st.frames_in,
        "seconds": seconds,
        "delivered_per_s": delivered / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--generate", nargs=2, metavar=("IF", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate[0], int(args.generate[1]))
        return
    kernel = kernel_side(args.frames)
    emulated = emulator_side(args.frames)
    ratio = emulated["delivered_per_s"] / kernel["delivered_per_s"]
    result = {"kernel": kernel, "emulator": emulated, "ratio": ratio}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for name, side in (("kernel macvlans", kernel), ("macvlan-sim live", emulated)):
        print(
            f"{name:>17}: offered {side['offered']:>9,} at {side['offered_per_s']:>11,.0f}/s; "
            f"delivered {side['delivered']:>9,} ({side['delivered_per_s']:>11,.0f}/s); "
            f"dropped {side['dropped']:>9,}"
        )
    print(f"emulator / kernel (delivered frames per second): {ratio:.3f}")


if __name__ == "__main__":
    main()
