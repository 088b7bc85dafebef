"""``macvlan_handle_frame``: the macvlan port's rx_handler (spec §5, rules M0–M6, U1–U7).

Read top to bottom it is the decision table of §5: group destinations first (M), then unicast
(U). Source-mode forwarding (§5.1) is here too because both branches start with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macvlan_sim.datapath.broadcast import broadcast_enqueue, multicast_rx
from macvlan_sim.datapath.reasons import WhyNot
from macvlan_sim.datapath.skb import Lazy
from macvlan_sim.datapath.tables import pkt_type_at
from macvlan_sim.model.constants import ETH_P_IP, Mode, PktType, RxHandlerResult
from macvlan_sim.model.mac import eth_hash, format_mac, is_group, mc_hash

if TYPE_CHECKING:
    from macvlan_sim.datapath.engine import Engine
    from macvlan_sim.datapath.skb import Skb
    from macvlan_sim.model.devices import MacvlanDevice
    from macvlan_sim.model.port import MacvlanPort

_RETURN_TO_SENDER = Mode.PRIVATE | Mode.PASSTHRU | Mode.SOURCE


def macvlan_handle_frame(eng: Engine, skb: Skb, port: MacvlanPort) -> RxHandlerResult:
    """Decide, for a frame arriving on ``port.lower``, which macvlans get it."""
    skb.step("macvlan_handle_frame(%s)", port.lower.name)
    if skb.pkt_type == PktType.LOOPBACK:
        skb.step("M0 looped-back frame: pass")
        eng.skip_port(skb, port, WhyNot.LOOPBACK)
        return RxHandlerResult.PASS
    if is_group(skb.dst):
        return _handle_group(eng, skb, port)
    return _handle_unicast(eng, skb, port)


def _handle_group(eng: Engine, skb: Skb, port: MacvlanPort) -> RxHandlerResult:
    if skb.protocol == ETH_P_IP:
        result = eng.defrag.check(skb.data)
        for reason, fragments in result.evicted:
            eng.evicted(skb, reason, fragments, "M1")
        if result.data is None:
            skb.step("M1 ip_check_defrag: %s", result.verdict)
            eng.held(skb, str(result.verdict), "M1")
            eng.skip_port(skb, port, WhyNot.FRAGMENT_HELD)
            return RxHandlerResult.CONSUMED
        if result.data is not skb.data:
            skb.data = result.data
            skb.missing = 0  # a whole datagram now (or a fragment trimmed to its IP length)
            skb.step("M1 ip_check_defrag: reassembled datagram (%s bytes)", len(result.data))
    if forward_source(eng, skb, port):
        eng.drop(skb, "source entry with nodst consumes the frame", "M2")
        _skip_nodst(eng, skb, port, WhyNot.NODST_GROUP)
        return RxHandlerResult.CONSUMED
    src = port.lookup(skb.src)
    if src is not None and src.mode & _RETURN_TO_SENDER:
        eng.skip_port(skb, port, WhyNot.RETURN_TO_SENDER, src.mode, src.name, but=src)
        return _return_to_sender(eng, skb, src)
    bit = mc_hash(skb.dst)
    if port.bc_filter.bit_set(bit):
        skb.step("M4 port bc_filter bit %s set: broadcast queue", bit)
        broadcast_enqueue(eng, port, src, skb)
    elif port.mc_filter.bit_set(bit):
        skb.step("M5 port mc_filter bit %s set: delivered inline", bit)
        multicast_rx(eng, port, src, skb)
    else:
        skb.step("M6 port filters clear for bit %s: no macvlan", bit)
        eng.skip_port(skb, port, WhyNot.PORT_FILTER, bit)
    return RxHandlerResult.PASS


def _return_to_sender(eng: Engine, skb: Skb, src: MacvlanDevice) -> RxHandlerResult:
    """M3: a group frame whose source is a private/passthru/source macvlan came back from a
    hairpinning switch; only that device gets it (counted as 1 packet of 0 bytes)."""
    skb.step("M3 source MAC is %s macvlan %s: return to sender only", src.mode, src.name)
    skb.dev = src
    skb.pkt_type = pkt_type_at(skb.dst, src.mac, src.broadcast)
    eng.count(src.name, "rx_packets", 1)
    eng.count(src.name, "rx_bytes", 0)
    eng.netif_rx(skb)
    return RxHandlerResult.CONSUMED


def _handle_unicast(eng: Engine, skb: Skb, port: MacvlanPort) -> RxHandlerResult:
    if forward_source(eng, skb, port):
        eng.drop(skb, "source entry with nodst consumes the frame", "U1")
        _skip_nodst(eng, skb, port, WhyNot.NODST_UNICAST)
        return RxHandlerResult.CONSUMED
    if port.passthru:
        target = port.first_vlan()
        skb.step("U2 passthru port: target %s", target.name if target else None)
    else:
        target = port.lookup(skb.dst)
        skb.step(
            "U3 vlan_hash bucket %s lookup %s: %s",
            Lazy(eth_hash, skb.dst),
            Lazy(format_mac, skb.dst),
            target.name if target else "no device",
        )
    if skb.trail is not None:
        _skip_unicast(eng, skb, port, target)
    if target is None or target.mode == Mode.SOURCE:
        skb.step("U4 no (non-source) target: pass to the lower")
        return RxHandlerResult.PASS
    if not target.up:
        eng.drop(skb, f"passthru device {target.name} is down", "U5")
        return RxHandlerResult.CONSUMED
    if eng.fault("skb_share_check", target):
        # skb_share_check could not clone a shared skb (GFP_ATOMIC failure): the frame is
        # gone, counted as an rx error on the target (macvlan_count_rx with success false).
        eng.count(target.name, "rx_errors", 1)
        eng.count(target.name, "rx_dropped", 1)
        eng.drop(skb, f"skb_share_check failed for {target.name}", "U6")
        return RxHandlerResult.CONSUMED
    skb.step("U7 deliver to %s as host", target.name)
    eng.count(target.name, "rx_packets", 1)
    eng.count(target.name, "rx_bytes", skb.klen + 14)
    skb.dev = target
    skb.pkt_type = PktType.HOST
    return RxHandlerResult.ANOTHER


def _skip_nodst(eng: Engine, skb: Skb, port: MacvlanPort, why: WhyNot) -> None:
    """After a nodst consume: every device without a source copy of its own is passed over."""
    if skb.trail is None:
        return
    listing = port.source_entries(skb.src)
    nodst = ", ".join(d.name for d in listing if d.nodst)
    for dev in port.vlans:
        if dev.up and dev in listing:
            continue
        eng.skip(skb, dev.name, why if dev.up else WhyNot.DOWN, nodst)


def _skip_unicast(eng: Engine, skb: Skb, port: MacvlanPort, target: MacvlanDevice | None) -> None:
    """Who the unicast lookup passed over (U3/U4/U5), and why."""
    dst = Lazy(format_mac, skb.dst)
    for dev in port.vlans:
        if dev is target:
            if dev.mode == Mode.SOURCE:
                eng.skip(skb, dev.name, WhyNot.SOURCE_MODE)
            elif not dev.up:
                eng.skip(skb, dev.name, WhyNot.TARGET_DOWN)
        elif not dev.up:
            eng.skip(skb, dev.name, WhyNot.DOWN)
        else:
            eng.skip(skb, dev.name, WhyNot.NOT_ITS_MAC, dst)


def forward_source(eng: Engine, skb: Skb, port: MacvlanPort) -> bool:
    """``macvlan_forward_source`` (§5.1): a copy to every UP device listing the source MAC,
    newest entry first; returns whether any listing device (even a down one) has nodst."""
    consume = False
    for dev in port.source_entries(skb.src):
        if dev.nodst:
            consume = True
        if not dev.up:
            continue
        copy = skb.clone()
        copy.step("S source entry %s of %s: copy", Lazy(format_mac, skb.src), dev.name)
        copy.dev = dev
        if skb.dst == dev.mac:
            copy.pkt_type = PktType.HOST
        eng.count(dev.name, "rx_packets", 1)
        eng.count(dev.name, "rx_bytes", copy.klen + 14)
        eng.netif_rx(copy)
    return consume
