"""``macvlan-sim live``: run a topology on a real interface until Ctrl-C or SIGTERM.

The command only wires signals to :meth:`LiveEmulator.stop` and prints the final table; the
emulator does the rest. Signals are turned into a stop request (not an exception), so the loop
finishes the batch in hand, every TAP is removed and the table always prints.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from macvlan_sim.io.console import stdout_console
from macvlan_sim.io.live import LiveEmulator, LiveStats


def add_arguments(sub: Any, load_topology: Any) -> None:
    lv = sub.add_parser(
        "live",
        help="run the topology on a real interface: frames from IF in, TAP devices out",
        description="Every frame arriving on IF enters the emulated lower from the wire; "
        "receptions go to per-device TAPs, pcaps and callbacks; frames programs write into a "
        "TAP take the transmit path. Stop with Ctrl-C or SIGTERM.",
    )
    lv.add_argument("--iface", required=True, metavar="IF", help="the real interface (the lower)")
    lv.add_argument("--topology", required=True, metavar="FILE", help="topology file")
    lv.add_argument("--taps", action="store_true", help="one TAP per macvlan and VLAN device")
    lv.add_argument("--pcap-dir", metavar="DIR", help="one pcap per observation point")
    lv.add_argument("--json", action="store_true", help="print the final statistics as JSON")
    lv.set_defaults(func=lambda args: cmd_live(args, load_topology))


def cmd_live(args: argparse.Namespace, load_topology: Any) -> int:
    topo = load_topology(args.topology)
    if topo.hairpin or topo.drain != "frame":
        print(
            "macvlan-sim: note: the topology's 'host hairpin' and 'host drain' do not apply live: "
            "the real far side reflects frames or not, and the broadcast queue drains after "
            "every frame",
            file=sys.stderr,
        )
    pcap_dir = Path(args.pcap_dir) if args.pcap_dir else None
    with LiveEmulator(topo.host, args.iface, taps=args.taps, pcap_dir=pcap_dir) as emu:
        names = ", ".join(emu.taps) or "none"
        print(f"macvlan-sim live on {args.iface}: TAPs {names}; Ctrl-C stops", file=sys.stderr)
        with _signals_stop(emu):
            stats = emu.run()
    if stats.stop_reason:
        print(f"macvlan-sim: error: {stats.stop_reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(stats.as_json(), indent=1))
    else:
        console = stdout_console(width=120)
        console.print(stats_table(stats, args.iface))
    return 2 if stats.stop_reason else 0


@contextmanager
def _signals_stop(emu: LiveEmulator) -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        emu.stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stats_table(stats: LiveStats, iface: str) -> Table:
    table = Table(title=f"macvlan-sim live on {escape(iface)} ({stats.seconds:.1f} s)")
    table.add_column("what")
    table.add_column("frames", justify="right")
    table.add_row(f"in from {escape(iface)}", str(stats.frames_in))
    for dev, n in sorted(stats.tap_in.items()):
        table.add_row(f"in from TAP {escape(dev)}", str(n))
    for dev, n in sorted(stats.delivered.items()):
        table.add_row(f"delivered into TAP {escape(dev)}", str(n))
    table.add_row(f"sent out of {escape(iface)}", str(stats.sent))
    for reason, n in sorted(stats.drops.items()):
        table.add_row(f"dropped: {escape(reason)}", str(n))
    table.add_row("ring: frames the kernel captured", str(stats.ring_packets))
    table.add_row("ring: dropped by the kernel (ring full)", str(stats.ring_drops))
    if stats.pcap_frames:
        table.add_row("written to pcaps", str(stats.pcap_frames))
    for dev in stats.taps_gone:
        table.add_row(f"TAP {escape(dev)} removed under us", "-")
    return table
