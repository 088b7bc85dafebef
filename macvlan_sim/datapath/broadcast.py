"""Where a group frame goes among the macvlans: ``macvlan_broadcast``, its mode masks, and the
broadcast queue (spec §6, §7).

``flood_mask`` is the table of §6 — the one place that says, for instance, that a broadcast
hairpinned back from a VEPA device reaches the other VEPA and the BRIDGE devices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macvlan_sim.datapath.reasons import WhyNot
from macvlan_sim.datapath.skb import Lazy
from macvlan_sim.model.constants import ETH_P_PAUSE, Mode, PktType
from macvlan_sim.model.filters import device_accepts
from macvlan_sim.model.mac import format_mac
from macvlan_sim.model.port import QueuedBroadcast

if TYPE_CHECKING:
    from macvlan_sim.datapath.engine import Engine
    from macvlan_sim.datapath.skb import Skb
    from macvlan_sim.model.devices import MacvlanDevice
    from macvlan_sim.model.port import MacvlanPort

#: A frame from outside (or from the lower, or an unknown source): everyone but SOURCE.
EXTERNAL_MASK = Mode.PRIVATE | Mode.VEPA | Mode.PASSTHRU | Mode.BRIDGE


def flood_mask(src: MacvlanDevice | None) -> Mode:
    """The modes a group frame is flooded to, by the macvlan whose MAC is its source (§6).

    - no macvlan sent it: PRIVATE | VEPA | PASSTHRU | BRIDGE;
    - a VEPA macvlan sent it (a switch hairpinned it back): VEPA | BRIDGE, not the sender;
    - a BRIDGE macvlan sent it (its bridge siblings got a local copy on transmit): VEPA only.
    PRIVATE/PASSTHRU/SOURCE senders never get here: M3 returns the frame to them alone.
    """
    if src is None:
        return EXTERNAL_MASK
    if src.mode == Mode.VEPA:
        return Mode.VEPA | Mode.BRIDGE
    return Mode.VEPA


def macvlan_broadcast(
    eng: Engine,
    skb: Skb,
    port: MacvlanPort,
    src: MacvlanDevice | None,
    mask: Mode,
    *,
    local: bool,
) -> None:
    """Clone ``skb`` to every hashed (UP) device whose mode is in ``mask`` and whose own filter
    passes the destination, in bucket order. ``local`` is the bridge-mode transmit path, where
    each copy is forwarded into the sibling as if received (``__dev_forward_skb``)."""
    if skb.protocol == ETH_P_PAUSE:
        skb.step("B PAUSE frame: macvlan_broadcast does nothing")
        eng.skip_port(skb, port, WhyNot.PAUSE)
        return
    explain = skb.trail is not None
    for dev in port.hashed_devices():
        if dev is src or not dev.mode & mask:
            if explain:
                _skip_masked(eng, skb, dev, src, mask)
            continue
        host = eng.host
        if not device_accepts(dev, skb.dst, host.hash_filters, host.filter_false_positives):
            if explain:
                eng.skip(skb, dev.name, WhyNot.DEVICE_FILTER, Lazy(format_mac, skb.dst))
            continue
        copy = skb.clone()
        copy.step("B %s flood: copy to %s", Lazy(mask_words, mask), dev.name)
        ok = _deliver_copy(eng, copy, dev, local=local)
        if ok:
            eng.count(dev.name, "rx_packets", 1)
            eng.count(dev.name, "rx_bytes", skb.klen + 14)
            eng.count(dev.name, "multicast", 1)
        else:
            eng.count(dev.name, "rx_errors", 1)
            eng.count(dev.name, "rx_dropped", 1)
    if explain:
        for dev in port.vlans:
            if not dev.up:
                eng.skip(skb, dev.name, WhyNot.DOWN)


def _skip_masked(
    eng: Engine, skb: Skb, dev: MacvlanDevice, src: MacvlanDevice | None, mask: Mode
) -> None:
    if dev is src:
        eng.skip(skb, dev.name, WhyNot.SENDER)
    else:
        eng.skip(skb, dev.name, WhyNot.MODE_MASK, dev.mode, Lazy(mask_words, mask))


def _deliver_copy(eng: Engine, copy: Skb, dev: MacvlanDevice, *, local: bool) -> bool:
    if local:
        from macvlan_sim.datapath.transmit import dev_forward_skb

        return dev_forward_skb(eng, dev, copy)
    copy.dev = dev
    copy.pkt_type = PktType.BROADCAST if copy.dst == dev.broadcast else PktType.MULTICAST
    eng.netif_rx(copy)
    return True


def multicast_rx(eng: Engine, port: MacvlanPort, src: MacvlanDevice | None, skb: Skb) -> None:
    """``macvlan_multicast_rx``: the inline flood, with the sender's mask."""
    macvlan_broadcast(eng, skb, port, src, flood_mask(src), local=False)


def broadcast_enqueue(eng: Engine, port: MacvlanPort, src: MacvlanDevice | None, skb: Skb) -> None:
    """``macvlan_broadcast_enqueue``: queue a clone for the workqueue if there is room under
    ``bc_queue_len_used``; otherwise the clone is dropped and the *lower's* core
    ``rx_dropped`` counts it."""
    if len(port.bc_queue) < port.bc_queue_len_used:
        copy = skb.clone()
        copy.queued = True
        port.bc_queue.append(QueuedBroadcast(copy, src, skb.frame_index))
        eng.queued(copy, port)
        return
    eng.count(port.lower.name, "rx_dropped", 1)
    eng.skip_port(skb, port, WhyNot.QUEUE_FULL, port.lower.name, port.bc_queue_len_used)
    eng.drop(
        skb,
        f"broadcast queue of {port.lower.name} full ({port.bc_queue_len_used})",
        "Q1",
    )


def process_broadcast_queue(eng: Engine, port: MacvlanPort) -> None:
    """``macvlan_process_broadcast``: drain the queue in FIFO order; the sender's mode is read
    now, not when the frame was queued."""
    while port.bc_queue:
        entry = port.bc_queue.popleft()
        entry.skb.step("Q2 broadcast workqueue runs")
        with eng.frame_context(entry.frame_index):
            eng.dequeued(entry.skb)
            macvlan_broadcast(eng, entry.skb, port, entry.src, flood_mask(entry.src), local=False)
            eng.process_backlog()


def mask_words(mask: Mode) -> str:
    return "|".join(m.word for m in Mode if m & mask)
