"""One line of English for every rule id under which the engine records a drop.

Data, not code: ``replay`` keys its drop statistics by rule id (a stable key a script can
rely on, where the per-copy reason text varies with device names and frame sizes) and shows
this text beside each id; ``explain``-style views and docs read the same table. A test greps the
datapath for every ``drop(..., "ID")`` and checks each id is here.
"""

from __future__ import annotations

from typing import Final

DROP_RULES: Final[dict[str, str]] = {
    "T0": "the sending device is down (dev_queue_xmit)",
    "T5": "a bridge-local copy cannot enter the sibling: it is down or the frame is over its "
    "MTU (dev_forward_skb)",
    "T6": "the device has no carrier: its noop qdisc drops the frame",
    "L1": "the far end of the cable is down or the frame is over its MTU "
    "(veth_xmit, is_skb_forwardable)",
    "L2": "the filtering NIC's address filter refused the frame",
    "V0": "a tagged frame shorter than 20 bytes (skb_vlan_untag)",
    "V2": "the VLAN device for the tag is down (vlan_do_receive)",
    "P0": "no protocol handler took the frame on its final device (__netif_receive_skb_core)",
    "M1": "an IPv4 fragment to a group address is held for reassembly (ip_check_defrag)",
    "M2": "a group frame is consumed by a source-mode entry with nodst (macvlan_forward_source)",
    "U1": "a unicast frame is consumed by a source-mode entry with nodst (macvlan_forward_source)",
    "U5": "the passthru device is down (macvlan_handle_frame)",
    "Q1": "the port's broadcast queue is full (macvlan_broadcast_enqueue)",
}


def drop_rule_text(rule: str) -> str:
    """The English line for ``rule`` (an id this table does not know is shown as such)."""
    return DROP_RULES.get(rule, f"rule {rule} (not described)")
