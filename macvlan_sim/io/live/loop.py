"""The live loop: frames from the real interface and from TAPs through the engine, and every
reception out to where it belongs.

Inputs: the ring on the real interface (frames from the wire: :meth:`Engine.rx`) and the TAPs
(frames a program sent on an emulated device: :meth:`Engine.tx`). Outputs, read from each
frame's :class:`FrameOutcome` — the engine decides, this module only carries:

* a reception at an emulated device (not its own outgoing copy) → written into that device's
  TAP, tag in band (a VLAN device's TAP gets what the VLAN device received);
* a reception at ``wire`` that the lower sent (not the wire's own outgoing copy) → sent out of
  the real interface;
* every reception → the point's pcap (``pcap_dir``) and the engine's callbacks.

Everything is batched per wake-up: a whole set of ring blocks, or up to :data:`TAP_BATCH`
frames per TAP, goes through the engine before the loop polls again; callbacks are flushed
once per batch. Hairpin reflection is the real wire's business here, never the model's.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import FrameOutcome
from macvlan_sim.io.capture import CaptureWriter, point_filename
from macvlan_sim.io.live.errors import LiveError
from macvlan_sim.io.live.ring import PacketRing, RingGeometry
from macvlan_sim.io.live.tap import TapDevice, TapGone
from macvlan_sim.model.constants import ETH_HLEN, PktType
from macvlan_sim.model.host import WIRE_NAME, Host

ARPHRD_ETHER = 1
#: Frames taken from one TAP per wake-up (fairness between TAPs and the ring).
TAP_BATCH = 64
#: Ring blocks handled per wake-up before TAPs get a turn.
RING_BATCH = 8
#: Seconds between reads of the ring's PACKET_STATISTICS (reset by each read).
STATS_EVERY = 1.0
#: Seconds to wait after the interface went away before reading what the ring holds.
DETACH_GRACE = 0.05
_OUTGOING = PktType.OUTGOING


@dataclass
class LiveStats:
    """What the run did; every frame read is in ``frames_in`` or ``tap_in`` and then either
    delivered/sent somewhere or counted in ``drops``."""

    frames_in: int = 0
    tap_in: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    ring_packets: int = 0
    ring_drops: int = 0
    pcap_frames: int = 0
    seconds: float = 0.0
    #: TAPs the kernel removed under us (their namespace was deleted).
    taps_gone: list[str] = field(default_factory=list)
    #: Why the run ended early (the interface went away), or "" for a requested stop.
    stop_reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "tap_in": dict(self.tap_in),
            "delivered": dict(self.delivered),
            "sent": self.sent,
            "drops": dict(self.drops),
            "ring": {"packets": self.ring_packets, "drops": self.ring_drops},
            "pcap_frames": self.pcap_frames,
            "seconds": round(self.seconds, 3),
            "taps_gone": self.taps_gone,
            "stop_reason": self.stop_reason,
        }


class LiveEmulator:
    """Run ``host`` live on interface ``ifname``.

    ``taps``: one TAP per macvlan and VLAN device, named like it and carrying its MAC.
    ``pcap_dir``: one pcap per observation point. Register callbacks on ``engine.callbacks``
    before :meth:`run` (they must not feed the engine themselves). Use as a context manager, or
    call :meth:`close`: it removes every TAP and releases the interface.
    """

    def __init__(
        self,
        host: Host,
        ifname: str,
        *,
        taps: bool = True,
        pcap_dir: Path | None = None,
        geometry: RingGeometry | None = None,
    ) -> None:
        self.host = host
        self.ifname = ifname
        self.stats = LiveStats()
        self.taps: dict[str, TapDevice] = {}
        self.writers: dict[str, CaptureWriter] = {}
        self.pcap_dir = pcap_dir
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ipr: IPRoute | None = None
        self.ring: PacketRing | None = None
        try:
            self.ring = PacketRing(ifname, geometry)
            self._ipr = IPRoute()
            self._adopt_lower_address()
            self.engine = Engine(host, drain="frame", hairpin=False, keep_paths=False)
            if taps:
                self._make_taps()
            if pcap_dir is not None:
                pcap_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ setup
    def _adopt_lower_address(self) -> None:
        """The model's lower is the real interface: it answers to the interface's MAC."""
        assert self._ipr is not None and self.ring is not None and self.host.lower is not None
        link = self._ipr.get_links(self.ring.ifindex)[0]
        if link["ifi_type"] != ARPHRD_ETHER:
            raise LiveError(f"interface {self.ifname} is not an Ethernet interface")
        mac = bytes.fromhex(link.get_attr("IFLA_ADDRESS").replace(":", ""))
        if mac != self.host.lower.mac:
            self.host.set_address(self.host.lower.name, mac)

    def _make_taps(self) -> None:
        assert self._ipr is not None
        for dev in [*self.host.macvlans(), *self.host.vlan_devices()]:
            self.taps[dev.name] = TapDevice(self._ipr, dev.name, dev.mac, dev.mtu)

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler or another thread)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._stop_w, b"x")

    def __enter__(self) -> LiveEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every TAP, close pcaps, release the interface (idempotent)."""
        for tap in self.taps.values():
            tap.close()
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
        if self.ring is not None:
            with contextlib.suppress(OSError):
                self._take_ring_statistics()
            self.ring.close()
            self.ring = None
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._stop_r = self._stop_w = -1

    # ------------------------------------------------------------------ the loop
    def run(self) -> LiveStats:
        """Move frames until :meth:`stop` (or the interface goes away); return the statistics."""
        ring = self.ring
        assert ring is not None, "the emulator is closed"
        ep = select.epoll()
        by_fd = {tap.fileno(): tap for tap in self.taps.values()}
        ep.register(ring.fileno(), select.EPOLLIN | select.EPOLLERR)
        ep.register(self._stop_r, select.EPOLLIN)
        for fd in by_fd:
            ep.register(fd, select.EPOLLIN)
        start = next_stats = time.monotonic()
        try:
            while True:
                events = ep.poll(0.5)
                if time.monotonic() >= next_stats:  # the kernel's counters are 32-bit
                    self._take_ring_statistics()
                    next_stats += STATS_EVERY
                if any(fd == self._stop_r for fd, _ in events):
                    self._drain_ring()
                    break
                if self._service_ring(events):
                    break
                for fd, _ in events:
                    tap = by_fd.get(fd)
                    if tap is not None and not self._service_tap(tap):
                        ep.unregister(fd)
                        del by_fd[fd]
                self.engine.flush()
        finally:
            ep.close()
            self._finish(start)
        return self.stats

    def _service_ring(self, events: list[tuple[int, int]]) -> bool:
        """Feed what the ring holds; True when the interface went away (after draining it)."""
        ring = self.ring
        assert ring is not None
        error = any(fd == ring.fileno() and ev & select.EPOLLERR for fd, ev in events)
        if error and ring.pending_error():
            # Detached from the interface: let a receive in flight finish, then take every
            # frame that made it into the ring, the open block's too.
            time.sleep(DETACH_GRACE)
            self.feed_wire(ring.read_blocks())
            self.feed_wire(ring.read_open_block())
            self.stats.stop_reason = self._why_gone()
            return True
        if any(fd == ring.fileno() for fd, _ in events):
            self.feed_wire(ring.read_blocks(RING_BATCH))
        return False

    def _drain_ring(self) -> None:
        """On a stop request: wait out one block timeout, so the frames already captured are
        in handed-over blocks, and feed them — a stop never strands a captured frame."""
        ring = self.ring
        assert ring is not None
        time.sleep(ring.geometry.retire_ms / 1000 + DETACH_GRACE)
        self.feed_wire(ring.read_blocks())

    def _why_gone(self) -> str:
        assert self.ring is not None
        try:
            self.ring.flags()  # asks the socket's own namespace, whatever thread we run in
        except OSError:
            return f"interface {self.ifname} disappeared"
        return f"interface {self.ifname} went down"

    def _service_tap(self, tap: TapDevice) -> bool:
        """Send what programs wrote into ``tap``; False once the TAP is gone."""
        frames: list[bytes] = []
        alive = True
        try:
            for _ in range(TAP_BATCH):
                frame = tap.read()
                if frame is None:
                    break
                frames.append(frame)
        except TapGone:
            alive = False
            self.stats.taps_gone.append(tap.name)
        self.feed_tap(tap.name, frames)
        return alive

    def _finish(self, start: float) -> None:
        self.engine.run_workqueue()
        self.engine.flush()
        self.stats.seconds = time.monotonic() - start
        if self.ring is not None:
            with contextlib.suppress(OSError):
                self._take_ring_statistics()
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def _take_ring_statistics(self) -> None:
        assert self.ring is not None
        self.stats.ring_packets, self.stats.ring_drops = self.ring.statistics()
        if self.ring.truncated:
            self.stats.drops["ring-truncated"] = self.ring.truncated

    # ------------------------------------------------------------------ frames through the engine
    def feed_wire(self, frames: list[tuple[int, bytes]]) -> None:
        """Frames read from the interface enter the lower from the wire."""
        rx, route, st = self.engine.rx, self._route, self.stats
        for ts, data in frames:
            st.frames_in += 1
            if len(data) < ETH_HLEN:
                st.drops["runt"] += 1
                continue
            route(rx(data, timestamp_ns=ts), ts)

    def feed_tap(self, dev: str, frames: list[bytes]) -> None:
        """Frames a program sent through ``dev``'s TAP take the engine's transmit path."""
        if not frames:
            return
        tx, route, st = self.engine.tx, self._route, self.stats
        ts = time.time_ns()
        st.tap_in[dev] += len(frames)
        for data in frames:
            out = tx(dev, data)
            if out.send != "ok":
                st.drops[f"send-{out.send}"] += 1
            route(out, ts)

    def _route(self, out: FrameOutcome, ts: int) -> None:
        st, taps, ring = self.stats, self.taps, self.ring
        assert ring is not None
        for r in out.receptions:
            if self.pcap_dir is not None:
                self._writer(r.point).write(ts, r.wire_bytes)
                st.pcap_frames += 1
            if r.pkttype == _OUTGOING:
                continue
            tap = taps.get(r.point)
            if tap is not None:
                why = tap.write(r.wire_bytes)
                if why is None:
                    st.delivered[r.point] += 1
                else:
                    st.drops[why] += 1
            elif r.point == WIRE_NAME:
                why = ring.send(r.wire_bytes)
                if why is None:
                    st.sent += 1
                else:
                    st.drops[why] += 1
        for d in out.drops:
            st.drops[d.reason] += 1

    def _writer(self, point: str) -> CaptureWriter:
        writer = self.writers.get(point)
        if writer is None:
            assert self.pcap_dir is not None
            writer = CaptureWriter(self.pcap_dir / point_filename(point))
            self.writers[point] = writer
        return writer
