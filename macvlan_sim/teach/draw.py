"""Pictures: the topology as a tree (lower at the bottom, what is stacked on it above), and,
with a trace, the traffic each device received (bars by packet type, and frames over time).

Uses matplotlib's Agg backend (no display needed). PNG or SVG, chosen by the file suffix.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch

from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.io.replay import Record, feed_record
from macvlan_sim.io.topology import Topology
from macvlan_sim.model.constants import Mode, PktType
from macvlan_sim.model.devices import (
    LowerDevice,
    MacvlanDevice,
    NetDevice,
    VlanDevice,
)
from macvlan_sim.model.errors import SimError
from macvlan_sim.model.host import WIRE_NAME, Host
from macvlan_sim.model.mac import format_mac

#: One colour per macvlan mode (colour-blind-safe palette), grey for the rest.
MODE_COLOURS = {
    Mode.BRIDGE: "#0072B2",
    Mode.VEPA: "#E69F00",
    Mode.PRIVATE: "#CC79A7",
    Mode.PASSTHRU: "#009E73",
    Mode.SOURCE: "#D55E00",
}
KIND_COLOURS = {"lower": "#555555", "vlan": "#56B4E9", "wire": "#999999"}
PKT_COLOURS = {
    PktType.HOST: "#009E73",
    PktType.BROADCAST: "#E69F00",
    PktType.MULTICAST: "#CC79A7",
    PktType.OTHERHOST: "#999999",
}
BOX_W, BOX_H = 2.0, 0.95
GAP = 0.3
#: Inches per layout unit: boxes keep their size whatever the number of devices.
INCH = 0.95


# ---------------------------------------------------------------------- traffic
#: The timeline keeps this many time bins per device, whatever the length of the trace.
TIME_BINS = 512


@dataclass
class Timeline:
    """Receptions per device over fixed-width time bins, in bounded memory: ``TIME_BINS``
    counts per device. When a reception falls past the last bin the bins are merged in
    pairs and their width doubles, so one streaming pass covers a trace of any length."""

    width: float = 1e-6
    bins: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, when: float) -> None:
        when = max(when, 0.0)
        while when >= self.width * TIME_BINS:
            self._coarsen()
        counts = self.bins.setdefault(name, [0] * TIME_BINS)
        counts[int(when // self.width)] += 1

    def _coarsen(self) -> None:
        self.width *= 2
        half = TIME_BINS // 2
        for counts in self.bins.values():
            merged = [counts[2 * i] + counts[2 * i + 1] for i in range(half)]
            counts[:] = merged + [0] * half

    def cumulative(self, name: str) -> tuple[list[float], list[int]]:
        """(bin end times, receptions up to each) for a step plot, up to the last reception."""
        counts = self.bins.get(name, [])
        last = max((i for i, c in enumerate(counts) if c), default=-1)
        xs, ys, total = [0.0], [0], 0
        for i in range(last + 1):
            total += counts[i]
            xs.append((i + 1) * self.width)
            ys.append(total)
        return xs, ys


@dataclass
class Traffic:
    """What each device received over a trace (taps on devices; OUTGOING not counted)."""

    by_type: dict[str, Counter[PktType]] = field(default_factory=lambda: defaultdict(Counter))
    timeline: Timeline = field(default_factory=Timeline)
    frames: int = 0
    dropped: int = 0

    def account(self, out: FrameOutcome, when: float) -> None:
        """Count a finished frame's drops and receptions (at ``when``, seconds)."""
        self.dropped += len(out.drops)
        for rec in out.receptions:
            if rec.received and rec.point != WIRE_NAME:
                self.by_type[rec.point][rec.pkttype] += 1
                self.timeline.add(rec.point, when)


def replay_traffic(topo: Topology, records: Iterable[Record]) -> Traffic:
    """Run the trace through an engine on ``topo`` (its own drain and hairpin), fed as replay
    feeds it; count receptions per device and time. Streams: memory does not grow with the
    trace (frames whose copies wait in a broadcast queue are held until served, and the
    queues are bounded)."""
    eng = topo.engine(keep_paths=False)
    traffic = Traffic()
    waiting: deque[tuple[FrameOutcome, float]] = deque()
    start: int | None = None
    for i, rec in enumerate(records):
        ts = rec.timestamp_ns
        if start is None and ts is not None:
            start = ts
        when = (ts - start) / 1e9 if ts is not None and start is not None else float(i)
        out = feed_record(eng, rec.data, ts, rec.orig_len)
        traffic.frames += 1
        waiting.append((out, when))
        # Queued copies are served oldest first: account frames from the front as they finish.
        while waiting and not waiting[0][0].pending:
            traffic.account(*waiting.popleft())
    eng.run_workqueue()
    for out, when in waiting:
        traffic.account(out, when)
    return traffic


# ---------------------------------------------------------------------- layout
def _children(host: Host, dev: NetDevice) -> list[NetDevice]:
    return [d for d in host.devices.values() if d.link is dev and d.kind != "wire"]


def _layout(host: Host) -> dict[str, tuple[float, float]]:
    """x by leaf order (a subtree is centred over its leaves), y by stacking depth."""
    lower = host.lower
    assert lower is not None
    pos: dict[str, tuple[float, float]] = {}
    next_x = [0.0]

    def place(dev: NetDevice, depth: int) -> float:
        kids = _children(host, dev)
        if not kids:
            x = next_x[0]
            next_x[0] += BOX_W + GAP
        else:
            xs = [place(k, depth + 1) for k in kids]
            x = (min(xs) + max(xs)) / 2
        pos[dev.name] = (x, depth * 1.7)
        return x

    place(lower, 1)
    pos[WIRE_NAME] = (pos[lower.name][0], 0.0)
    return pos


def _label(host: Host, dev: NetDevice) -> tuple[str, str]:
    """(title line, detail lines) for a device box."""
    state = "" if dev.up else "  DOWN"
    if isinstance(dev, MacvlanDevice):
        title = f"{dev.name}  {dev.mode.word}{state}"
        lines = [format_mac(dev.mac)]
        flags = []
        if dev.nodst:
            flags.append("nodst")
        if dev.mode == Mode.SOURCE and dev.port is not None:
            flags.append(f"{len(dev.port.source_list(dev))} sources")
        if dev.mc_filter.all:
            flags.append("filter: all")
        else:
            groups = max(len(dev.mc_filter.addresses) - 1, 0)  # less its broadcast address
            flags.append(f"filter: {groups} group{'' if groups == 1 else 's'}")
        lines.append(", ".join(flags))
        return title, "\n".join(lines)
    if isinstance(dev, VlanDevice):
        return f"{dev.name}  VID {dev.vid}{state}", f"{dev.protocol_word}\n{format_mac(dev.mac)}"
    if isinstance(dev, LowerDevice):
        kind = f"NIC, {dev.filter_slots} slots" if dev.has_unicast_filter else "veth"
        uc = len(dev.uc_addresses())
        mode = "PROMISC" if dev.promisc else "filtering"
        return f"{dev.name}  {kind}{state}", f"{format_mac(dev.mac)}\n{uc} unicast MACs, {mode}"
    return f"{dev.name}{state}", format_mac(dev.mac)


def _colour(dev: NetDevice) -> str:
    if isinstance(dev, MacvlanDevice):
        return MODE_COLOURS.get(dev.mode, "#777777")
    return KIND_COLOURS.get(dev.kind, "#777777")


def draw_topology(ax: Axes, host: Host, title: str) -> None:
    pos = _layout(host)
    for name, (x, y) in pos.items():
        dev = host.devices[name]
        parent = dev.link if name != WIRE_NAME else None
        if name == WIRE_NAME:
            parent = None
        if parent is not None and parent.name in pos:
            px, py = pos[parent.name]
            ax.plot([px, x], [py + BOX_H / 2, y - BOX_H / 2], color="#888888", lw=1.2, zorder=1)
    lower = host.lower
    assert lower is not None
    lx, ly = pos[lower.name]
    ax.plot([lx, lx], [BOX_H / 2, ly - BOX_H / 2], color="#333333", lw=2.5, zorder=1)
    for name, (x, y) in pos.items():
        dev = host.devices[name]
        colour = _colour(dev)
        box = FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=colour if dev.up else "#f2f2f2",
            edgecolor=colour,
            linewidth=2,
            linestyle="-" if dev.up else "--",
            alpha=0.9 if dev.up else 1.0,
            zorder=2,
        )
        ax.add_patch(box)
        head, body = _label(host, dev)
        ink = "white" if dev.up else "#444444"
        ax.text(
            x,
            y + 0.2,
            head,
            ha="center",
            va="center",
            fontsize=10,
            weight="bold",
            color=ink,
            zorder=3,
        )
        ax.text(
            x,
            y - 0.17,
            body,
            ha="center",
            va="center",
            fontsize=8,
            color=ink,
            zorder=3,
            linespacing=1.2,
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - BOX_W / 2 - GAP, max(xs) + BOX_W / 2 + GAP)
    ax.set_ylim(min(ys) - BOX_H / 2 - 0.1, max(ys) + BOX_H / 2 + 0.1)
    ax.axis("off")
    ax.set_title(title, fontsize=11, loc="left")
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor=c, label=m.word)
        for m, c in MODE_COLOURS.items()
        if any(d.mode == m for d in host.macvlans())
    ]
    if any(isinstance(d, VlanDevice) for d in host.devices.values()):
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor=KIND_COLOURS["vlan"], label="VLAN"))
    if any(not d.up for d in host.devices.values()):
        handles.append(
            plt.Rectangle(
                (0, 0), 1, 1, facecolor="#f2f2f2", edgecolor="#444444", ls="--", label="down"
            )
        )
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=8, frameon=False, ncol=2)


def draw_traffic(bars: Axes, timeline: Axes, host: Host, traffic: Traffic) -> None:
    names = [n for n in host.devices if n in traffic.by_type]
    bottoms = [0] * len(names)
    for kind, colour in PKT_COLOURS.items():
        values = [traffic.by_type[n][kind] for n in names]
        if any(values):
            bars.barh(names, values, left=bottoms, color=colour, label=kind.word)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    bars.invert_yaxis()
    bars.set_xlabel("frames received")
    bars.set_title(f"per device ({traffic.frames} frames in the trace)", fontsize=10, loc="left")
    bars.legend(fontsize=7.5, frameon=False, loc="lower right")
    bars.tick_params(labelsize=8)
    palette = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        xs, ys = traffic.timeline.cumulative(name)
        timeline.step(xs, ys, where="post", label=name, color=palette(i % 20), lw=1.4)
    timeline.set_xlabel("time since the first frame (s)")
    timeline.set_ylabel("frames received (cumulative)")
    timeline.set_title("frames over time", fontsize=10, loc="left")
    timeline.tick_params(labelsize=8)
    if len(names) <= 14:
        timeline.legend(fontsize=7, frameon=False, ncol=2)


def draw(
    topo: Topology,
    out: str | Path,
    records: Iterable[Record] | None = None,
) -> Path:
    """Render ``topo`` (and the traffic of a trace's ``records``) into ``out`` (.png or
    .svg)."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise SimError(f"{out}: the picture must be a .png or .svg file")
    host = topo.host
    pos = _layout(host)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    width = (max(xs) - min(xs) + BOX_W + 2 * GAP) * INCH
    height = (max(ys) - min(ys) + BOX_H + 0.2) * INCH
    fig_w = max(width + 0.4, 9.0)
    left = (fig_w - width) / 2 / fig_w
    if records is None:
        fig = plt.figure(figsize=(fig_w, height + 0.6))
        ax = fig.add_axes((left, 0.1 / (height + 0.6), width / fig_w, height / (height + 0.6)))
        draw_topology(ax, host, topo.source)
    else:
        traffic = replay_traffic(topo, records)
        plots = 4.2
        fig_h = height + 0.6 + plots + 0.9
        fig = plt.figure(figsize=(fig_w, fig_h))
        top = fig.add_axes((left, (plots + 1.0) / fig_h, width / fig_w, height / fig_h))
        draw_topology(top, host, topo.source)
        bars = fig.add_axes((0.08, 0.6 / fig_h, 0.38, plots / fig_h))
        timeline = fig.add_axes((0.57, 0.6 / fig_h, 0.38, plots / fig_h))
        draw_traffic(bars, timeline, host, traffic)
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise SimError(f"{out}: cannot write: {exc.strerror}") from None
    finally:
        plt.close(fig)
    return out


def _leaves(host: Host) -> int:
    return sum(1 for d in host.devices.values() if d.kind != "wire" and not _children(host, d))
