"""The rules of dispatch that are tables, kept as plain data.

The exact engine reads them, and so does anything else that needs the same answer (the fast
path, an explainer): a rule kept in one table cannot drift between two readers.
"""

from __future__ import annotations

from macvlan_sim.model.constants import Mode, PktType
from macvlan_sim.model.mac import is_group

#: §6: the modes a group frame is flooded to, by the mode of the macvlan whose MAC is the
#: frame's source (None: no macvlan sent it — the wire, the lower, an unknown host).
#: A VEPA sender's frame came back from a hairpinning switch: the other VEPA and the BRIDGE
#: devices get it. A BRIDGE sender's siblings had a local copy on transmit: VEPA only.
#: PRIVATE/PASSTHRU/SOURCE senders are normally returned to alone (M3); when a queued
#: broadcast's sender has changed mode since, the kernel's "any other mode" branch applies.
FLOOD_MASK_BY_SENDER: dict[Mode | None, Mode] = {
    None: Mode.PRIVATE | Mode.VEPA | Mode.PASSTHRU | Mode.BRIDGE,
    Mode.VEPA: Mode.VEPA | Mode.BRIDGE,
    Mode.BRIDGE: Mode.VEPA,
    Mode.PRIVATE: Mode.VEPA,
    Mode.PASSTHRU: Mode.VEPA,
    Mode.SOURCE: Mode.VEPA,
}

#: ``eth_type_trans``: pkt_type by the destination's class relative to the receiving device.
PKT_TYPE_BY_DST_CLASS: dict[str, PktType] = {
    "broadcast": PktType.BROADCAST,  # the device's broadcast address
    "multicast": PktType.MULTICAST,  # any other group address
    "own": PktType.HOST,  # the device's own address
    "other": PktType.OTHERHOST,  # any other unicast address
}


def dst_class(dst: bytes, own: bytes, broadcast: bytes) -> str:
    """The key of :data:`PKT_TYPE_BY_DST_CLASS` for ``dst`` at a device."""
    if is_group(dst):
        return "broadcast" if dst == broadcast else "multicast"
    return "own" if dst == own else "other"


def pkt_type_at(dst: bytes, own: bytes, broadcast: bytes) -> PktType:
    return PKT_TYPE_BY_DST_CLASS[dst_class(dst, own, broadcast)]
