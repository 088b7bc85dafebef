"""Human-readable replay report (rich tables)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from macvlan_sim.cli.replay import ReplayStats
from macvlan_sim.datapath.counters import FIELDS
from macvlan_sim.io.capture import point_filename

_PKTTYPES = ("host", "broadcast", "multicast", "otherhost", "outgoing")


def replay_report(
    console: Console, stats: ReplayStats, trace: str, topology: str, out_dir: Path | None
) -> None:
    console.print(f"[bold]{escape(trace)}[/] through [bold]{escape(topology)}[/]")
    console.print(_accounting(stats))
    console.print(_points(stats, out_dir))
    if stats.drops:
        console.print(_drops(stats))
    console.print(_counters(stats))


def _accounting(stats: ReplayStats) -> Table:
    table = Table(title="input accounting", show_header=False)
    table.add_column("what")
    table.add_column("frames", justify="right")
    table.add_row("records read", str(stats.records + sum(stats.skipped.values())))
    table.add_row("Ethernet frames fed to the lower", str(stats.frames_fed))
    for fate, n in sorted(stats.fates.items()):
        table.add_row(f"  … {fate}", str(n))
    if stats.truncated:
        table.add_row("  (snaplen-truncated records, fed as captured)", str(stats.truncated))
    if stats.runts:
        table.add_row("skipped: shorter than an Ethernet header", str(stats.runts))
    for reason, n in sorted(stats.skipped.items()):
        table.add_row(f"skipped: {reason}", str(n))
    table.add_row("[bold]accounted for[/]", f"[bold]{stats.accounted}[/]")
    return table


def _points(stats: ReplayStats, out_dir: Path | None) -> Table:
    table = Table(title="per observation point")
    table.add_column("point")
    table.add_column("frames", justify="right")
    table.add_column("bytes", justify="right")
    for kind in _PKTTYPES:
        table.add_column(kind, justify="right")
    table.add_column("via queue", justify="right")
    if out_dir is not None:
        table.add_column("pcap")
    for name, st in sorted(stats.points.items()):
        row = [name, str(st.frames), str(st.bytes)]
        row += [str(st.pkttypes.get(k, 0) or "") for k in _PKTTYPES]
        row.append(str(st.queued or ""))
        if out_dir is not None:
            row.append(str(out_dir / point_filename(name)))
        table.add_row(*row)
    return table


def _drops(stats: ReplayStats) -> Table:
    table = Table(title="drops (copies that went nowhere, and why)")
    table.add_column("reason")
    table.add_column("copies", justify="right")
    for reason, n in stats.drops.most_common():
        table.add_row(reason, str(n))
    return table


def _counters(stats: ReplayStats) -> Table:
    table = Table(title="device counters (rtnl_link_stats64)")
    table.add_column("device")
    fields = [f for f in FIELDS if any(c.get(f) for c in stats.counters.values())]
    for f in fields:
        table.add_column(f, justify="right")
    for dev, c in stats.counters.items():
        table.add_row(dev, *[str(c.get(f, 0) or "") for f in fields])
    return table
