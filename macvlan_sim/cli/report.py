"""Human-readable replay report (rich tables), read from the same statistics as the JSON."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from macvlan_sim.cli.byte_rules import BYTE_RULES
from macvlan_sim.cli.replay import FATES, TRUNCATED_TREATMENT, ReplayStats
from macvlan_sim.cli.replay_json import CLAMP_RULE, rule_text
from macvlan_sim.datapath.counters import FIELDS
from macvlan_sim.io.capture import point_filename

_PKTTYPES = ("host", "broadcast", "multicast", "otherhost", "outgoing")


def replay_report(console: Console, stats: ReplayStats) -> None:
    console.print(f"[bold]{escape(stats.trace)}[/] through [bold]{escape(stats.topology)}[/]")
    console.print(_accounting(stats))
    if stats.truncated or stats.stopped is not None:
        console.print(_accounting_notes(stats))
    console.print(_points(stats))
    if stats.drops:
        console.print(_drops(stats))
    console.print(_counters(stats))
    console.print(_counter_legend())


def _accounting(stats: ReplayStats) -> Table:
    table = Table(title="input accounting", show_header=False)
    table.add_column("what")
    table.add_column("frames", justify="right")
    table.add_row("records read", str(stats.records_read))
    table.add_row("Ethernet frames fed to the lower", str(stats.frames_fed))
    for fate, text in FATES.items():
        if stats.fates.get(fate):
            table.add_row(f"  … {text}", str(stats.fates[fate]))
    if stats.truncated:
        table.add_row(
            "  (of them snaplen-truncated, judged by original length)", str(stats.truncated)
        )
    for reason, n in sorted(stats.skipped_by_reason.items()):
        table.add_row(f"skipped: {escape(reason)}", str(n))
    table.add_row("[bold]accounted for[/]", f"[bold]{stats.accounted}[/]")
    stop = stats.stopped
    if stop is not None:
        unread = "unknown" if stop.unread_bytes is None else str(stop.unread_bytes)
        table.add_row("reading stopped early: bytes left unread", unread)
    return table


def _accounting_notes(stats: ReplayStats) -> Text:
    """What the accounting table's short rows mean, in full."""
    text = Text(style="dim")
    if stats.truncated:
        text.append(f"snaplen-truncated records: {TRUNCATED_TREATMENT}\n")
    if stats.stopped is not None:
        text.append(f"reading stopped: {stats.stopped.message}\n")
    return text


def _points(stats: ReplayStats) -> Table:
    clamped = stats.timestamps_clamped
    caption = "bytes: " + BYTE_RULES["point_bytes"]
    if clamped:
        caption += f"\n{clamped} timestamps clamped: {CLAMP_RULE}"
    table = Table(title="per observation point", caption=caption, caption_justify="left")
    table.add_column("point")
    table.add_column("frames", justify="right")
    table.add_column("bytes", justify="right")
    for kind in _PKTTYPES:
        table.add_column(kind, justify="right")
    table.add_column("via queue", justify="right")
    if stats.out_dir is not None:
        table.add_column("pcap")
    if clamped:
        table.add_column("ts clamped", justify="right")
    for name, st in sorted(stats.points.items()):
        row = [escape(name), str(st.frames), str(st.bytes)]
        row += [str(st.pkttypes.get(k, 0) or "") for k in _PKTTYPES]
        row.append(str(st.queued or ""))
        if stats.out_dir is not None:
            row.append(escape(f"{stats.out_dir}/{point_filename(name)}"))
        if clamped:
            row.append(str(st.timestamps_clamped or ""))
        table.add_row(*row)
    return table


def _drops(stats: ReplayStats) -> Table:
    table = Table(title="drops (copies that went nowhere, and why), by rule")
    table.add_column("rule")
    table.add_column("what")
    table.add_column("where", justify="right")
    table.add_column("copies", justify="right")
    for rule, n in stats.drops.most_common():
        where = ", ".join(f"{p} {c}" for p, c in sorted(stats.drop_points[rule].items()))
        what = rule_text(rule)
        example = stats.drop_examples.get(rule)
        if example:
            what += f"\n[dim]first: {escape(example)}[/]"
        table.add_row(rule, what, escape(where), str(n))
    return table


_COUNTER_LEGEND = (
    "macvlan_rx_bytes",
    "bridge_local_rx_bytes",
    "return_to_sender_rx_bytes",
    "vlan_rx_bytes",
    "link_bytes",
    "tx_bytes",
)


def _counter_legend() -> Text:
    """Which rule each byte counter follows (they disagree on screen, each kernel-exact)."""
    text = Text("byte counters (docs/replay.md):\n", style="dim")
    for key in _COUNTER_LEGEND:
        text.append(f"  - {BYTE_RULES[key]}\n", style="dim")
    return text


def _counters(stats: ReplayStats) -> Table:
    table = Table(title="device counters (rtnl_link_stats64)")
    table.add_column("device")
    fields = [f for f in FIELDS if any(c.get(f) for c in stats.counters.values())]
    for f in fields:
        table.add_column(f, justify="right")
    for dev, c in stats.counters.items():
        table.add_row(escape(dev), *[str(c.get(f, 0) or "") for f in fields])
    return table
