"""The core receive path: ``__netif_receive_skb_core`` and ``vlan_do_receive`` (spec §4, §13).

One call handles one skb from the moment a device receives it until it is consumed, handed to
a protocol, or dropped; copies made on the way (broadcast clones, source-mode clones, return
to sender) go through the backlog as new calls, exactly as ``netif_rx`` makes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macvlan_sim.datapath.frame import eth_protocol, pull_tag, push_tag
from macvlan_sim.datapath.reasons import WhyNot
from macvlan_sim.datapath.rx_handler import macvlan_handle_frame
from macvlan_sim.datapath.skb import Skb
from macvlan_sim.model.constants import VLAN_TPIDS, PktType, RxHandlerResult
from macvlan_sim.model.devices import NetDevice
from macvlan_sim.model.mac import is_group

if TYPE_CHECKING:
    from macvlan_sim.datapath.engine import Engine


def eth_type_trans(skb: Skb, dev: NetDevice) -> None:
    """Set ``pkt_type`` against ``dev``'s addresses and ``protocol`` from the frame, then pull
    the Ethernet header (which changes ``skb->len``)."""
    dst = skb.dst
    if is_group(dst):
        skb.pkt_type = PktType.BROADCAST if dst == dev.broadcast else PktType.MULTICAST
    else:
        skb.pkt_type = PktType.HOST if dst == dev.mac else PktType.OTHERHOST
    skb.protocol = eth_protocol(skb.data)
    skb.dev = dev
    skb.pulled = True
    skb.step("eth_type_trans(%s): %s", dev.name, skb.pkt_type)


def _vlan_untag(eng: Engine, skb: Skb) -> bool:
    """``skb_vlan_untag``: move the outer in-band tag out of band; a frame too short to hold
    the tag and the next ethertype (under 20 bytes) is freed before any tap sees it."""
    pulled = pull_tag(skb.data)
    if pulled is None:
        eng.drop(skb, "tagged frame shorter than 20 bytes (skb_vlan_untag)", "V0")
        return False
    skb.data, skb.vlan = pulled
    skb.protocol = eth_protocol(skb.data)
    skb.step("skb_vlan_untag: tag %s out of band", skb.vlan)
    return True


def vlan_do_receive(eng: Engine, skb: Skb) -> str:
    """``vlan_do_receive``: hand a tagged frame to the VLAN device for (TPID, VID) on the
    current device. Returns "none" (no such device), "dropped" or "another"."""
    tag = skb.vlan
    assert tag is not None
    vdev = skb.dev.vlans.get((tag.tpid, tag.vid))
    if vdev is None:
        return "none"
    if not vdev.up:
        eng.drop(skb, f"VLAN device {vdev.name} is down", "V2")
        eng.skip(skb, vdev.name, WhyNot.VLAN_DOWN)
        return "dropped"
    skb.step("vlan_do_receive: %s -> %s", tag, vdev.name)
    skb.dev = vdev
    if skb.pkt_type == PktType.OTHERHOST and skb.dst == vdev.mac:
        skb.pkt_type = PktType.HOST
    skb.vlan = None
    length = skb.klen  # the payload behind the Ethernet header and the tag
    if not vdev.reorder_hdr and vdev.rx_port is None:
        # reorder_hdr off: the tag goes back in band, unless the VLAN device is a macvlan port.
        skb.data = push_tag(skb.data, tag)
    eng.count(vdev.name, "rx_bytes", length)
    eng.count(vdev.name, "rx_packets", 1)
    if skb.pkt_type == PktType.MULTICAST:
        eng.count(vdev.name, "multicast", 1)
    return "another"


def netif_receive_skb(eng: Engine, skb: Skb) -> None:
    """``__netif_receive_skb_core``, round after round (§4)."""
    skb.orig_dev = skb.dev
    while True:
        dev = skb.dev
        skb.step("__netif_receive_skb_core(%s): pkt_type %s", dev.name, skb.pkt_type)
        if skb.vlan is None and skb.protocol in VLAN_TPIDS and not _vlan_untag(eng, skb):
            return
        eng.tap(dev, skb)
        if dev.vlans and skb.trail is not None:
            _skip_vlans(eng, skb, dev)
        # Taps are handed the frame before vlan_do_receive when a tag is out of band, and
        # before an rx_handler runs, so then no tap is left to "take" the frame at the end:
        # that is what makes the kernel count a no-handler drop on a device with only taps.
        tap_pending = skb.vlan is None and dev.rx_port is None
        if skb.vlan is not None:
            result = vlan_do_receive(eng, skb)
            if result == "another":
                continue
            if result == "dropped":
                return
        port = dev.rx_port
        if port is not None:
            handled = macvlan_handle_frame(eng, skb, port)
            if handled is RxHandlerResult.CONSUMED:
                return
            if handled is RxHandlerResult.ANOTHER:
                continue
            skb.step("rx_handler passes: %s keeps the frame", dev.name)
        verdict = _untagged_leftovers(eng, skb)
        if verdict == "another":
            continue
        if verdict == "dropped":
            return
        deliver_to_stack(eng, skb, tap_pending=tap_pending)
        return


def _skip_vlans(eng: Engine, skb: Skb, dev: NetDevice) -> None:
    """The VLAN devices on ``dev`` that this frame's tag (or its lack of one) does not name."""
    tag = skb.vlan
    for (tpid, vid), vdev in dev.vlans.items():
        if tag is None:
            eng.skip(skb, vdev.name, WhyNot.UNTAGGED, dev.name)
        elif (tag.tpid, tag.vid) != (tpid, vid):
            here, its = f"VID {tag.vid} ({tag.tpid:#06x})", f"VID {vid} ({tpid:#06x})"
            eng.skip(skb, vdev.name, WhyNot.OTHER_VLAN, here, its)


def _untagged_leftovers(eng: Engine, skb: Skb) -> str:
    """After the rx_handler: a tag still out of band with VID ≠ 0 makes the frame OTHERHOST;
    a VID-0 priority tag in front of another tag is stripped and the inner tag gets its own
    ``vlan_do_receive`` (which is how VID 0 + VID 20 is dispatched twice, §17)."""
    while skb.vlan is not None:
        if skb.vlan.vid != 0:
            skb.pkt_type = PktType.OTHERHOST
            skb.step("V1 VID %s: no VLAN device on %s, otherhost", skb.vlan.vid, skb.dev.name)
            break
        if skb.protocol not in VLAN_TPIDS:
            break
        skb.step("VID 0 priority tag stripped, inner tag examined")
        skb.vlan = None
        if not _vlan_untag(eng, skb):
            return "dropped"
        result = vlan_do_receive(eng, skb)
        if result != "none":
            return result
    if skb.vlan is not None and skb.vlan.vid == 0:
        skb.step("VID 0 priority tag discarded")
    skb.vlan = None
    return "stack"


def deliver_to_stack(eng: Engine, skb: Skb, *, tap_pending: bool) -> None:
    """Protocol delivery on the final device; with no handler the core ``rx_dropped`` of that
    device goes up (a tap still holding the frame counts as a handler)."""
    dev = skb.dev
    orig = skb.orig_dev or dev
    handled = (
        skb.protocol in eng.host.global_protocols
        or dev.observe_stack
        or orig.observe_stack
        or tap_pending
    )
    skb.step("protocol delivery on %s: %s", dev.name, skb.pkt_type)
    eng.final(dev, skb)
    if dev.observe_stack:
        eng.stack(dev, skb)
    if not handled:
        eng.count(dev.name, "rx_dropped", 1)
        eng.drop(skb, f"no protocol handler on {dev.name}", "P0")
