"""Streaming pcap writer, one per observation point of a replay.

pcap and not pcapng: every tool reads it, a per-observation-point file has one link type anyway,
and its fixed 16-byte record header makes writing a single ``struct.pack`` plus two buffered
``write`` calls per record. No scapy here: ``PcapWriter`` builds a ``Packet`` per record, while
a replay only has bytes to write.
"""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO, Final

from .records import (
    LINKTYPE_ETHERNET,
    MAX_CAPLEN,
    CaptureError,
    CaptureRecord,
    linktype_name,
    open_file,
)

__all__ = ["CaptureWriter", "point_filename"]

_NS_PER_S: Final = 1_000_000_000
_BUFFER: Final = 1 << 20
_MAGIC_US: Final = 0xA1B2C3D4
_MAGIC_NS: Final = 0xA1B23C4D
_FILE_HEADER: Final = struct.Struct("<IHHiIII")
_RECORD_HEADER: Final = struct.Struct("<IIII")
_U32_LIMIT: Final = 1 << 32


def _open_for_write(path: str | os.PathLike[str]) -> BinaryIO:
    return open_file(path, "wb", buffering=_BUFFER)


class CaptureWriter:
    """Write records to a little-endian pcap file (version 2.4).

    ``nanosecond=True`` writes the nanosecond-resolution magic (0xa1b23c4d) so replayed
    timestamps survive exactly. With ``False``, timestamps are truncated to microseconds, as a
    microsecond capture would have recorded them. Records are buffered (1 MiB), so the file is
    complete only after ``close()`` or the end of the ``with`` block.

    Bad arguments (data longer than ``snaplen``, ``orig_len`` < ``len(data)``) raise
    ``ValueError`` and write nothing. A failure of the file itself (cannot create, disk full)
    raises :class:`CaptureError` naming the file.

    A timestamp outside pcap's unsigned 32-bit seconds (before 1970, or from 2106 on — a
    pcapng ``if_tsoffset``, a coarse ``if_tsresol`` or a corrupt record can make one) is
    decided per record by ``timestamps``: ``"error"`` raises ``ValueError`` and writes
    nothing; ``"clamp"`` writes the record with the nearest time pcap can hold (0 s, or
    2**32 - 1 s and the largest fraction) and counts it in ``clamped``. Replay clamps: the
    frame is kept, in order, and the report says how many times were clamped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        linktype: int = LINKTYPE_ETHERNET,
        nanosecond: bool = True,
        *,
        snaplen: int = MAX_CAPLEN,
        timestamps: str = "error",
    ) -> None:
        if timestamps not in ("error", "clamp"):
            raise ValueError(f"timestamps must be 'error' or 'clamp', not {timestamps!r}")
        if not 0 <= linktype <= 0xFFFF:
            raise ValueError(f"link type {linktype} does not fit pcap's 16-bit field")
        if not 0 < snaplen < _U32_LIMIT:
            raise ValueError(f"snaplen {snaplen} out of range")
        self.path = os.fspath(path)
        self.linktype = linktype
        self.nanosecond = nanosecond
        self.snaplen = snaplen
        self.count = 0
        self.clamped = 0
        self._clamp = timestamps == "clamp"
        self._frac_div = 1 if nanosecond else 1000
        self._pack = _RECORD_HEADER.pack
        self._f: BinaryIO | None = _open_for_write(path)
        self._raw_write = self._f.write
        magic = _MAGIC_NS if nanosecond else _MAGIC_US
        self._guarded(self._raw_write, _FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, timestamp_ns: int, data: bytes, orig_len: int | None = None) -> None:
        """Append one record; ``orig_len`` defaults to ``len(data)`` (not truncated).

        Kept lean on purpose (one pack, two buffered writes): the argument checks cost two
        comparisons, and all diagnosis happens in :meth:`_refuse` once something fails.
        """
        caplen = len(data)
        if orig_len is None:
            orig_len = caplen
        if caplen > self.snaplen or orig_len < caplen:
            raise ValueError(self._argument_problem(caplen, orig_len))
        sec, frac = divmod(timestamp_ns, _NS_PER_S)
        try:
            header = self._pack(sec, frac // self._frac_div, caplen, orig_len)
        except struct.error as exc:
            if not (self._clamp and 0 <= orig_len < _U32_LIMIT):
                raise self._refuse(exc, timestamp_ns, orig_len) from None
            header = self._pack(*self._clamped_time(sec), caplen, orig_len)
            self.clamped += 1
        try:
            self._raw_write(header)
            self._raw_write(data)
        except (OSError, ValueError) as exc:
            raise self._refuse(exc, timestamp_ns, orig_len) from None
        self.count += 1

    def _clamped_time(self, sec: int) -> tuple[int, int]:
        """The nearest (seconds, fraction) pcap can hold to a time before 1970 or after 2106."""
        if sec < 0:
            return 0, 0
        return _U32_LIMIT - 1, (_NS_PER_S - 1) // self._frac_div

    def write_record(self, record: CaptureRecord) -> None:
        """Copy a record from a reader, refusing one of another link type (a replay bug)."""
        if record.linktype != self.linktype:
            raise ValueError(
                f"record {record.index + 1} has link type {linktype_name(record.linktype)}, "
                f"file {self.path} is {linktype_name(self.linktype)}"
            )
        self.write(record.timestamp_ns, record.data, record.orig_len)

    def flush(self) -> None:
        """Push buffered records to the OS (e.g. before another process reads the file)."""
        if self._f is not None:
            self._guarded(self._f.flush)

    def close(self) -> None:
        """Flush and close (idempotent)."""
        f, self._f = self._f, None
        if f is not None:
            self._guarded(f.close)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CaptureWriter {self.path!r} linktype={self.linktype} count={self.count}>"

    def _guarded(self, fn: object, *args: object) -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> CaptureError:
        return CaptureError(self.path, f"write failed: {exc.strerror or exc}")

    def _argument_problem(self, caplen: int, orig_len: int) -> str:
        if caplen > self.snaplen:
            return f"{caplen} bytes of data exceed snaplen {self.snaplen}"
        return f"orig_len {orig_len} < captured length {caplen}"

    def _refuse(self, exc: Exception, timestamp_ns: int, orig_len: int) -> Exception:
        """Turn a failure inside :meth:`write` into the error the caller should see."""
        if isinstance(exc, OSError):
            return self._error(exc)
        if isinstance(exc, struct.error):
            if not 0 <= timestamp_ns < _U32_LIMIT * _NS_PER_S:
                return ValueError(
                    f"timestamp {timestamp_ns} ns is outside pcap's range (0 to 2**32 s)"
                )
            return ValueError(f"orig_len {orig_len} does not fit pcap's 32-bit field")
        if self._f is None:
            return ValueError(f"{self.path}: writer is closed")
        return exc


def point_filename(point: str) -> str:
    """The file of one observation point (replay's ``--out``, live's ``--pcap-dir``):
    ``lower:stack`` → ``lower-stack.pcap``; anything odd in a name becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._@-]", "_", point.replace(":", "-")) + ".pcap"
