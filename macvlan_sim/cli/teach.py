"""``explain``, ``diagnose`` and ``draw``: the teaching commands (thin layers over teach/)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from macvlan_sim.io.cli_types import integer


def cmd_explain(args: argparse.Namespace) -> int:
    from macvlan_sim.cli.main import _load_topology
    from macvlan_sim.teach.explain import explain, explain_record
    from macvlan_sim.teach.frames import frame_from_hex, frame_from_scapy, trace_records

    topo = _load_topology(args.topology)
    engine = topo.engine(keep_paths=True)
    if args.trace is not None:
        records = trace_records(args.trace)
        try:
            expl = explain_record(engine, records, args.index, trace=args.trace)
        finally:
            records.close()
    else:
        frame = frame_from_hex(args.hex) if args.hex is not None else frame_from_scapy(args.scapy)
        expl = explain(engine, frame, inject=args.inject)
    return _emit(args.json, expl.as_json, lambda render: render.explanation_view(expl))


def cmd_diagnose(args: argparse.Namespace) -> int:
    from macvlan_sim.cli.main import _load_topology
    from macvlan_sim.teach.diagnose import diagnose

    topo = _load_topology(args.topology)
    trace = None
    if args.trace:
        from macvlan_sim.teach.frames import trace_records

        trace = trace_records(args.trace)
    verdicts = diagnose(topo, trace, service_every=args.service_every)
    return _emit(
        args.json,
        lambda: {"topology": topo.source, "verdicts": [v.as_json() for v in verdicts]},
        lambda render: render.verdicts_view(verdicts),
    )


def _emit(as_json: bool, data: Callable[[], Any], view: Callable[[ModuleType], Any]) -> int:
    """Print JSON, or the rich view built from :mod:`macvlan_sim.teach.render`."""
    if as_json:
        print(json.dumps(data(), indent=1))
    else:
        from macvlan_sim.cli.main import _stdout
        from macvlan_sim.teach import render

        _stdout().print(view(render))
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from macvlan_sim.cli.main import _load_topology
    from macvlan_sim.teach.draw import draw

    topo = _load_topology(args.topology)
    records = None
    if args.trace:
        from macvlan_sim.teach.frames import trace_records

        records = trace_records(args.trace)
    print(draw(topo, args.out, records))
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
    ex.add_argument("--index", type=integer(0), default=0, help="which frame of --trace (from 0)")
    ex.add_argument("--inject", default="wire", help="send on this device (default: from the wire)")
    ex.add_argument("--json", action="store_true", help="print the explanation as JSON")
    ex.set_defaults(func=cmd_explain)

    dg = sub.add_parser("diagnose", help="answer the usual questions about a topology, with proof")
    dg.add_argument("--topology", help="topology file (default: the bundled one)")
    dg.add_argument("--trace", help="a trace to test the broadcast queue with")
    dg.add_argument(
        "--service-every",
        type=integer(1),
        default=64,
        help="the broadcast workqueue runs once per this many frames (default 64)",
    )
    dg.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    dg.set_defaults(func=cmd_diagnose)

    dr = sub.add_parser("draw", help="draw the topology (and a trace's traffic) as PNG or SVG")
    dr.add_argument("--topology", help="topology file (default: the bundled one)")
    dr.add_argument("--out", required=True, help="the picture to write (.png or .svg)")
    dr.add_argument("--trace", help="add per-device traffic and frames over time for this trace")
    dr.set_defaults(func=cmd_draw)
