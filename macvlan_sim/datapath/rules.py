"""The rule ids that decision paths, drops and skips start with: one line of meaning each, and
the kernel function the rule mirrors. ``docs/rules.md`` explains them at length; ``explain``
prints this table's line beside every id it shows. A test keeps the three (code, table, doc)
in step.
"""

from __future__ import annotations

#: id -> (kernel function, meaning)
RULES: dict[str, tuple[str, str]] = {
    "M0": ("macvlan_handle_frame", "a looped-back frame is passed to the lower untouched"),
    "M1": ("ip_check_defrag", "a group IPv4 fragment is held until its datagram is whole"),
    "M2": ("macvlan_forward_source", "a group frame from a nodst source MAC is consumed"),
    "M3": (
        "macvlan_handle_frame",
        "a group frame from a private/passthru/source macvlan goes back to that sender alone",
    ),
    "M4": ("macvlan_broadcast_enqueue", "port bc_filter bit set: the broadcast queue floods it"),
    "M5": ("macvlan_multicast_rx", "port mc_filter bit set: flooded inline, now"),
    "M6": ("macvlan_handle_frame", "port filters clear for the bit: no macvlan gets it"),
    "U1": ("macvlan_forward_source", "a unicast frame from a nodst source MAC is consumed"),
    "U2": ("macvlan_handle_frame", "passthru port: its one device is the target, any dst MAC"),
    "U3": ("macvlan_hash_lookup", "the destination MAC is looked up among the UP macvlans"),
    "U4": ("macvlan_handle_frame", "no target (or a source-mode one): the lower keeps the frame"),
    "U5": ("macvlan_handle_frame", "the target is down (a down passthru device): frame freed"),
    "U6": ("skb_share_check", "the skb cannot be unshared (allocation failure): rx_errors"),
    "U7": ("macvlan_handle_frame", "delivered to the target as PACKET_HOST (RX_HANDLER_ANOTHER)"),
    "S": ("macvlan_forward_source", "a copy to each UP source-mode device listing the source"),
    "B": ("macvlan_broadcast", "flood: a copy per hashed device whose mode and filter pass"),
    "Q1": ("macvlan_broadcast_enqueue", "the broadcast queue is full: dropped, lower rx_dropped"),
    "Q2": ("macvlan_process_broadcast", "the broadcast workqueue runs and floods a queued frame"),
    "T0": ("__dev_queue_xmit", "sent on a device that is down: tx_dropped"),
    "T1": ("macvlan_queue_xmit", "a bridge macvlan sends to a group: copies to bridge siblings"),
    "T2": ("macvlan_queue_xmit", "a bridge macvlan sends to a bridge sibling: switched locally"),
    "T3": ("macvlan_queue_xmit", "a bridge macvlan sends to a non-sibling: out the lower"),
    "T4": ("macvlan_queue_xmit", "a VEPA/private/passthru/source macvlan: out the lower"),
    "T5": ("__dev_forward_skb", "forwarding into a device that is down or too small fails"),
    "T6": ("noop_enqueue", "no carrier: the noop qdisc drops the frame, counted as sent"),
    "V0": ("skb_vlan_untag", "a tagged frame under 20 bytes is freed"),
    "V1": ("__netif_receive_skb_core", "no VLAN device for the tag: the frame is OTHERHOST"),
    "V2": ("vlan_do_receive", "the VLAN device for the tag is down: dropped"),
    "V3": ("vlan_dev_hard_start_xmit", "a VLAN device adds its tag on transmit"),
    "L1": ("veth_xmit", "the far end of the cable is down or its MTU is too small"),
    "L2": ("receive_filter (qemu virtio-net)", "the NIC's hardware filter rejects the frame"),
    "P0": ("__netif_receive_skb_core", "no protocol handler on the final device: rx_dropped"),
    "H": ("(the switch)", "a hairpin switch reflects the frame back into the lower"),
}

#: Ids the engine cannot print: no public input reaches them (see ``docs/rules.md``).
UNREACHABLE: dict[str, str] = {
    "M0": "only dev_loopback_xmit makes PACKET_LOOPBACK frames, and no public input sends one",
    "U6": "skb_share_check fails only when memory allocation fails, which the engine cannot do",
}


def rule_of(step: str) -> str | None:
    """The rule id a rendered step starts with, if any."""
    head = step.split(" ", 1)[0]
    return head if head in RULES else None
