"""MAC addresses and the two hashes the macvlan driver uses on them (spec §3).

The hashes decide bucket order (which device a broadcast reaches first) and filter bits
(which groups a port or device lets through), so they are reproduced bit for bit as on a
little-endian 64-bit kernel.
"""

from __future__ import annotations

import re

from macvlan_sim.model.constants import GOLDEN_RATIO_32, GOLDEN_RATIO_64, MACVLAN_HASH_BITS

_MAC_RE = re.compile(r"^[0-9a-fA-F]{1,2}([:-])[0-9a-fA-F]{1,2}(\1[0-9a-fA-F]{1,2}){4}$")
_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1


class MacError(ValueError):
    """A string that is not a MAC address; the message names it."""


def parse_mac(text: str | bytes) -> bytes:
    """``02:00:00:00:00:01`` (or ``-`` separated, or 6 raw bytes) to 6 bytes."""
    if isinstance(text, bytes | bytearray):
        if len(text) != 6:
            raise MacError(f"invalid MAC address: {len(text)} bytes, need 6")
        return bytes(text)
    if not isinstance(text, str) or not _MAC_RE.match(text.strip()):
        raise MacError(f"invalid MAC address {text!r}")
    return bytes(int(part, 16) for part in re.split(r"[:-]", text.strip()))


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def is_group(mac: bytes) -> bool:
    """The I/G bit: set for multicast and broadcast destinations."""
    return bool(mac[0] & 1)


def is_valid_unicast(mac: bytes) -> bool:
    """``is_valid_ether_addr``: neither a group address nor all zeros."""
    return not is_group(mac) and mac != b"\x00" * 6


def eth_hash(mac: bytes) -> int:
    """``macvlan_eth_hash``: the bucket of a device (or source entry) in the port's table.

    The kernel loads 8 bytes little-endian starting at the MAC, shifts out the two bytes
    that are not part of it and keeps the top bits of a multiplicative hash.
    """
    value = (int.from_bytes(mac, "little") << 16) & _MASK64
    return ((value * GOLDEN_RATIO_64) & _MASK64) >> (64 - MACVLAN_HASH_BITS)


def mc_hash(mac: bytes, salt: int = 0) -> int:
    """``mc_hash``: a filter bit. Port filters use salt 0; device filters a pointer-derived salt."""
    value = (int.from_bytes(mac[2:6], "little") ^ salt) & _MASK32
    return ((value * GOLDEN_RATIO_32) & _MASK32) >> (32 - 8)


def ipv6_solicited_node(mac: bytes) -> bytes:
    """The solicited-node group an EUI-64 link-local address of ``mac`` joins."""
    return b"\x33\x33\xff" + mac[3:6]
