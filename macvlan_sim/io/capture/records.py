"""What the capture layer hands out: records, interface descriptions and one error type.

Everything the replay command needs to know about a capture file goes through these types, so
the engine never depends on which container format (pcap or pcapng) a frame came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
ETHERNET_HEADER_LEN = 14

# Largest caplen accepted. libpcap uses the same figure (MAXIMUM_SNAPLEN) for Ethernet; a
# bigger caplen almost always means the record header is garbage, not that the frame is big.
MAX_CAPLEN = 262144

# A small table of link-type names for messages and skip reasons (from the tcpdump.org
# LINKTYPE_ list). Unknown numbers are shown as bare numbers; nothing depends on this table.
LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL",
    1: "ETHERNET",
    6: "IEEE802_5",
    8: "SLIP",
    9: "PPP",
    10: "FDDI",
    12: "RAW",  # DLT_RAW as written by some tools; LINKTYPE_RAW proper is 101
    50: "PPP_HDLC",
    51: "PPP_ETHER",
    101: "RAW",
    104: "C_HDLC",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    119: "IEEE802_11_PRISM",
    127: "IEEE802_11_RADIOTAP",
    143: "DOCSIS",
    163: "IEEE802_11_AVS",
    192: "PPI",
    195: "IEEE802_15_4_WITHFCS",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    228: "IPV4",
    229: "IPV6",
    252: "WIRESHARK_UPPER_PDU",
    253: "NETLINK",
    274: "NFLOG",
    276: "LINUX_SLL2",
}


def linktype_name(linktype: int) -> str:
    """``"105 (IEEE802_11)"``: number first, because the number is what specs and tools use."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


class Reason:
    """Keys of ``CaptureReader.skipped``.

    Plain strings (not an enum) so a ``Counter`` prints readably and callers can compare with
    literals. Link-type skips use :func:`linktype_reason` instead, one key per link type.
    """

    CAPLEN_GT_LEN = "caplen > len"
    OVERSIZED = f"caplen > {MAX_CAPLEN}"
    RUNT = "runt Ethernet frame (< 14 bytes)"
    UNKNOWN_INTERFACE = "unknown interface id"
    BAD_PACKET_BLOCK = "malformed packet block"
    # The two below end reading: the format gives no way to find the next record.
    TRUNCATED = "truncated file"
    CORRUPT = "corrupt file structure"
    READ_ERROR = "read error"
    NOT_ETHERNET = "not Ethernet"


def linktype_reason(linktype: int) -> str:
    """Skip-reason key for non-Ethernet records: ``linktype 113 (LINUX_SLL)``."""
    return f"linktype {linktype_name(linktype)}"


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One captured frame.

    ``index`` is the 0-based position of the record among *all* packet records of the file,
    skipped ones included, so it stays the same whichever records a reader drops (frame
    number in Wireshark = index + 1). ``data`` is what was captured; ``orig_len`` is the length
    on the wire, larger than ``len(data)`` for snaplen-truncated records.
    """

    index: int
    timestamp_ns: int
    linktype: int
    interface: int
    data: bytes
    orig_len: int

    @property
    def truncated(self) -> bool:
        """True when the capture kept fewer bytes than were on the wire (snaplen)."""
        return len(self.data) < self.orig_len


class _RecordBuilder:
    """Layout twin of :class:`CaptureRecord`, used by the reader to build records quickly.

    A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``. That
    was about 0.6 µs per record, half of the reader's time. This class has the same slots, so
    after six plain stores its ``__class__`` can be switched to ``CaptureRecord``. The result
    is a genuine, frozen ``CaptureRecord`` (equality, hash, repr and pickling are the
    dataclass's), built in a third of the time. ``tests/capture`` checks this equivalence.
    """

    __slots__ = CaptureRecord.__slots__

    def __init__(
        self,
        index: int,
        timestamp_ns: int,
        linktype: int,
        interface: int,
        data: bytes,
        orig_len: int,
    ) -> None:
        self.index = index
        self.timestamp_ns = timestamp_ns
        self.linktype = linktype
        self.interface = interface
        self.data = data
        self.orig_len = orig_len


def make_record(
    index: int, timestamp_ns: int, linktype: int, interface: int, data: bytes, orig_len: int
) -> CaptureRecord:
    """Same as ``CaptureRecord(...)``, about three times faster (see :class:`_RecordBuilder`)."""
    rec = _RecordBuilder(index, timestamp_ns, linktype, interface, data, orig_len)
    rec.__class__ = CaptureRecord  # type: ignore[assignment]
    return rec  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """A capture interface: the single implicit one of a pcap file, or a pcapng IDB.

    ``index`` is the position in ``CaptureReader.interfaces`` (equal to the pcapng interface
    id for single-section files). ``ticks_per_second`` is the timestamp resolution before
    conversion to nanoseconds (10**6, 10**9, or 2**n for binary pcapng resolutions).
    """

    index: int
    linktype: int
    snaplen: int
    ticks_per_second: int
    name: str | None = None
    section: int = 0
    fcs_len: int | None = None


class CaptureError(Exception):
    """Anything wrong with a capture file, reported as one line that names the file.

    The CLI prints ``str(e)`` and nothing else, so the message must be complete on its own:
    ``trace.pcap: record 3 at offset 122: caplen 4 > len 0``. Record numbers in messages are
    1-based like Wireshark frame numbers (``record`` attribute = 0-based ``index``).

    Attributes: ``path``; ``problem`` (the text after the location); ``offset`` (byte offset of
    the file header, record or block, or None); ``record`` (0-based record index or None);
    ``reason`` (a :class:`Reason` key, used to count the problem when reading keeps going).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        problem: str,
        *,
        offset: int | None = None,
        record: int | None = None,
        reason: str = Reason.CORRUPT,
    ) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        self.offset = offset
        self.record = record
        self.reason = reason
        super().__init__(self._line())

    def _line(self) -> str:
        # Block- and file-level problems carry their offset in ``problem`` already; only a
        # record gets the ``record N at offset X`` prefix.
        if self.record is None:
            return f"{self.path}: {self.problem}"
        where = f"record {self.record + 1}"
        if self.offset is not None:
            where += f" at offset {self.offset}"
        return f"{self.path}: {where}: {self.problem}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default Exception pickling (multiprocessing).
        return (_rebuild_error, (self.path, self.problem, self.offset, self.record, self.reason))


def _rebuild_error(
    path: str, problem: str, offset: int | None, record: int | None, reason: str
) -> CaptureError:
    return CaptureError(path, problem, offset=offset, record=record, reason=reason)


def open_file(path: str | os.PathLike[str], mode: str, buffering: int = -1) -> BinaryIO:
    """``open()`` for a capture (``"rb"``) or an output (``"wb"``), with the OS error turned
    into a one-line :class:`CaptureError` that says what could not be done."""
    writing = "w" in mode
    prefix = "cannot create: " if writing else ""
    try:
        return open(path, mode, buffering=buffering)
    except FileNotFoundError:
        what = "directory not found" if writing else "file not found"
        raise CaptureError(path, prefix + what) from None
    except PermissionError:
        raise CaptureError(path, prefix + "permission denied") from None
    except IsADirectoryError:
        what = "is a directory" if writing else "is a directory, not a capture file"
        raise CaptureError(path, prefix + what) from None
    except OSError as exc:
        verb = "cannot create" if writing else "cannot open"
        raise CaptureError(path, f"{verb}: {exc.strerror or exc}") from None
