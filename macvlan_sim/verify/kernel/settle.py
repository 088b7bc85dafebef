"""Measure how long the kernel takes to deliver the last copy of a frame (the settle window).

Broadcasts to a veth lower are queued and delivered by a workqueue item, so their copies
arrive after ``sendto`` returns, on a CPU the scheduler picks. The harness ends a frame when
every socket has been quiet for ``settle`` seconds; this tool measures the latency of the
last copy so that number can be chosen with a margin, optionally with every CPU busy::

    python -m macvlan_sim.verify.kernel.settle --samples 300 --load 2

Run as root. The CPU hogs are child processes of this tool, killed by pid at the end.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from macvlan_sim.io.cli_types import OneLineParser, integer

from .harness import LOWER, WIRE, _Run, parse_scenario
from .netns import private_netns, sigterm_raises

_BROADCAST = bytes.fromhex("ffffffffffff0a000000000188b5") + b"MVO-settle".ljust(46, b"\0")


def _scenario(n_devices: int) -> dict[str, Any]:
    return {
        "lower": {"mac": "02:00:00:00:00:01"},
        "devices": [
            {"name": f"mv{i}", "mode": "bridge", "mac": f"02:00:00:00:01:{i:02x}"}
            for i in range(n_devices)
        ],
        "frames": [{"inject": WIRE, "hex": _BROADCAST.hex()}],
    }


def measure(samples: int = 200, load: int = 0, devices: int = 6) -> dict[str, Any]:
    """Latency (ms) from send to the last copy of a queued wire broadcast, over ``samples``."""
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(load):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        spec = parse_scenario(_scenario(devices))
        with sigterm_raises(), private_netns() as ns:
            run = _Run(spec, ns, settle=0.5)
            try:
                run.setup()
                names = run.existing_devices()
                run.open_observers(names)
                assert run.observer is not None and run.injector is not None
                run.observer.collect(0.05, 1.0)
                expected = 2 + 1 + devices  # wire out, lower tap, lower stack, each macvlan
                lat: list[float] = []
                short = 0
                for _ in range(samples):
                    t0 = time.monotonic()
                    run.injector.send(WIRE, _BROADCAST)
                    caps = run.observer.collect(0.25, 2.0)
                    if len(caps) != expected:
                        short += 1
                    if caps:
                        lat.append((max(c.ts for c in caps) - t0) * 1000)
            finally:
                run.close()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    lat.sort()
    return {
        "samples": samples,
        "load_processes": load,
        "devices": devices,
        "incomplete": short,
        "median_ms": round(statistics.median(lat), 3),
        "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 3),
        "max_ms": round(lat[-1], 3),
        "lower": LOWER,
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: print the measurement as JSON."""
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=integer(1, 100_000), default=200)
    ap.add_argument(
        "--load", type=integer(0, 64), default=0, help="busy-loop processes to run meanwhile"
    )
    ap.add_argument("--devices", type=integer(1, 4096), default=6)
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.samples, args.load, args.devices)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
