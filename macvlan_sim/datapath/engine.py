"""The dispatch engine: frames in, deliveries out (sans-I/O).

:class:`Engine` owns the per-run state the datapath needs — the backlog (``netif_rx``), the
broadcast queues' drain point, the defragmenter, counters — and records everything into the
:class:`~macvlan_sim.datapath.outcome.FrameOutcome` of the frame being processed. The rules
themselves live in :mod:`receive`, :mod:`rx_handler`, :mod:`broadcast` and :mod:`transmit`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from macvlan_sim.datapath.broadcast import process_broadcast_queue
from macvlan_sim.datapath.callbacks import CallbackHub, ReentryError
from macvlan_sim.datapath.counters import CounterBook
from macvlan_sim.datapath.defrag import Defragmenter
from macvlan_sim.datapath.frame import eth_protocol, full_bytes, raw_ethertype, to_bytes
from macvlan_sim.datapath.outcome import Drop, FrameOutcome, Reception
from macvlan_sim.datapath.reasons import Skip, WhyNot
from macvlan_sim.datapath.receive import netif_receive_skb
from macvlan_sim.datapath.skb import Skb
from macvlan_sim.datapath.transmit import dev_queue_xmit
from macvlan_sim.model.constants import ETH_HLEN, ETH_P_8021Q, VLAN_HLEN, PktType
from macvlan_sim.model.devices import NetDevice
from macvlan_sim.model.errors import SimError
from macvlan_sim.model.host import WIRE_NAME, Host
from macvlan_sim.model.port import MacvlanPort


class Engine:
    """Feed frames with :meth:`rx` (from the wire into the lower) or :meth:`tx` (sent on a
    device); each call returns the frame's :class:`FrameOutcome`.

    ``drain`` says when the broadcast workqueue runs: ``"frame"`` (after every frame, as a
    kernel that keeps up does), ``"manual"`` (only at :meth:`run_workqueue`, to study queue
    overflow and reordering) or ``"rate"``: one worker serves queued broadcasts, oldest first,
    ``service_rate`` per second of the frames' timestamps (``timestamp_ns``), so a trace shows
    whether a queue of ``bcqueuelen`` overflows at that rate. ``hairpin`` makes the wire reflect
    every frame it receives back into the lower once (a reflective-relay switch); reflected
    copies are pass 1.
    """

    def __init__(
        self,
        host: Host,
        *,
        drain: str = "frame",
        hairpin: bool = False,
        batch_size: int = 4096,
        keep_paths: bool = True,
        service_rate: int | None = None,
    ) -> None:
        if drain not in ("frame", "manual", "rate"):
            raise SimError(f"drain must be 'frame', 'manual' or 'rate', not {drain!r}")
        if (drain == "rate") != (service_rate is not None) or (service_rate or 1) < 1:
            raise SimError("drain 'rate' needs a service_rate of at least 1 (and only it does)")
        if host.lower is None:
            raise SimError("the host has no lower device")
        self.host = host
        self.drain = drain
        self.hairpin = hairpin
        self.keep_paths = keep_paths
        self.defrag = Defragmenter()
        self.counters = CounterBook()
        self.callbacks = CallbackHub(batch_size, points=self.observation_points)
        self.drop_reasons: Counter[str] = Counter()
        #: Held IPv4 fragments freed with a reassembly queue that never completed.
        self.fragments_evicted = 0
        self._backlog: deque[Skb] = deque()
        self._reflections: deque[Skb] = deque()
        self._pending: dict[int, FrameOutcome] = {}
        #: Ports with something in their broadcast queue, in the order they got it.
        self._busy_ports: dict[MacvlanPort, None] = {}
        self._out: FrameOutcome | None = None
        self._next_index = 0
        #: Fault injection: called as ``fault_hook(point, device)`` where the kernel could fail
        #: an allocation (``"skb_share_check"``); returning True makes that allocation fail.
        self.fault_hook: Callable[[str, NetDevice], bool] | None = None
        #: The rate model: every queued copy (port, time queued) in order, the time the worker
        #: is free again, one copy's service time, and the time now (the last timestamp).
        self._arrivals: deque[tuple[MacvlanPort, int]] = deque()
        self._free_at = 0
        self._service_ns = 1_000_000_000 // service_rate if service_rate else 0
        self._now = 0
        for name in host.devices:
            self.counters.ensure(name)

    # ------------------------------------------------------------------ public API
    def rx(
        self,
        frame: Any,
        *,
        note: str = "",
        timestamp_ns: int | None = None,
        wire_len: int | None = None,
    ) -> FrameOutcome:
        """A frame arriving on the lower from the wire (what a capture on the lower records).

        ``wire_len`` is the frame's original length when ``frame`` holds only the first bytes
        of it (a capture record cut by its snaplen: ``wire_len`` = the record's ``len``,
        ``frame`` = its ``caplen`` bytes). The frame is then judged by its original length —
        MTU checks, ``skb->len`` and the byte counters — while decisions read the captured
        headers (see :class:`~macvlan_sim.datapath.skb.Skb`, ``missing``). Every reception
        carries the same missing tail, so an output pcap can keep ``len`` > ``caplen``.
        """
        return self.inject(
            WIRE_NAME, frame, note=note, timestamp_ns=timestamp_ns, socket=False, wire_len=wire_len
        )

    def tx(self, dev: str, frame: Any, *, note: str = "") -> FrameOutcome:
        """A frame sent on ``dev`` (a macvlan, a VLAN device, or the lower)."""
        return self.inject(dev, frame, note=note)

    def inject(
        self,
        point: str,
        frame: Any,
        *,
        note: str = "",
        timestamp_ns: int | None = None,
        socket: bool = True,
        wire_len: int | None = None,
    ) -> FrameOutcome:
        """Send ``frame`` on device ``point`` (``wire`` injects into the lower). With
        ``socket`` the checks an AF_PACKET ``sendto`` makes apply (ENODEV, ENETDOWN, EINVAL
        for under 14 bytes, EMSGSIZE over the MTU). ``wire_len``: see :meth:`rx`.

        If a delivery callback raises, the frame is still finished (every copy decided,
        counted and recorded), then :class:`CallbackError` is raised with the outcome; calling
        the engine from a callback raises :class:`ReentryError` (see :mod:`.callbacks`)."""
        self._refuse_reentry("inject")
        if timestamp_ns is not None and (
            isinstance(timestamp_ns, bool) or not isinstance(timestamp_ns, int)
        ):
            raise TypeError(f"timestamp_ns must be an int, not {type(timestamp_ns).__name__}")
        if not isinstance(point, str):
            raise TypeError(f"a point is a device name, not {type(point).__name__}")
        data = to_bytes(frame)
        missing = _missing_tail(data, wire_len)
        out = FrameOutcome(self._next_index, data, point, note=note)
        self._next_index += 1
        if timestamp_ns is not None:
            self.defrag.now_ns = timestamp_ns
            if self.drain == "rate":
                self.serve_until(timestamp_ns)
        with self._frame(out):
            out.send = self._send_check(point, data) if socket else self._plain_check(data)
            if out.send == "ok":
                dev = self.host.devices[point]
                skb = Skb(
                    data, dev, protocol=eth_protocol(data), frame_index=out.index, missing=missing
                )
                if self.keep_paths:
                    skb.trail = []
                skb.step("sent on %s", point)
                dev_queue_xmit(self, dev, skb)
                self.process_backlog()
                self._reflect()
        if out.pending:
            self._pending[out.index] = out
        if self.drain == "frame":
            self._drain()
        self.callbacks.raise_deferred(out)
        return out

    def serve_until(self, now_ns: int) -> None:
        """The rate model: serve, oldest first, every queued copy whose service ends by
        ``now_ns`` (the worker starts a copy when it is queued or when the previous one is
        done, whichever is later). Copies queued while serving wait their turn."""
        self._now = max(self._now, now_ns)
        while self._arrivals:
            port, queued_at = self._arrivals[0]
            done = max(queued_at, self._free_at) + self._service_ns
            if done > now_ns:
                return
            self._arrivals.popleft()
            self._free_at = done
            self._now = done
            process_broadcast_queue(self, port, limit=1)
        self._now = max(self._now, now_ns)

    def run_workqueue(self) -> None:
        """The broadcast workqueue runs: every port's queue is drained (FIFO), until none is
        left (a copy delivered to a macvlan can be queued again on a port stacked above it).
        A callback's exception is raised once the queues are empty."""
        self._refuse_reentry("run_workqueue")
        self._drain()
        self.callbacks.raise_deferred()

    def _drain(self) -> None:
        if self.drain == "rate":
            while self._arrivals:
                process_broadcast_queue(self, self._arrivals.popleft()[0], limit=1)
            self._busy_ports.clear()
        while self._busy_ports:
            port = next(iter(self._busy_ports))
            del self._busy_ports[port]
            process_broadcast_queue(self, port)
        self.process_backlog()

    def flush(self) -> None:
        """Hand buffered deliveries to callbacks now."""
        self._refuse_reentry("flush")
        self.callbacks.flush()

    def observation_points(self) -> set[str]:
        """What a callback can subscribe to: every device, its ``NAME:stack``, ``wire``."""
        names = set(self.host.devices)
        return names | {f"{name}:stack" for name in names}

    def _refuse_reentry(self, what: str) -> None:
        if self.callbacks.in_callback:
            raise ReentryError(
                f"Engine.{what}() called from inside a delivery callback; the engine is "
                "deciding a frame's copies then: keep the frame and send it after the "
                "callback returns"
            )

    def pending_frames(self) -> list[FrameOutcome]:
        """Frames with copies still in a broadcast queue."""
        return list(self._pending.values())

    # ------------------------------------------------------------------ checks at send time
    def _send_check(self, point: str, data: bytes) -> str:
        dev = self.host.devices.get(point)
        if dev is None:
            return "ENODEV"
        if not dev.up:
            return "ENETDOWN"
        if len(data) < ETH_HLEN:
            return "EINVAL"
        extra = VLAN_HLEN if raw_ethertype(data) == ETH_P_8021Q else 0
        if len(data) > dev.mtu + ETH_HLEN + extra:
            return "EMSGSIZE"
        return "ok"

    @staticmethod
    def _plain_check(data: bytes) -> str:
        if len(data) < ETH_HLEN:
            raise SimError(f"frame of {len(data)} bytes is shorter than an Ethernet header")
        return "ok"

    # ------------------------------------------------------------------ frame bookkeeping
    @contextmanager
    def _frame(self, out: FrameOutcome) -> Iterator[None]:
        saved, self._out = self._out, out
        try:
            yield
        finally:
            self._out = saved

    @contextmanager
    def frame_context(self, index: int) -> Iterator[None]:
        """Attribute what happens next to frame ``index`` (a queued broadcast being drained)."""
        out = self._pending.get(index) or self._out_or_dummy(index)
        with self._frame(out):
            yield
        if out.pending == 0:
            self._pending.pop(index, None)

    def _out_or_dummy(self, index: int) -> FrameOutcome:
        if self._out is not None and self._out.index == index:
            return self._out
        return FrameOutcome(index, b"", "?")

    @property
    def out(self) -> FrameOutcome:
        assert self._out is not None, "no frame is being processed"
        return self._out

    # ------------------------------------------------------------------ datapath services
    def netif_rx(self, skb: Skb) -> None:
        """``netif_rx``: queue for the backlog (processed before this frame is finished)."""
        self._backlog.append(skb)

    def process_backlog(self) -> None:
        while self._backlog:
            netif_receive_skb(self, self._backlog.popleft())

    def tap(self, dev: NetDevice, skb: Skb, pkttype: PktType | None = None) -> None:
        """An ETH_P_ALL tap on ``dev`` sees the frame (and the wire may reflect it)."""
        kind = skb.pkt_type if pkttype is None else pkttype
        self._record(dev.name, kind, skb, skb.vlan)
        if self.hairpin and dev.kind == "wire" and kind != PktType.OUTGOING and skb.pass_ == 0:
            back = Skb(
                full_bytes(skb.data, skb.vlan),
                dev,
                pass_=1,
                frame_index=skb.frame_index,
                missing=skb.missing,
            )
            back.protocol = eth_protocol(back.data)
            back.trail = None if skb.trail is None else list(skb.trail)
            back.step("H wire reflects the frame (hairpin)")
            self._reflections.append(back)

    def stack(self, dev: NetDevice, skb: Skb) -> None:
        """The device's own stack got the frame (tag discarded)."""
        self._record(f"{dev.name}:stack", skb.pkt_type, skb, None)

    def final(self, dev: NetDevice, skb: Skb) -> None:
        self.out.finals.append((dev.name, skb.pkt_type))

    def _record(self, point: str, kind: PktType, skb: Skb, vlan: Any) -> None:
        reception = Reception(
            point=point,
            pkttype=kind,
            data=skb.data,
            vlan=vlan,
            pass_=skb.pass_,
            queued=skb.queued,
            steps=tuple(skb.trail) if skb.trail is not None else (),
            frame_index=skb.frame_index,
            missing=skb.missing,
        )
        self.out.receptions.append(reception)
        if self.callbacks:
            self.callbacks.publish(reception)

    def fault(self, point: str, dev: NetDevice) -> bool:
        """Whether the allocation at ``point`` fails this time (only through ``fault_hook``)."""
        return self.fault_hook is not None and self.fault_hook(point, dev)

    def count(self, dev: str, fld: str, amount: int) -> None:
        self.counters.add(dev, fld, amount)
        self.out.count(dev, fld, amount)

    def drop(self, skb: Skb, reason: str, rule: str) -> None:
        self.drop_reasons[reason] += 1
        steps = tuple(skb.trail) if skb.trail is not None else ()
        self.out.drops.append(Drop(skb.dev.name, reason, rule, skb.frame_index, skb.pass_, steps))

    def skip(self, skb: Skb, device: str, why: WhyNot, *detail: object) -> None:
        """``device`` got no copy at this decision point, and why (kept only with paths)."""
        if skb.trail is not None:
            self.out.skips.append(Skip(device, why, detail, skb.frame_index, skb.pass_))

    def skip_port(
        self,
        skb: Skb,
        port: MacvlanPort,
        why: WhyNot,
        *detail: object,
        but: object = None,
    ) -> None:
        """Every macvlan of ``port`` except ``but`` was passed over for ``why``; a down one
        is not in the port's hash at all, which is the reason it gets."""
        if skb.trail is None:
            return
        for dev in port.vlans:
            if dev is not but:
                if dev.up:
                    self.skip(skb, dev.name, why, *detail)
                else:
                    self.skip(skb, dev.name, WhyNot.DOWN)

    def held(self, skb: Skb, reason: str, rule: str) -> None:
        """A fragment kept for reassembly (or refused by it): accounted for like a drop, with
        its own reason."""
        self.drop(skb, reason, rule)

    def evicted(self, skb: Skb, reason: str, fragments: int, rule: str) -> None:
        """A reassembly queue freed without completing while ``skb`` was being handled: one
        drop record for the queue; ``fragments_evicted`` counts the fragments it held."""
        self.drop(skb, reason, rule)
        self.fragments_evicted += fragments

    def queued(self, skb: Skb, port: MacvlanPort) -> None:
        """A copy went into ``port``'s broadcast queue: the workqueue has work."""
        self.out.pending += 1
        self._busy_ports[port] = None
        if self.drain == "rate":
            self._arrivals.append((port, self._now))

    def dequeued(self, skb: Skb) -> None:
        self.out.pending -= 1

    def _reflect(self) -> None:
        while self._reflections:
            skb = self._reflections.popleft()
            wire = self.host.wire
            assert wire is not None
            dev_queue_xmit(self, wire, skb)
            self.process_backlog()


def _missing_tail(data: bytes, wire_len: int | None) -> int:
    """Bytes of the original frame past the captured ones (0 when ``wire_len`` is None)."""
    if wire_len is None:
        return 0
    if isinstance(wire_len, bool) or not isinstance(wire_len, int):
        raise SimError(f"wire_len must be an int, not {type(wire_len).__name__}")
    if wire_len < len(data):
        raise SimError(f"wire_len {wire_len} is less than the {len(data)} bytes given")
    return wire_len - len(data)
