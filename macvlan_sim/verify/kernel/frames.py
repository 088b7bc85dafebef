"""Pure byte-level helpers for the kernel harness: tags, protocols, matching, diffs.

Nothing here touches the kernel, so it can be unit-tested anywhere. The harness needs these
because the kernel rewrites frames on the way (a VLAN tag moves out of band into
PACKET_AUXDATA, the core strips priority tags, a VLAN device inserts one on transmit) and the
result format reports those rewrites relative to the bytes the scenario injected.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

#: TPIDs the core moves out of band (802.1Q and 802.1ad). 0x9100 is not one of them.
VLAN_TPIDS = (0x8100, 0x88A8)

#: skb->protocol for 802.3 length frames, as ``eth_type_trans`` assigns it.
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
#: Ethertypes below this value are 802.3 lengths.
ETH_P_802_3_MIN = 0x0600
ETH_P_IP = 0x0800

ETH_ALEN = 6
ETH_HLEN = 14
VLAN_HLEN = 4


def parse_mac(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` -> 6 bytes; raises ValueError on anything else."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != ETH_ALEN:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def format_mac(raw: bytes) -> str:
    """6 bytes -> lower-case colon notation (the form the result format uses)."""
    return ":".join(f"{b:02x}" for b in raw)


def leading_tags(frame: bytes) -> list[tuple[int, int]]:
    """The (TPID, TCI) tags at the front of ``frame``, outermost first.

    A tag only counts when its 4 bytes and the following ethertype are all present: the core
    refuses to untag anything shorter (the 14-byte "ethertype 0x8100, no tag" runt is not a
    tagged frame), so counting it would invent a removal that never happened.
    """
    tags: list[tuple[int, int]] = []
    off = 2 * ETH_ALEN
    while len(frame) >= off + VLAN_HLEN + 2:
        (tpid, tci) = struct.unpack_from("!HH", frame, off)
        if tpid not in VLAN_TPIDS:
            break
        tags.append((tpid, tci))
        off += VLAN_HLEN
    return tags


def strip_tags(frame: bytes) -> bytes:
    """``frame`` with every leading VLAN tag removed (addresses kept)."""
    n = len(leading_tags(frame))
    return frame[: 2 * ETH_ALEN] + frame[2 * ETH_ALEN + n * VLAN_HLEN :]


def insert_tag(frame: bytes, tpid: int, tci: int) -> bytes:
    """Put an out-of-band tag back in band, right after the source MAC.

    This reconstructs what was on the wire from an AF_PACKET capture plus PACKET_AUXDATA, the
    same thing libpcap does.
    """
    return frame[: 2 * ETH_ALEN] + struct.pack("!HH", tpid, tci) + frame[2 * ETH_ALEN :]


def kernel_protocols(frame: bytes) -> set[int]:
    """Every skb->protocol value the core may give ``frame`` while it is being received.

    The outermost ethertype is the protocol before untagging; each VLAN round exposes the next
    one (a QinQ frame with an outer VID other than 0 ends with the inner TPID as protocol).
    802.3 length frames become ETH_P_802_3 when the payload starts with 0xFFFF (raw IPX) and
    ETH_P_802_2 otherwise, including when there is no payload at all. The harness binds one
    protocol socket per value so "the stack saw it" is observable for all of them.
    """
    protos: set[int] = set()
    off = 2 * ETH_ALEN
    while len(frame) >= off + 2:
        (etype,) = struct.unpack_from("!H", frame, off)
        if etype < ETH_P_802_3_MIN:
            raw_ipx = frame[off + 2 : off + 4] == b"\xff\xff"
            protos.add(ETH_P_802_3 if raw_ipx else ETH_P_802_2)
            break
        protos.add(etype)
        if etype not in VLAN_TPIDS or len(frame) < off + VLAN_HLEN + 2:
            break
        off += VLAN_HLEN
    return protos


def protocols_for(frames: Iterable[bytes]) -> list[int]:
    """Sorted union of :func:`kernel_protocols` over a scenario's frames."""
    out: set[int] = set()
    for frame in frames:
        out |= kernel_protocols(frame)
    return sorted(out)


def vlan_dict(tpid: int, tci: int) -> dict[str, object]:
    """The result format's ``vlan`` object for an out-of-band tag."""
    return {"tpid": f"0x{tpid:04x}", "vid": tci & 0x0FFF, "pcp": tci >> 13, "dei": (tci >> 12) & 1}


def _ipv4_key(frame: bytes) -> tuple[bytes, bytes, bytes, int] | None:
    """(src, dst, id, protocol) of an untagged IPv4 frame, else None."""
    if len(frame) < ETH_HLEN + 20 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[ETH_HLEN:]
    if ip[0] >> 4 != 4:
        return None
    return (ip[12:16], ip[16:20], ip[4:6], ip[9])


def matches(injected: bytes, effective: bytes) -> bool:
    """Is ``effective`` (a capture with its aux tag re-inserted) a copy of ``injected``?

    Allowed differences, each one a rewrite the kernel really does:

    * VLAN tags added or removed (priority-tag stripping, QinQ, VLAN TX);
    * trailing zero bytes added or removed (padding, trimming to the IP length);
    * an IPv4 datagram reassembled from the injected fragment (same destination MAC, same IP
      addresses, id and protocol): the macvlan handler reassembles group-addressed fragments
      (spec §5 M1), and the datagram carries the Ethernet header of the *first* fragment, so
      its source MAC may be another fragment's.

    Anything else is treated as foreign (noise or a late copy of an earlier frame) so it is
    never attributed to the wrong frame.
    """
    a, b = strip_tags(injected), strip_tags(effective)
    if a[:ETH_ALEN] != b[:ETH_ALEN]:
        return False
    key = _ipv4_key(a)
    if key is not None and _is_fragment(a) and key == _ipv4_key(b):
        return True
    if a[ETH_ALEN : 2 * ETH_ALEN] != b[ETH_ALEN : 2 * ETH_ALEN]:
        return False
    if a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return long_.startswith(short) and not any(long_[len(short) :])


def _is_fragment(frame: bytes) -> bool:
    """An untagged IPv4 frame with MF set or a non-zero fragment offset."""
    return int.from_bytes(frame[ETH_HLEN + 6 : ETH_HLEN + 8], "big") & 0x3FFF != 0


def diff_fields(injected: bytes, raw: bytes, vlan: tuple[int, int] | None) -> dict[str, object]:
    """The ``hex`` / ``untagged`` / ``tagged`` fields of a reception.

    The captured frame is compared *with its out-of-band tag put back*: a tag the kernel merely
    moved into auxdata is not a change. When that reconstruction differs from the injected
    bytes, ``hex`` carries the bytes exactly as captured (without the aux tag, which the
    ``vlan`` field already reports), and the difference in tag count says how many tags the
    kernel removed (``untagged``) or added on transmit (``tagged``).
    """
    effective = insert_tag(raw, *vlan) if vlan is not None else raw
    if effective == injected:
        return {}
    out: dict[str, object] = {"hex": raw.hex()}
    delta = len(leading_tags(injected)) - len(leading_tags(effective))
    if delta > 0:
        out["untagged"] = delta
    elif delta < 0:
        out["tagged"] = -delta
    return out
