"""Byte-level builders for synthetic pcap / pcapng files, including broken ones.

Written independently of the reader (plain ``struct``), so a test compares the reader with
the format as specified, not with itself.
"""

from __future__ import annotations

import struct

ETH_FRAME = bytes.fromhex("ffffffffffff0200000000010806") + bytes(46)  # 60-byte ARP-ish

PCAP_MAGIC = {  # (byte order, nanosecond) -> magic number
    ("<", False): 0xA1B2C3D4,
    (">", False): 0xA1B2C3D4,
    ("<", True): 0xA1B23C4D,
    (">", True): 0xA1B23C4D,
}


def pcap_header(
    endian: str = "<",
    nano: bool = False,
    linktype: int = 1,
    snaplen: int = 65535,
    version: tuple[int, int] = (2, 4),
) -> bytes:
    magic = PCAP_MAGIC[(endian, nano)]
    return struct.pack(endian + "IHHiIII", magic, *version, 0, 0, snaplen, linktype)


def pcap_record(
    data: bytes,
    sec: int = 1_700_000_000,
    frac: int = 0,
    orig_len: int | None = None,
    caplen: int | None = None,
    endian: str = "<",
) -> bytes:
    caplen = len(data) if caplen is None else caplen
    orig_len = len(data) if orig_len is None else orig_len
    return struct.pack(endian + "IIII", sec, frac, caplen, orig_len) + data


def pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def block(btype: int, body: bytes, endian: str = "<", trailer: int | None = None) -> bytes:
    """A pcapng block; ``trailer`` overrides the trailing length to break the framing."""
    body = pad4(body)
    total = 12 + len(body)
    end = total if trailer is None else trailer
    return struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", end)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + pad4(value)


def end_of_options(endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", 0, 0)


def shb(endian: str = "<", version: tuple[int, int] = (1, 0), options: bytes = b"") -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, *version, -1) + options
    return block(0x0A0D0D0A, body, endian)


def idb(
    linktype: int = 1,
    snaplen: int = 0,
    endian: str = "<",
    tsresol: int | None = None,
    tsoffset: int | None = None,
    name: str | None = None,
) -> bytes:
    opts = b""
    if name is not None:
        opts += option(2, name.encode(), endian)
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), endian)
    if tsoffset is not None:
        opts += option(14, struct.pack(endian + "q", tsoffset), endian)
    if opts:
        opts += end_of_options(endian)
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts, endian)


def epb(
    data: bytes,
    ticks: int = 1_700_000_000_000_000,
    iface: int = 0,
    orig_len: int | None = None,
    caplen: int | None = None,
    endian: str = "<",
) -> bytes:
    caplen = len(data) if caplen is None else caplen
    orig_len = len(data) if orig_len is None else orig_len
    hdr = struct.pack(endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, caplen, orig_len)
    return block(6, hdr + data, endian)


def spb(data: bytes, orig_len: int | None = None, endian: str = "<") -> bytes:
    orig_len = len(data) if orig_len is None else orig_len
    return block(3, struct.pack(endian + "I", orig_len) + data, endian)


def obsolete_pb(data: bytes, ticks: int, iface: int = 0, endian: str = "<") -> bytes:
    hdr = struct.pack(
        endian + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(2, hdr + data, endian)
