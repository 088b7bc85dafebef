"""Frame bytes: accepting scapy packets or raw bytes, and the few header operations the
receive path needs (ethertype as ``eth_type_trans`` sees it, VLAN tag pull and push).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from macvlan_sim.model.constants import (
    ETH_HLEN,
    ETH_P_802_2,
    ETH_P_802_3,
    ETH_P_802_3_MIN,
    VLAN_HLEN,
    VLAN_TPIDS,
)
from macvlan_sim.model.errors import SimError


@dataclass(frozen=True, slots=True)
class VlanTag:
    """A tag held out of band (``skb->vlan_proto`` / ``skb->vlan_tci``)."""

    tpid: int
    tci: int

    @property
    def vid(self) -> int:
        return self.tci & 0x0FFF

    @property
    def pcp(self) -> int:
        return self.tci >> 13

    @property
    def dei(self) -> int:
        return (self.tci >> 12) & 1

    def as_json(self) -> dict[str, Any]:
        return {"tpid": f"0x{self.tpid:04x}", "vid": self.vid, "pcp": self.pcp, "dei": self.dei}

    def __str__(self) -> str:
        return f"0x{self.tpid:04x}/{self.vid}"


def to_bytes(frame: Any) -> bytes:
    """Raw bytes from ``bytes``/``bytearray``/``memoryview`` or anything scapy can ``bytes()``."""
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, bytearray | memoryview):
        return bytes(frame)
    if hasattr(frame, "build") or hasattr(frame, "__bytes__"):
        return bytes(frame)
    raise SimError(f"cannot use a {type(frame).__name__} as a frame (need bytes or a scapy packet)")


def from_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise SimError(f"frame hex is not valid hexadecimal: {text[:40]!r}") from None


def raw_ethertype(data: bytes) -> int:
    return struct.unpack_from("!H", data, 12)[0] if len(data) >= ETH_HLEN else 0


def eth_protocol(data: bytes) -> int:
    """``skb->protocol`` as ``eth_type_trans`` sets it, 802.3 length frames included."""
    proto = raw_ethertype(data)
    if proto >= ETH_P_802_3_MIN:
        return proto
    if data[ETH_HLEN : ETH_HLEN + 2] == b"\xff\xff":
        return ETH_P_802_3
    return ETH_P_802_2


def pull_tag(data: bytes) -> tuple[bytes, VlanTag] | None:
    """``skb_vlan_untag``: move the outer tag out of band.

    The kernel must be able to pull the tag and the ethertype behind it, i.e. 6 bytes after the
    Ethernet header: a tagged frame under 20 bytes is freed (None here).
    """
    if len(data) < ETH_HLEN + VLAN_HLEN + 2:
        return None
    tpid, tci = struct.unpack_from("!HH", data, 12)
    return data[:12] + data[16:], VlanTag(tpid, tci)


def push_tag(data: bytes, tag: VlanTag) -> bytes:
    """Put an out-of-band tag back in band, as a capture with PACKET_AUXDATA reconstructs it."""
    return data[:12] + struct.pack("!HH", tag.tpid, tag.tci) + data[12:]


def count_tags(data: bytes) -> int:
    """Stacked VLAN tags at the front of a frame (for ``tagged``/``untagged`` in results)."""
    n, off = 0, 12
    while len(data) >= off + 2 + VLAN_HLEN and struct.unpack_from("!H", data, off)[0] in VLAN_TPIDS:
        n += 1
        off += VLAN_HLEN
    return n


def full_bytes(data: bytes, tag: VlanTag | None) -> bytes:
    return push_tag(data, tag) if tag is not None else data
