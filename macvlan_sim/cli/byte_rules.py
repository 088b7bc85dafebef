"""Which rule each byte count of a replay follows (the legend of the tables and the JSON).

Every figure is kernel-exact, yet they disagree on screen: one frame of 100 bytes is 100 bytes
at an observation point, 100 in the lower's ``rx_bytes``, 86 in a VLAN device's ``rx_bytes``,
114 in a bridge sibling's, 0 for a return to sender. The report and ``replay --json`` print this
table beside the numbers; docs/replay.md explains it with the kernel functions.
"""

from __future__ import annotations

from typing import Final

BYTE_RULES: Final[dict[str, str]] = {
    "point_bytes": "observation points: each copy's length as a capture there records it "
    "(Ethernet header and VLAN tags in band); a snaplen-truncated record counts its original "
    "length",
    "link_bytes": "rx_bytes/tx_bytes of the lower and the wire (the cable hop, veth_xmit): "
    "skb->len, the whole frame with its Ethernet header, an out-of-band tag not counted",
    "macvlan_rx_bytes": "rx_bytes of a macvlan: skb->len + 14 (macvlan_count_rx adds "
    "ETH_HLEN back after eth_type_trans pulled it): the frame with its Ethernet header, less "
    "4 bytes for a tag the lower holds out of band",
    "bridge_local_rx_bytes": "a bridge-local copy (a bridge macvlan's group frame to its "
    "siblings, T1): the kernel adds 14 to a length that still includes the Ethernet header, "
    "so the sibling counts 14 bytes more than the frame",
    "return_to_sender_rx_bytes": "a return to sender (M3): 1 packet of 0 bytes",
    "vlan_rx_bytes": "rx_bytes of a VLAN device: skb->len after the Ethernet header and the "
    "tag are pulled: neither is counted",
    "tx_bytes": "tx_bytes of a macvlan or VLAN device: skb->len handed to its xmit, the frame "
    "with its Ethernet header and any tag in band; a VLAN device's own tag (attached out of "
    "band) is not counted",
}
