"""The transmit side: ``dev_queue_xmit`` down the stack, ``macvlan_queue_xmit`` (spec §9), VLAN
tag insertion, and the veth/NIC hop between the lower and the wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macvlan_sim.datapath.broadcast import macvlan_broadcast
from macvlan_sim.datapath.frame import VlanTag, push_tag
from macvlan_sim.datapath.reasons import WhyNot
from macvlan_sim.datapath.receive import eth_type_trans
from macvlan_sim.datapath.skb import Lazy
from macvlan_sim.model.constants import ETH_HLEN, VLAN_HLEN, Mode, PktType
from macvlan_sim.model.devices import LowerDevice, MacvlanDevice, NetDevice, VlanDevice
from macvlan_sim.model.mac import format_mac, is_group
from macvlan_sim.model.nic import nic_accepts

if TYPE_CHECKING:
    from macvlan_sim.datapath.engine import Engine
    from macvlan_sim.datapath.skb import Skb


def has_vlan_tx_offload(dev: NetDevice) -> bool:
    """NETIF_F_HW_VLAN_*_TX: a veth has it; a VLAN device, a macvlan and virtio-net (our
    ``nic`` lower) do not, so a tag handed to them goes into the bytes (§9, §17)."""
    if isinstance(dev, VlanDevice | MacvlanDevice):
        return False
    return not (isinstance(dev, LowerDevice) and dev.has_unicast_filter)


def dev_queue_xmit(eng: Engine, dev: NetDevice, skb: Skb) -> bool:
    """Send ``skb`` on ``dev``; returns whether the driver took it (NET_XMIT_SUCCESS)."""
    if not dev.up:
        # A down device's qdisc is noop_qdisc: it frees the frame, counts tx_dropped on this
        # device and answers NET_XMIT_CN, which a stacked sender counts as sent (§9: a
        # macvlan on a never-up VLAN device that still has carrier).
        eng.count(dev.name, "tx_dropped", 1)
        eng.drop(skb, f"{dev.name} is down: its noop qdisc drops the frame", "T0")
        return True
    if not eng.host.qdisc_active(dev):
        # No carrier: noop_qdisc takes the frame and drops it (NET_XMIT_CN, which callers
        # count as sent), before dev_hard_start_xmit, so no tap sees it.
        eng.count(dev.name, "tx_dropped", 1)
        eng.drop(skb, f"{dev.name} has no carrier: its noop qdisc drops the frame", "T6")
        return True
    if skb.vlan is not None and not has_vlan_tx_offload(dev):
        # An outer tag already attached (by a VLAN device stacked on it) is pushed into the
        # bytes before the device's xmit counts them (validate_xmit_vlan): +4 bytes per tag.
        skb.data = push_tag(skb.data, skb.vlan)
        skb.vlan = None
    skb.dev = dev
    eng.tap(dev, skb, PktType.OUTGOING)
    if isinstance(dev, MacvlanDevice):
        return macvlan_start_xmit(eng, dev, skb)
    if isinstance(dev, VlanDevice):
        return vlan_dev_start_xmit(eng, dev, skb)
    return link_xmit(eng, dev, skb)


def macvlan_start_xmit(eng: Engine, dev: MacvlanDevice, skb: Skb) -> bool:
    """``macvlan_start_xmit``: counts tx on success, tx_dropped otherwise."""
    length = skb.klen
    return _count_tx(eng, dev, macvlan_queue_xmit(eng, dev, skb), length)


def _count_tx(eng: Engine, dev: NetDevice, ok: bool, length: int) -> bool:
    """What a stacked device's xmit counts once its lower answered (SUCCESS or CN: sent)."""
    if ok:
        eng.count(dev.name, "tx_packets", 1)
        eng.count(dev.name, "tx_bytes", length)
    else:
        eng.count(dev.name, "tx_dropped", 1)
    return ok


def macvlan_queue_xmit(eng: Engine, dev: MacvlanDevice, skb: Skb) -> bool:
    """§9: only BRIDGE mode switches locally; everything else goes out the lower."""
    port = dev.port
    assert port is not None
    if dev.mode == Mode.BRIDGE:
        if is_group(skb.dst):
            skb.step("T1 bridge %s sends to a group: local copies to bridge siblings", dev.name)
            macvlan_broadcast(eng, skb, port, dev, Mode.BRIDGE, local=True)
        else:
            dest = port.lookup(skb.dst)
            if dest is not None and dest.mode == Mode.BRIDGE:
                skb.step("T2 bridge %s to bridge %s: dev_forward_skb(lower)", dev.name, dest.name)
                wire = eng.host.wire
                if wire is not None:
                    eng.skip(skb, wire.name, WhyNot.LOCAL_SWITCH, dev.name, dest.name)
                dev_forward_skb(eng, port.lower, skb)
                return True
            dst = Lazy(format_mac, skb.dst)
            skb.step("T3 bridge %s to %s: not a bridge sibling", dev.name, dst)
            eng.skip_port(skb, port, WhyNot.NOT_SIBLING, dev.name, dst, but=dev)
    else:
        skb.step("T4 %s %s: everything goes out the lower", dev.mode, dev.name)
        eng.skip_port(skb, port, WhyNot.SENT_OUT, dev.name, dev.mode, but=dev)
    return dev_queue_xmit(eng, port.lower, skb)


def frame_limit(dev: NetDevice) -> int:
    """The longest frame a receiving device takes (``is_skb_forwardable``): its MTU, plus the
    Ethernet header, plus room for exactly one VLAN tag — so a 1,518-byte single-tagged frame
    fits an MTU of 1,500, while a 1,522-byte QinQ frame (two tags in band) does not."""
    return dev.mtu + ETH_HLEN + VLAN_HLEN


def over_mtu(dev: NetDevice, skb: Skb) -> str | None:
    """Why ``skb`` is too long for ``dev`` (the message states the real limit), or None.

    The length is the frame's length on the wire (:attr:`Skb.frame_len`), so a record cut by
    the capture's snaplen is judged by its original length, not by what was captured.
    """
    limit = frame_limit(dev)
    if skb.frame_len <= limit:
        return None
    kept = f"; the capture kept {len(skb.data)} of them" if skb.missing else ""
    return (
        f"frame of {skb.frame_len} bytes over the limit of {limit} "
        f"(MTU {dev.mtu} + {ETH_HLEN} header + {VLAN_HLEN} for one tag){kept}"
    )


def _refusal(dev: NetDevice, skb: Skb) -> str:
    """Why ``dev`` cannot receive ``skb`` (``is_skb_forwardable`` and the device being up:
    "down", or the over-MTU message), or "" if it can."""
    return "down" if not dev.up else over_mtu(dev, skb) or ""


def dev_forward_skb(eng: Engine, dev: NetDevice, skb: Skb) -> bool:
    """``__dev_forward_skb`` + ``netif_rx``: the frame re-enters ``dev`` as if received. It is
    dropped (core rx_dropped on ``dev``) if ``dev`` is down or the frame is over its MTU."""
    why = _refusal(dev, skb)
    if why:
        eng.count(dev.name, "rx_dropped", 1)
        eng.drop(skb, f"dev_forward_skb into {dev.name}: {why}", "T5")
        eng.skip(skb, dev.name, WhyNot.FORWARD_REFUSED, why)
        return False
    eth_type_trans(skb, dev)
    eng.netif_rx(skb)
    return True


def vlan_dev_start_xmit(eng: Engine, dev: VlanDevice, skb: Skb) -> bool:
    """``vlan_dev_hard_start_xmit``: attach the tag (out of band) and send on the real device.
    With reorder_hdr off, a frame already carrying this TPID in band is sent as it is."""
    real = dev.link
    assert real is not None
    tagged_in_band = len(skb.data) >= 14 and int.from_bytes(skb.data[12:14]) == dev.tpid
    if dev.reorder_hdr or not tagged_in_band:
        skb.vlan = VlanTag(dev.tpid, dev.vid)
        skb.step("V3 %s adds tag %s", dev.name, skb.vlan)
    length = skb.klen
    return _count_tx(eng, dev, dev_queue_xmit(eng, real, skb), length)


def _outer_tag(skb: Skb) -> tuple[int, int] | None:
    """The outermost tag as the NIC sees it: out of band, else the first one in band."""
    if skb.vlan is not None:
        return skb.vlan.tpid, skb.vlan.tci
    if len(skb.data) >= 16:
        return int.from_bytes(skb.data[12:14]), int.from_bytes(skb.data[14:16])
    return None


def link_xmit(eng: Engine, dev: NetDevice, skb: Skb) -> bool:
    """The cable between the lower and the wire (a veth pair, or a NIC and its peer)."""
    host = eng.host
    peer = host.wire if dev is host.lower else host.lower
    assert peer is not None
    length = skb.klen
    why = _refusal(peer, skb)
    if why:
        eng.count(dev.name, "tx_dropped", 1)
        eng.drop(skb, f"{peer.name} cannot receive it: {why}", "L1")
        eng.skip(skb, peer.name, WhyNot.PEER_REFUSED, why)
        return False
    eng.count(dev.name, "tx_packets", 1)
    eng.count(dev.name, "tx_bytes", length)
    if isinstance(peer, LowerDevice) and peer.has_unicast_filter:
        accepted, why = nic_accepts(host, peer, skb.data[:6], _outer_tag(skb))
        if not accepted:
            eng.drop(skb, f"NIC filter of {peer.name}: {why}", "L2")
            eng.skip(skb, peer.name, WhyNot.NIC_FILTER, peer.name, why)
            return True
    eng.count(peer.name, "rx_packets", 1)
    eng.count(peer.name, "rx_bytes", length)
    received = skb.clone()
    received.step("%s -> %s", dev.name, peer.name)
    received.queued = False
    eth_type_trans(received, peer)
    eng.netif_rx(received)
    return True
