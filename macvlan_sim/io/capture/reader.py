"""Streaming pcap / pcapng reader with libpcap-like strictness.

This is a small ``struct``-based reader, not a wrapper around scapy's ``RawPcapReader`` /
``RawPcapNgReader``. Checked against scapy 2.8.0 on the shared corpus, the scapy readers:

* stop silently at a truncated record header (``dpkt__truncated_dns_2.pcap`` reads as one
  clean record), and go on after a short record body with only a logged warning, so a cut-off
  capture cannot be told from a complete one;
* accept pcap version 1.4, caplen > len and caplen 0 on Ethernet without a word;
* cut records longer than 65535 bytes to 65535 bytes (their ``MTU`` default);
* refuse ``libpcap__shb-option-too-long.pcapng`` with "Not a supported capture file", naming
  neither the block nor the offset;
* return only (data, metadata) tuples with no record index or byte offset, so an error message
  could not say where the problem is.

The pcap and pcapng formats are small enough that reading them directly is less code than
working around those points, and it's faster: the file is read in 1 MiB chunks and parsed with
precompiled ``struct`` objects (see ``benchmarks/bench_capture.py`` for the figures). Memory stays
bounded by the chunk size plus one record (pcap) or one block (pcapng, at most 16 MiB).

Errors follow libpcap: a bad file header fails :func:`open_capture`. Later, a record-level
problem (caplen > len, caplen > 262144, an Ethernet record under 14 bytes, a packet block that
names an unknown interface) raises :class:`CaptureError`, or with ``keep_going=True`` is skipped
and counted in ``reader.skipped``. A truncated file or a broken block structure always ends
reading. It raises, or with ``keep_going=True`` it is counted once and kept in ``reader.errors``.
"""

from __future__ import annotations

import os
import stat
import struct
from array import array
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import astuple
from typing import BinaryIO, Final

from .records import (
    ETHERNET_HEADER_LEN,
    LINKTYPE_ETHERNET,
    MAX_CAPLEN,
    CaptureError,
    CaptureRecord,
    InterfaceInfo,
    Reason,
    _RecordBuilder,
    linktype_name,
    linktype_reason,
    make_record,
    open_file,
)

__all__ = ["CaptureReader", "PcapNgReader", "PcapReader", "ethernet_frames", "open_capture"]

_CHUNK: Final = 1 << 20
_MAX_BLOCK_LEN: Final = 16 << 20  # libpcap's initial limit; a real block is far smaller
_NS_PER_S: Final = 1_000_000_000

_PCAP_MAGICS: Final = {
    # magic bytes as they appear on disk -> (struct byte order, nanosecond timestamps)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_PCAPNG_SHB: Final = 0x0A0D0D0A
_PCAPNG_BOM: Final = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6
_PACKET_BLOCKS: Final = frozenset((_PB, _SPB, _EPB))
_PCAPNG_VERSIONS: Final = frozenset(((1, 0), (1, 2)))  # libpcap also accepts 1.2 (old writers)


class _Stream:
    """A file read in large chunks, with a cursor into the current chunk.

    Parsing works on ``buf`` at ``pos`` with ``struct.unpack_from`` instead of many small
    ``read()`` calls: that is most of the reader's speed. ``base`` is the file offset of
    ``buf[0]``, so ``offset`` is the exact position for progress and error messages.
    """

    __slots__ = ("base", "buf", "f", "pos", "size")

    def __init__(self, f: BinaryIO, size: int | None) -> None:
        self.f = f
        self.size = size
        self.buf = b""
        self.pos = 0
        self.base = 0

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def avail(self) -> int:
        return len(self.buf) - self.pos

    def fill(self, n: int) -> bool:
        """Make ``n`` bytes available at ``pos``; False if the file ends first."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        more = self.f.read(max(_CHUNK, n - avail))
        self.buf = self.buf[self.pos :] + more
        self.base += self.pos
        self.pos = 0
        return len(self.buf) >= n

    def skip(self, n: int) -> int:
        """Move ``n`` bytes on without keeping them (a huge bogus record must not be loaded).

        Returns how many bytes could be skipped: fewer than ``n`` means the file ended. The
        file size is looked up now rather than at open, because a capture may still be
        growing. Pipes can't seek, so there the bytes are read and dropped.
        """
        avail = len(self.buf) - self.pos
        if n <= avail:
            self.pos += n
            return n
        start = self.base + self.pos
        if self.f.seekable():
            end = min(start + n, os.fstat(self.f.fileno()).st_size)
            self.f.seek(end)
        else:
            end = self.base + len(self.buf)
            while end < start + n and (more := self.f.read(min(_CHUNK, start + n - end))):
                end += len(more)
        self.buf, self.pos, self.base = b"", 0, end
        return end - start


def _open_file(path: str | os.PathLike[str]) -> BinaryIO:
    return open_file(path, "rb")


def open_capture(path: str | os.PathLike[str], *, keep_going: bool = False) -> CaptureReader:
    """Open a pcap or pcapng file, chosen by its first bytes (never by the file name).

    Raises :class:`CaptureError` if the file can't be opened or its header is bad. This
    happens even with ``keep_going``, because without a valid header nothing can be read.
    """
    f = _open_file(path)
    try:
        st = os.fstat(f.fileno())
        stream = _Stream(f, st.st_size if stat.S_ISREG(st.st_mode) else None)
        stream.fill(4)
        magic = stream.buf[:4]
        if magic in _PCAP_MAGICS:
            return PcapReader(path, stream, keep_going=keep_going)
        if len(magic) == 4 and int.from_bytes(magic, "little") == _PCAPNG_SHB:
            return PcapNgReader(path, stream, keep_going=keep_going)
        raise CaptureError(path, _describe_bad_magic(magic))
    except CaptureError:
        f.close()
        raise
    except OSError as exc:
        f.close()
        raise CaptureError(path, f"read error: {exc.strerror or exc}") from None


def _describe_bad_magic(magic: bytes) -> str:
    if not magic:
        return "empty file (0 bytes), not a pcap or pcapng file"
    if len(magic) < 4:
        return f"not a pcap or pcapng file (only {len(magic)} bytes)"
    if magic[:2] == b"\x1f\x8b":
        return "gzip-compressed file; decompress it first (not a pcap or pcapng file)"
    return f"not a pcap or pcapng file (magic 0x{magic.hex()})"


def _record_problem(caplen: int, orig_len: int, linktype: int) -> tuple[str, str] | None:
    """The checks every packet record gets, whatever the format: (reason, message) or None."""
    if caplen > orig_len:
        return Reason.CAPLEN_GT_LEN, f"caplen {caplen} > len {orig_len}"
    if linktype == LINKTYPE_ETHERNET and caplen < ETHERNET_HEADER_LEN:
        return Reason.RUNT, f"Ethernet frame shorter than 14 bytes (caplen {caplen})"
    return None


def _oversized(caplen: int) -> str:
    return f"caplen {caplen} > maximum {MAX_CAPLEN} (corrupt record header?)"


class CaptureReader:
    """Common state and iteration for both formats; obtain one with :func:`open_capture`.

    Iterate it (once) for :class:`CaptureRecord` objects. Useful attributes:

    * ``format`` (``"pcap"``/``"pcapng"``), ``byte_order`` (``"little"``/``"big"``),
      ``version`` (major, minor);
    * ``interfaces`` (list of :class:`InterfaceInfo`); for pcapng, the interfaces described
      before the first packet are known right after opening, and later ones are added as reading
      reaches them. ``linktypes`` lists the distinct link types among them, in order;
    * ``size`` (file size at open; None for a pipe or other non-regular file) and
      ``bytes_read`` (offset up to which the file has been parsed), for a progress bar;
    * ``truncated``: records yielded with caplen < len (snaplen cut, valid);
    * ``skipped``: ``Counter`` of records not yielded, by :class:`Reason` key;
    * ``skip_examples``: the first record-level error for each reason (bounded memory, for
      messages like "skipped 40 runt frames, first: record 3 at offset 122: ...");
    * ``errors``: the :class:`CaptureError` that ended reading early, if any.

    The file is closed when iteration ends, or by ``close()`` / the ``with`` block.
    """

    format: str = ""
    # The formats' inner loops repeat the record checks inline for speed. Tests switch them
    # off to check that both paths give the same records, counts and errors.
    _fast_path: bool = True

    def __init__(self, path: str | os.PathLike[str], stream: _Stream, *, keep_going: bool) -> None:
        self.path = os.fspath(path)
        self.keep_going = keep_going
        self.size = stream.size
        self.skipped: Counter[str] = Counter()
        self.errors: list[CaptureError] = []
        self.skip_examples: dict[str, CaptureError] = {}
        self.truncated = 0
        self.interfaces = InterfaceList()
        self.byte_order = "little"
        self.version = (0, 0)
        self._stream = stream
        self._gen: Generator[CaptureRecord, None, None] | None = None
        self._deferred: CaptureError | None = None
        self._unread: int | None = 0
        self._closed = False

    # -- public surface -------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """How far parsing has got, in bytes from the start of the file."""
        return self._stream.offset

    @property
    def linktypes(self) -> tuple[int, ...]:
        """Distinct link types of the known interfaces, in order of appearance."""
        return self.interfaces.linktypes()

    def __iter__(self) -> Iterator[CaptureRecord]:
        # Hand out the generator itself so a ``for`` loop pays no extra call per record.
        if self._gen is None:
            if self._closed:
                raise ValueError(f"{self.path}: reader is closed")
            self._gen = self._run()
        return self._gen

    def __next__(self) -> CaptureRecord:
        return next(iter(self))

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and close the file (idempotent)."""
        gen = self._gen
        if gen is not None and not gen.gi_running:
            gen.close()
        self._close_file()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.path!r} linktypes={self.linktypes} "
            f"bytes_read={self.bytes_read}/{self.size}>"
        )

    # -- machinery shared by both formats -------------------------------------------------
    def _close_file(self) -> None:
        self._closed = True
        self._stream.f.close()

    def _run(self) -> Generator[CaptureRecord, None, None]:
        """Wrap the format's record loop with the error policy and file closing."""
        try:
            if self._deferred is not None:
                raise self._deferred
            yield from self._records()
        except CaptureError as err:
            self._end_with(err)
        except OSError as exc:
            problem = f"read error at offset {self.bytes_read}: {exc.strerror or exc}"
            self._end_with(CaptureError(self.path, problem, reason=Reason.READ_ERROR))
        finally:
            self._close_file()

    @property
    def unread_bytes(self) -> int | None:
        """After a break that ended reading: bytes of the file from the broken record or block
        to the end, none of which was used. 0 if reading did not stop early; None when the
        size cannot be known (a pipe)."""
        return self._unread

    def _end_with(self, err: CaptureError) -> None:
        """An error that ends reading: re-raise it, or with keep_going record it and stop."""
        self.errors.append(err)
        self._unread = self._unread_from(err.offset if err.offset is not None else self.bytes_read)
        if not self.keep_going:
            raise err
        self.skipped[err.reason] += 1

    def _unread_from(self, offset: int) -> int | None:
        try:
            st = os.fstat(self._stream.f.fileno())
        except (OSError, ValueError):  # closed, or no file descriptor
            return None
        return max(st.st_size - offset, 0) if stat.S_ISREG(st.st_mode) else None

    def _reject(self, index: int, offset: int, reason: str, problem: str) -> None:
        """A bad record: raise, or with keep_going count it so the caller can go on."""
        if not self.keep_going:
            raise CaptureError(self.path, problem, offset=offset, record=index, reason=reason)
        self.skipped[reason] += 1
        if reason not in self.skip_examples:
            self.skip_examples[reason] = CaptureError(
                self.path, problem, offset=offset, record=index, reason=reason
            )

    def _records(self) -> Iterator[CaptureRecord]:  # pragma: no cover - abstract
        raise NotImplementedError


_EOF: Final = object()


class PcapReader(CaptureReader):
    """Classic libpcap format: 24-byte file header, then 16-byte record header + data."""

    format = "pcap"

    def __init__(self, path: str | os.PathLike[str], stream: _Stream, *, keep_going: bool) -> None:
        super().__init__(path, stream, keep_going=keep_going)
        self._parse_file_header()

    def _parse_file_header(self) -> None:
        s = self._stream
        if not s.fill(24):
            raise CaptureError(
                self.path,
                f"file ends after {s.avail} bytes, inside the 24-byte pcap file header "
                "(truncated file)",
                offset=0,
                reason=Reason.TRUNCATED,
            )
        endian, nano = _PCAP_MAGICS[s.buf[:4]]
        major, minor, _zone, _sigfigs, snaplen, lt_field = struct.unpack_from(
            endian + "HHiIII", s.buf, 4
        )
        # libpcap accepts 2.0-2.4 only; anything else means the rest can't be trusted.
        if major != 2 or minor > 4:
            raise CaptureError(self.path, f"unsupported pcap version {major}.{minor}", offset=4)
        if lt_field & 0x03FF0000:
            raise CaptureError(
                self.path,
                f"link-type field reserved bits not zero (0x{lt_field:08x})",
                offset=20,
            )
        fcs_len = (lt_field >> 28) * 2 if lt_field & 0x04000000 else None
        self.linktype = lt_field & 0xFFFF
        self.nanosecond = nano
        self.snaplen = snaplen
        self.byte_order = "little" if endian == "<" else "big"
        self.version = (major, minor)
        ticks = _NS_PER_S if nano else 1_000_000
        self.interfaces.append(InterfaceInfo(0, self.linktype, snaplen, ticks, fcs_len=fcs_len))
        self._hdr = struct.Struct(endian + "IIII")
        s.pos += 24

    def _records(self) -> Iterator[CaptureRecord]:
        """Fast loop over whole, well-formed records in the current chunk; anything else
        (chunk boundary, bad record, end of file) goes through :meth:`_slow_record`."""
        s = self._stream
        unpack = self._hdr.unpack_from
        lt = self.linktype
        mult = 1 if self.nanosecond else 1000
        min_len = ETHERNET_HEADER_LEN if lt == LINKTYPE_ETHERNET else 0
        builder = _RecordBuilder  # see records._RecordBuilder: a fast CaptureRecord
        record_cls = CaptureRecord
        fast = self._fast_path
        index = 0
        while True:
            buf = s.buf
            pos = s.pos
            n = len(buf)
            while fast and pos + 16 <= n:
                sec, frac, caplen, wirelen = unpack(buf, pos)
                end = pos + 16 + caplen
                if end > n or caplen > wirelen or caplen < min_len or caplen > MAX_CAPLEN:
                    break
                if caplen != wirelen:
                    self.truncated += 1
                s.pos = end
                rec = builder(
                    index, sec * _NS_PER_S + frac * mult, lt, 0, buf[pos + 16 : end], wirelen
                )
                rec.__class__ = record_cls
                yield rec
                index += 1
                pos = end
            rec = self._slow_record(index)
            if rec is _EOF:
                return
            index += 1
            if rec is not None:
                yield rec  # type: ignore[misc]

    def _slow_record(self, index: int) -> CaptureRecord | object | None:
        """One record the fast loop could not take: a record, None (skipped) or ``_EOF``."""
        s = self._stream
        off = s.offset
        if not s.fill(16):
            if s.avail == 0:
                return _EOF
            raise CaptureError(
                self.path,
                f"file ends {s.avail} bytes into a record header at offset {off} (truncated file)",
                offset=off,
                reason=Reason.TRUNCATED,
            )
        sec, frac, caplen, wirelen = self._hdr.unpack_from(s.buf, s.pos)
        if caplen > MAX_CAPLEN:
            if not self.keep_going:
                self._reject(index, off, Reason.OVERSIZED, _oversized(caplen))
            # One record, one reason: a body that runs past the end of the file makes it the
            # truncated record that ends reading, not also an oversized one.
            skipped = s.skip(16 + caplen)
            if skipped < 16 + caplen:
                self._truncated_body(index, off, caplen, skipped - 16)
            self._reject(index, off, Reason.OVERSIZED, _oversized(caplen))
            return None
        if not s.fill(16 + caplen):
            self._truncated_body(index, off, caplen, s.avail - 16)
        start = s.pos + 16
        data = s.buf[start : start + caplen]
        s.pos = start + caplen
        problem = _record_problem(caplen, wirelen, self.linktype)
        if problem is not None:
            self._reject(index, off, *problem)
            return None
        if caplen != wirelen:
            self.truncated += 1
        ts = sec * _NS_PER_S + frac * (1 if self.nanosecond else 1000)
        return CaptureRecord(index, ts, self.linktype, 0, data, wirelen)

    def _truncated_body(self, index: int, off: int, caplen: int, have: int) -> None:
        raise CaptureError(
            self.path,
            f"file ends {have} bytes into the {caplen}-byte record body (truncated file)",
            offset=off,
            record=index,
            reason=Reason.TRUNCATED,
        )


class InterfaceList(Sequence[InterfaceInfo]):
    """``reader.interfaces``: a read-only sequence of :class:`InterfaceInfo`, stored compactly.

    Each distinct description is kept once and each interface is 4 bytes naming it, so a
    pcapng file with a million identical IDBs costs megabytes, not the ~300 bytes per object
    a list of InterfaceInfo would (issue 8: 1 M IDBs took 323 MB). Items are built on access.
    """

    def __init__(self) -> None:
        self._kinds: dict[tuple[object, ...], int] = {}
        self._by_id: list[tuple[object, ...]] = []
        self._ids = array("I")

    def append(self, info: InterfaceInfo) -> None:
        kind = astuple(info)[1:]  # everything but the index, which is the position
        kind_id = self._kinds.get(kind)
        if kind_id is None:
            kind_id = self._kinds[kind] = len(self._by_id)
            self._by_id.append(kind)
        self._ids.append(kind_id)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return InterfaceInfo(index, *self._by_id[self._ids[index]])  # type: ignore[arg-type]

    def linktypes(self) -> tuple[int, ...]:
        """Distinct link types, in order of first appearance (descriptions are numbered in
        that order)."""
        return tuple(dict.fromkeys(kind[0] for kind in self._by_id))  # type: ignore[misc]


class _Iface:
    """Per-interface timestamp conversion: ns = (ticks * mult >> shift) // div + offset_ns.

    One formula covers decimal resolutions finer or coarser than 1 ns and binary (2**-n)
    resolutions, with exact integer arithmetic (a float would lose nanoseconds after 2**53).
    """

    __slots__ = ("div", "linktype", "mult", "offset_ns", "shift", "snaplen")

    def __init__(self, linktype: int, snaplen: int, tsresol: int, tsoffset: int):
        self.linktype = linktype
        self.snaplen = snaplen
        self.mult, self.shift, self.div = 1, 0, 1
        exp = tsresol & 0x7F
        if tsresol & 0x80:
            self.mult, self.shift = _NS_PER_S, exp
        elif exp <= 9:
            self.mult = 10 ** (9 - exp)
        else:
            self.div = 10 ** (exp - 9)
        self.offset_ns = tsoffset * _NS_PER_S

    @staticmethod
    def ticks_per_second(tsresol: int) -> int:
        exp = tsresol & 0x7F
        return 2**exp if tsresol & 0x80 else 10**exp

    def to_ns(self, ticks: int) -> int:
        return (ticks * self.mult >> self.shift) // self.div + self.offset_ns


class PcapNgReader(CaptureReader):
    """pcapng: a sequence of blocks (type, total length, body, total length again).

    Records come from EPBs, SPBs and obsolete PBs. IDBs define interfaces. Other known or
    unknown block types are skipped, as the format intends. A new SHB starts a new section
    (new byte order, new interface numbering). ``CaptureRecord.interface`` is then an index
    into ``reader.interfaces`` over all sections, which equals the block's interface id
    when the file has a single section. SPBs carry no timestamp, so their records get 0.
    """

    format = "pcapng"

    def __init__(self, path: str | os.PathLike[str], stream: _Stream, *, keep_going: bool) -> None:
        super().__init__(path, stream, keep_going=keep_going)
        self._section = -1
        self._ifaces: list[_Iface] = []  # this section's interfaces, by block interface id
        self._base = 0  # index in ``interfaces`` of this section's interface 0
        #: IDBs that convert timestamps alike share one _Iface: a file may describe a million
        #: interfaces, and each costs a list slot, not an object.
        self._iface_kinds: dict[tuple[int, int, int, int], _Iface] = {}
        self._set_byte_order("<")
        block = self._read_block()
        if block is None:  # pragma: no cover - open_capture saw the magic
            raise CaptureError(self.path, "empty file (0 bytes), not a pcap or pcapng file")
        self._section_header(*block[1:])
        self._prescan()

    def _set_byte_order(self, endian: str) -> None:
        self._endian = endian
        self._u32 = struct.Struct(endian + "I")
        self._type_len = struct.Struct(endian + "II")
        self._epb = struct.Struct(endian + "IIIII")
        self._epb_head = struct.Struct(endian + "IIIIIII")  # block type + length + EPB fields
        self._pb = struct.Struct(endian + "HHIIII")

    def _prescan(self) -> None:
        """Read the blocks before the first packet so ``interfaces`` is filled at open time.

        An error here is kept and raised at the first ``next()``, so it surfaces in the same
        place (and under the same keep_going rules) as if it had been met while iterating.
        """
        s = self._stream
        try:
            while s.fill(8) and self._u32.unpack_from(s.buf, s.pos)[0] not in _PACKET_BLOCKS:
                block = self._read_block()
                if block is None:
                    break
                self._other_block(*block)
        except CaptureError as err:
            self._deferred = err
        except OSError as exc:
            problem = f"read error at offset {s.offset}: {exc.strerror or exc}"
            self._deferred = CaptureError(self.path, problem, reason=Reason.READ_ERROR)

    def _records(self) -> Iterator[CaptureRecord]:
        """Fast loop over well-formed EPBs whole in the current chunk (nearly every block of
        a real file). Anything else goes through :meth:`_read_block` and the full checks."""
        s = self._stream
        builder = _RecordBuilder  # see records._RecordBuilder: a fast CaptureRecord
        record_cls = CaptureRecord
        fast = self._fast_path
        index = 0
        while True:
            buf, pos, n = s.buf, s.pos, len(s.buf)
            head = self._epb_head.unpack_from
            u32 = self._u32.unpack_from
            ifaces = self._ifaces
            base = self._base
            while fast and pos + 28 <= n:
                btype, blen, iface_id, hi, lo, caplen, wirelen = head(buf, pos)
                end = pos + blen
                if (
                    btype != _EPB
                    or end > n
                    or blen & 3
                    or blen < 32 + caplen
                    or blen > _MAX_BLOCK_LEN
                    or caplen > wirelen
                    or caplen > MAX_CAPLEN
                    or iface_id >= len(ifaces)
                    or u32(buf, end - 4)[0] != blen
                ):
                    break
                iface = ifaces[iface_id]
                if caplen < ETHERNET_HEADER_LEN and iface.linktype == LINKTYPE_ETHERNET:
                    break
                if caplen != wirelen:
                    self.truncated += 1
                s.pos = end
                ts = ((hi << 32 | lo) * iface.mult >> iface.shift) // iface.div + iface.offset_ns
                data = buf[pos + 28 : pos + 28 + caplen]
                rec = builder(index, ts, iface.linktype, base + iface_id, data, wirelen)
                rec.__class__ = record_cls
                yield rec
                index += 1
                pos = end
            block = self._read_block()
            if block is None:
                return
            btype, off, b0, b1 = block
            if btype in _PACKET_BLOCKS:
                packet = self._packet(btype, index, off, b0, b1)
                index += 1
                if packet is not None:
                    yield packet
            else:
                self._other_block(btype, off, b0, b1)

    # -- block framing --------------------------------------------------------------------
    def _corrupt(self, off: int, problem: str) -> CaptureError:
        return CaptureError(self.path, f"block at offset {off}: {problem}", offset=off)

    def _truncated(self, off: int, problem: str) -> CaptureError:
        return CaptureError(self.path, problem, offset=off, reason=Reason.TRUNCATED)

    def _read_block(self) -> tuple[int, int, int, int] | None:
        """Consume one block: (type, offset, body start, body end) in ``stream.buf``.

        Checks the framing the way libpcap does. A length that isn't a multiple of 4, that
        is too small or absurdly large, that runs past the end of the file, or whose trailing
        copy differs all mean the next block can't be found, so each is an error that ends
        reading.
        """
        s = self._stream
        off = s.offset
        if not s.fill(8):
            if s.avail == 0:
                return None
            msg = f"file ends {s.avail} bytes into a block header at offset {off} (truncated file)"
            raise self._truncated(off, msg)
        if self._u32.unpack_from(s.buf, s.pos)[0] == _PCAPNG_SHB:  # same in both byte orders
            self._byte_order_from_shb(off)
        btype, blen = self._type_len.unpack_from(s.buf, s.pos)
        if blen < 12 or blen % 4:
            why = "is not a multiple of 4" if blen % 4 else "is less than 12"
            raise self._corrupt(off, f"length {blen} {why}")
        if blen > _MAX_BLOCK_LEN:
            raise self._corrupt(off, f"length {blen} exceeds the {_MAX_BLOCK_LEN >> 20} MiB limit")
        if not s.fill(blen):  # at most 16 MiB, so reading before judging is acceptable
            msg = f"block at offset {off}: file ends {s.avail} bytes into a {blen}-byte block"
            raise self._truncated(off, msg + " (truncated file)")
        trailer = self._u32.unpack_from(s.buf, s.pos + blen - 4)[0]
        if trailer != blen:
            raise self._corrupt(off, f"trailing length {trailer} != {blen}")
        start = s.pos
        s.pos += blen
        return btype, off, start + 8, start + blen - 4

    def _byte_order_from_shb(self, off: int) -> None:
        s = self._stream
        if not s.fill(12):
            msg = f"file ends {s.avail} bytes into a section header at offset {off}"
            raise self._truncated(off, msg + " (truncated file)")
        bom = s.buf[s.pos + 8 : s.pos + 12]
        if bom not in _PCAPNG_BOM:
            raise self._corrupt(off, f"bad byte-order magic 0x{bom.hex()} in section header")
        self._set_byte_order(_PCAPNG_BOM[bom])

    # -- block contents -------------------------------------------------------------------
    def _other_block(self, btype: int, off: int, b0: int, b1: int) -> None:
        if btype == _PCAPNG_SHB:
            self._section_header(off, b0, b1)
        elif btype == _IDB:
            self._interface_block(off, b0, b1)
        # Anything else (NRB, ISB, DSB, custom, unknown) carries nothing a replay needs.

    def _section_header(self, off: int, b0: int, b1: int) -> None:
        if b1 - b0 < 16:
            raise self._corrupt(off, f"section header block too short ({b1 - b0 + 12} bytes)")
        major, minor = struct.unpack_from(self._endian + "HH", self._stream.buf, b0 + 4)
        if (major, minor) not in _PCAPNG_VERSIONS:
            where = f"section at offset {off}: " if off else ""
            raise CaptureError(
                self.path, f"{where}unsupported pcapng version {major}.{minor}", offset=off
            )
        self._section += 1
        self._ifaces = []
        self._base = len(self.interfaces)
        self.version = (major, minor)
        self.byte_order = "little" if self._endian == "<" else "big"

    def _interface_block(self, off: int, b0: int, b1: int) -> None:
        buf = self._stream.buf
        if b1 - b0 < 8:
            size = b1 - b0 + 12
            raise self._corrupt(off, f"interface description block too short ({size} bytes)")
        linktype, _reserved, snaplen = struct.unpack_from(self._endian + "HHI", buf, b0)
        opts = self._options(off, b0 + 8, b1)
        tsresol = opts[9][0] if 9 in opts else 6
        tsoffset = struct.unpack(self._endian + "q", opts[14])[0] if 14 in opts else 0
        fcs_len = opts[13][0] if 13 in opts else None
        name = opts[2].rstrip(b"\0").decode("utf-8", "replace") if 2 in opts else None
        index = len(self.interfaces)
        ticks = _Iface.ticks_per_second(tsresol)
        key = (linktype, snaplen, tsresol, tsoffset)
        iface = self._iface_kinds.get(key)
        if iface is None:
            iface = self._iface_kinds[key] = _Iface(linktype, snaplen, tsresol, tsoffset)
        self._ifaces.append(iface)
        self.interfaces.append(
            InterfaceInfo(index, linktype, snaplen, ticks, name, self._section, fcs_len)
        )

    # Fixed option sizes libpcap insists on (if_tsresol, if_fcslen, if_tsoffset).
    _OPTION_SIZES: Final = {9: 1, 13: 1, 14: 8}

    def _options(self, off: int, p: int, end: int) -> dict[int, bytes]:
        """Parse an IDB's options (first value per code). A bad option ends reading, as in
        libpcap: the resolution and link details of every later record depend on it."""
        buf = self._stream.buf
        opts: dict[int, bytes] = {}
        unpack = struct.Struct(self._endian + "HH").unpack_from
        while p + 4 <= end:
            code, length = unpack(buf, p)
            if code == 0:
                break
            if p + 4 + length > end:
                raise self._corrupt(off, f"option {code} (length {length}) overruns the block")
            want = self._OPTION_SIZES.get(code)
            if want is not None and length != want:
                raise self._corrupt(off, f"option {code} has length {length}, expected {want}")
            opts.setdefault(code, bytes(buf[p + 4 : p + 4 + length]))
            p += 4 + ((length + 3) & ~3)
        return opts

    def _packet(self, btype: int, index: int, off: int, b0: int, b1: int) -> CaptureRecord | None:
        """Decode one EPB / PB / SPB into a record, or reject it (None with keep_going)."""
        buf = self._stream.buf
        if btype == _SPB:
            return self._simple_packet(index, off, b0, b1)
        if b1 - b0 < 20:
            kind = "enhanced" if btype == _EPB else "obsolete"
            self._reject(
                index,
                off,
                Reason.BAD_PACKET_BLOCK,
                f"{kind} packet block too short ({b1 - b0 + 12} bytes)",
            )
            return None
        if btype == _EPB:
            iface_id, hi, lo, caplen, wirelen = self._epb.unpack_from(buf, b0)
        else:
            iface_id, _drops, hi, lo, caplen, wirelen = self._pb.unpack_from(buf, b0)
        iface = self._interface(index, off, iface_id)
        if iface is None or not self._packet_ok(index, off, caplen, wirelen, b1 - b0 - 20, iface):
            return None
        data = buf[b0 + 20 : b0 + 20 + caplen]
        ts = iface.to_ns(hi << 32 | lo)
        return make_record(index, ts, iface.linktype, self._base + iface_id, data, wirelen)

    def _simple_packet(self, index: int, off: int, b0: int, b1: int) -> CaptureRecord | None:
        if b1 - b0 < 4:
            self._reject(
                index,
                off,
                Reason.BAD_PACKET_BLOCK,
                f"simple packet block too short ({b1 - b0 + 12} bytes)",
            )
            return None
        iface = self._interface(index, off, 0)
        if iface is None:
            return None
        wirelen = self._u32.unpack_from(self._stream.buf, b0)[0]
        caplen = min(wirelen, b1 - b0 - 4)
        if iface.snaplen:
            caplen = min(caplen, iface.snaplen)
        if not self._packet_ok(index, off, caplen, wirelen, b1 - b0 - 4, iface):
            return None
        data = self._stream.buf[b0 + 4 : b0 + 4 + caplen]
        return CaptureRecord(index, 0, iface.linktype, self._base, data, wirelen)

    def _interface(self, index: int, off: int, iface_id: int) -> _Iface | None:
        if iface_id < len(self._ifaces):
            return self._ifaces[iface_id]
        self._reject(
            index,
            off,
            Reason.UNKNOWN_INTERFACE,
            f"interface id {iface_id} not defined "
            f"(the section has {len(self._ifaces)} interface(s))",
        )
        return None

    def _packet_ok(
        self, index: int, off: int, caplen: int, wirelen: int, room: int, iface: _Iface
    ) -> bool:
        if caplen > MAX_CAPLEN:
            self._reject(index, off, Reason.OVERSIZED, _oversized(caplen))
            return False
        if caplen > room:
            self._reject(
                index,
                off,
                Reason.BAD_PACKET_BLOCK,
                f"caplen {caplen} exceeds the block's {room} bytes of packet data",
            )
            return False
        problem = _record_problem(caplen, wirelen, iface.linktype)
        if problem is not None:
            self._reject(index, off, *problem)
            return False
        if caplen != wirelen:
            self.truncated += 1
        return True


def ethernet_frames(reader: CaptureReader) -> Iterator[CaptureRecord]:
    """Only the Ethernet records of ``reader``. Others are counted in ``reader.skipped`` by
    link type (``linktype 113 (LINUX_SLL)``).

    A pcapng file may mix link types, so there the other records are just counted. A pcap
    file has exactly one link type. If that isn't Ethernet, the file can't be replayed at all,
    so this raises :class:`CaptureError` before the first record. With keep_going, every
    record is counted as skipped instead.
    """
    if reader.format == "pcap" and reader.linktypes != (LINKTYPE_ETHERNET,):
        lt = reader.linktypes[0]
        if not reader.keep_going:
            reader.close()
            raise CaptureError(
                reader.path,
                f"link type {linktype_name(lt)} is not Ethernet",
                offset=20,
                reason=Reason.NOT_ETHERNET,
            )
    skipped = reader.skipped
    for rec in reader:
        if rec.linktype == LINKTYPE_ETHERNET:
            yield rec
        else:
            skipped[linktype_reason(rec.linktype)] += 1
