"""``explain``, ``diagnose`` and ``draw``: the teaching commands (thin layers over teach/)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console


def cmd_explain(args: argparse.Namespace) -> int:
    from macvlan_sim.cli.main import _load_topology, _stdout
    from macvlan_sim.teach.explain import explain, topology_engine
    from macvlan_sim.teach.frames import frame_from_hex, frame_from_scapy, frame_from_trace

    topo = _load_topology(args.topology)
    before: list[bytes] = []
    if args.hex is not None:
        frame = frame_from_hex(args.hex)
    elif args.scapy is not None:
        frame = frame_from_scapy(args.scapy)
    else:
        before, frame = frame_from_trace(args.trace, args.index)
    expl = explain(topology_engine(topo), frame, inject=args.inject, before=before)
    if args.json:
        print(json.dumps(expl.as_json(), indent=1))
    else:
        from macvlan_sim.teach.render import explanation_view

        _stdout().print(explanation_view(expl))
    return 0


def add_arguments(sub: Any) -> None:
    ex = sub.add_parser(
        "explain",
        help="explain one frame's path through the kernel, and why each other device got none",
    )
    ex.add_argument("--topology", help="topology file (default: the bundled one)")
    src = ex.add_mutually_exclusive_group(required=True)
    src.add_argument("--hex", help="the frame as hex")
    src.add_argument("--scapy", help='the frame as a scapy expression, e.g. "Ether()/ARP()"')
    src.add_argument("--trace", help="a pcap/pcapng trace (with --index)")
    ex.add_argument("--index", type=int, default=0, help="which frame of --trace (from 0)")
    ex.add_argument("--inject", default="wire", help="send on this device (default: from the wire)")
    ex.add_argument("--json", action="store_true", help="print the explanation as JSON")
    ex.set_defaults(func=cmd_explain)


__all__ = ["Console", "add_arguments"]
