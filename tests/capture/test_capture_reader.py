"""The reader on synthetic files: every error path, pcapng features the corpus lacks, and
the streaming guarantees (bounded memory, progress, file closing)."""

from __future__ import annotations

import os
import pickle
import struct
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import macvlan_sim.io.capture.reader as reader_module
import macvlan_sim.io.capture.records as records_module
from macvlan_sim.io.capture import (
    CaptureError,
    CaptureRecord,
    Reason,
    ethernet_frames,
    open_capture,
)
from macvlan_sim.io.capture.records import make_record

from . import builders as b

FRAME = b.ETH_FRAME  # 60 bytes


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def _write(content: bytes, name: str = "x.pcap") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return _write


def read(path: Path, keep_going: bool = False) -> tuple[reader_module.CaptureReader, list]:
    with open_capture(path, keep_going=keep_going) as reader:
        records = list(reader)
    return reader, records


def error_of(path: Path, keep_going: bool = False) -> CaptureError:
    with pytest.raises(CaptureError) as info:
        read(path, keep_going)
    return info.value


# --- opening ----------------------------------------------------------------------------


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing.pcap"
    assert str(error_of(path)) == f"{path}: file not found"


def test_directory(tmp_path: Path) -> None:
    assert str(error_of(tmp_path)) == f"{tmp_path}: is a directory, not a capture file"


def test_permission_denied(write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: the suite runs as root in CI, where chmod 000 would not stop the read.
    path = write(b.pcap_header())

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(records_module, "open", denied, raising=False)
    assert str(error_of(path)) == f"{path}: permission denied"


def test_empty_file(write: Callable[..., Path]) -> None:
    path = write(b"")
    assert str(error_of(path)) == f"{path}: empty file (0 bytes), not a pcap or pcapng file"


def test_tiny_file(write: Callable[..., Path]) -> None:
    path = write(b"\xd4\xc3")
    assert str(error_of(path)) == f"{path}: not a pcap or pcapng file (only 2 bytes)"


def test_bad_magic(write: Callable[..., Path]) -> None:
    path = write(b"\x7fELF" + bytes(60), "x.bin")
    assert str(error_of(path)) == f"{path}: not a pcap or pcapng file (magic 0x7f454c46)"


def test_gzip_is_named(write: Callable[..., Path]) -> None:
    path = write(b"\x1f\x8b\x08\x00" + bytes(20), "x.pcap.gz")
    assert "gzip-compressed" in str(error_of(path))


@pytest.mark.parametrize("keep_going", [False, True])
def test_pcap_header_cut_short(write: Callable[..., Path], keep_going: bool) -> None:
    path = write(b.pcap_header()[:10])
    assert str(error_of(path, keep_going)) == (
        f"{path}: file ends after 10 bytes, inside the 24-byte pcap file header (truncated file)"
    )


def test_pcap_version_checked_before_records(write: Callable[..., Path]) -> None:
    path = write(b.pcap_header(version=(3, 0)) + b.pcap_record(FRAME))
    assert str(error_of(path)) == f"{path}: unsupported pcap version 3.0"


@pytest.mark.parametrize("version", [(2, 0), (2, 3), (2, 4)])
def test_old_pcap_minor_versions_accepted(write: Callable[..., Path], version: tuple) -> None:
    _, records = read(write(b.pcap_header(version=version) + b.pcap_record(FRAME)))
    assert len(records) == 1


def test_pcap_reserved_linktype_bits(write: Callable[..., Path]) -> None:
    # libpcap's tests/linktype-reserved-field-not-zero.pcap case.
    path = write(b.pcap_header(linktype=0x00300001))
    assert str(error_of(path)) == (f"{path}: link-type field reserved bits not zero (0x00300001)")


def test_pcap_fcs_bits_are_not_the_link_type(write: Callable[..., Path]) -> None:
    # FCS-present flag + 4-byte FCS length (2 * 2) in the upper bits of the link-type field.
    path = write(b.pcap_header(linktype=0x24000001) + b.pcap_record(FRAME))
    reader, records = read(path)
    assert reader.linktypes == (1,)
    assert reader.interfaces[0].fcs_len == 4
    assert records[0].linktype == 1


# --- pcap records -------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_all_four_pcap_magics(write: Callable[..., Path], endian: str, nano: bool) -> None:
    frac = 123_456_789 if nano else 123_456
    content = b.pcap_header(endian, nano) + b.pcap_record(
        FRAME, sec=1_700_000_000, frac=frac, endian=endian
    )
    reader, records = read(write(content))
    assert reader.byte_order == ("little" if endian == "<" else "big")
    assert reader.nanosecond is nano
    expected_ns = 1_700_000_000 * 10**9 + (frac if nano else frac * 1000)
    assert records == [CaptureRecord(0, expected_ns, 1, 0, FRAME, 60)]


def records_file(n: int, bad: dict[int, bytes] | None = None) -> bytes:
    """A pcap of n good records, where record i is replaced by bad[i] if given."""
    out = [b.pcap_header()]
    for i in range(n):
        out.append((bad or {}).get(i) or b.pcap_record(FRAME, frac=i))
    return b"".join(out)


def offset_of(i: int) -> int:
    return 24 + i * (16 + len(FRAME))


def test_record_body_cut_short(write: Callable[..., Path]) -> None:
    content = records_file(3)[:-55]  # last record keeps 5 of its 60 bytes
    path = write(content)
    reader = open_capture(path)
    assert [r.index for r in (next(reader), next(reader))] == [0, 1]
    with pytest.raises(CaptureError) as info:
        next(reader)
    assert str(info.value) == (
        f"{path}: record 3 at offset {offset_of(2)}: "
        "file ends 5 bytes into the 60-byte record body (truncated file)"
    )
    reader, records = read(path, keep_going=True)
    assert len(records) == 2
    assert dict(reader.skipped) == {Reason.TRUNCATED: 1}
    assert len(reader.errors) == 1


def test_record_header_cut_short(write: Callable[..., Path]) -> None:
    path = write(records_file(2) + b"\0" * 7)
    reader, records = read(path, keep_going=True)
    assert len(records) == 2
    assert str(reader.errors[0]) == (
        f"{path}: file ends 7 bytes into a record header at offset {offset_of(2)} (truncated file)"
    )


def test_caplen_greater_than_len(write: Callable[..., Path]) -> None:
    path = write(records_file(3, {1: b.pcap_record(FRAME, orig_len=59)}))
    err = error_of(path)
    assert str(err) == f"{path}: record 2 at offset {offset_of(1)}: caplen 60 > len 59"
    assert (err.record, err.offset, err.reason) == (1, offset_of(1), Reason.CAPLEN_GT_LEN)
    reader, records = read(path, keep_going=True)
    assert [r.index for r in records] == [0, 2]
    assert dict(reader.skipped) == {Reason.CAPLEN_GT_LEN: 1}
    assert not reader.errors


def test_runt_ethernet_record(write: Callable[..., Path]) -> None:
    path = write(records_file(3, {0: b.pcap_record(FRAME[:13])}))
    assert str(error_of(path)) == (
        f"{path}: record 1 at offset 24: Ethernet frame shorter than 14 bytes (caplen 13)"
    )
    reader, records = read(path, keep_going=True)
    assert [r.index for r in records] == [1, 2]
    assert dict(reader.skipped) == {Reason.RUNT: 1}


def test_short_records_are_fine_on_other_link_types(write: Callable[..., Path]) -> None:
    content = b.pcap_header(linktype=101) + b.pcap_record(b"\x45") + b.pcap_record(b"")
    _, records = read(write(content))
    assert [r.data for r in records] == [b"\x45", b""]


def test_oversized_caplen_skipped_when_body_present(write: Callable[..., Path]) -> None:
    big = bytes(300_000)
    path = write(records_file(2) + b.pcap_record(big) + b.pcap_record(FRAME))
    assert str(error_of(path)) == (
        f"{path}: record 3 at offset {offset_of(2)}: "
        "caplen 300000 > maximum 262144 (corrupt record header?)"
    )
    reader, records = read(path, keep_going=True)
    assert [r.index for r in records] == [0, 1, 3]
    assert dict(reader.skipped) == {Reason.OVERSIZED: 1}


def test_garbage_caplen_ends_reading_without_loading_it(write: Callable[..., Path]) -> None:
    bogus = struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 0xFFFFFFF0) + FRAME
    path = write(records_file(1) + bogus)
    reader, records = read(path, keep_going=True)
    assert len(records) == 1
    # One record, one reason (issue 8): the record that runs past the end is the truncated
    # one that ends reading, not also an oversized one.
    assert reader.skipped == {Reason.TRUNCATED: 1}
    assert reader.unread_bytes == len(bogus)
    assert "file ends 60 bytes into the 4294967280-byte record body" in str(reader.errors[0])


def test_truncated_counter_and_flag(write: Callable[..., Path]) -> None:
    path = write(records_file(2, {1: b.pcap_record(FRAME[:20], orig_len=1514)}))
    reader, records = read(path)
    assert [r.truncated for r in records] == [False, True]
    assert records[1].orig_len == 1514
    assert reader.truncated == 1


# --- pcapng ---------------------------------------------------------------------------------


def ng(*blocks: bytes) -> bytes:
    return b.shb() + b"".join(blocks)


def test_pcapng_basic_and_unknown_blocks_skipped(write: Callable[..., Path]) -> None:
    content = ng(
        b.idb(name="eth0"),
        b.block(0x00000BAD, b"custom block, copyable"),
        b.epb(FRAME, ticks=1_000_001),
        b.block(4, b.end_of_options()),  # name resolution block
        b.block(0x12345678, bytes(40)),  # a type nobody has defined
        b.block(5, bytes(20)),  # interface statistics
        b.epb(FRAME, ticks=2_000_002),
    )
    reader, records = read(write(content, "x.pcapng"))
    assert [(r.index, r.timestamp_ns) for r in records] == [(0, 1_000_001_000), (1, 2_000_002_000)]
    assert reader.interfaces[0].name == "eth0"
    assert not reader.skipped


def test_pcapng_block_length_not_multiple_of_4(write: Callable[..., Path]) -> None:
    bad_off = len(b.shb() + b.idb() + b.epb(FRAME))
    bad = struct.pack("<II", 6, 30) + bytes(22)
    path = write(ng(b.idb(), b.epb(FRAME), bad, b.epb(FRAME)), "x.pcapng")
    reader = open_capture(path)
    assert next(reader).index == 0
    with pytest.raises(CaptureError) as info:
        next(reader)
    assert str(info.value) == f"{path}: block at offset {bad_off}: length 30 is not a multiple of 4"
    reader, records = read(path, keep_going=True)
    assert len(records) == 1
    assert dict(reader.skipped) == {Reason.CORRUPT: 1}


def test_pcapng_trailer_mismatch_mid_file(write: Callable[..., Path]) -> None:
    bad_off = len(b.shb() + b.idb())
    path = write(ng(b.idb(), b.block(6, bytes(80), trailer=7)), "x.pcapng")
    assert str(error_of(path)) == f"{path}: block at offset {bad_off}: trailing length 7 != 92"


def test_pcapng_block_cut_short(write: Callable[..., Path]) -> None:
    content = ng(b.idb(), b.epb(FRAME), b.epb(FRAME))[:-10]
    off = len(b.shb() + b.idb() + b.epb(FRAME))
    path = write(content, "x.pcapng")
    reader, records = read(path, keep_going=True)
    assert len(records) == 1
    assert str(reader.errors[0]) == (
        f"{path}: block at offset {off}: file ends 82 bytes into a 92-byte block (truncated file)"
    )


def test_pcapng_block_header_cut_short(write: Callable[..., Path]) -> None:
    path = write(ng(b.idb(), b.epb(FRAME)) + b"\x06\0\0", "x.pcapng")
    off = len(b.shb() + b.idb() + b.epb(FRAME))
    reader, records = read(path, keep_going=True)
    assert len(records) == 1
    assert str(reader.errors[0]) == (
        f"{path}: file ends 3 bytes into a block header at offset {off} (truncated file)"
    )


def test_pcapng_unknown_interface_id(write: Callable[..., Path]) -> None:
    off = len(b.shb() + b.idb() + b.epb(FRAME))
    path = write(ng(b.idb(), b.epb(FRAME), b.epb(FRAME, iface=3), b.epb(FRAME)), "x.pcapng")
    assert str(error_of(path)) == (
        f"{path}: record 2 at offset {off}: interface id 3 not defined "
        "(the section has 1 interface(s))"
    )
    reader, records = read(path, keep_going=True)
    assert [r.index for r in records] == [0, 2]
    assert dict(reader.skipped) == {Reason.UNKNOWN_INTERFACE: 1}


def test_pcapng_packet_before_any_interface(write: Callable[..., Path]) -> None:
    path = write(ng(b.epb(FRAME)), "x.pcapng")
    assert "interface id 0 not defined (the section has 0 interface(s))" in str(error_of(path))


def test_pcapng_caplen_beyond_block(write: Callable[..., Path]) -> None:
    path = write(ng(b.idb(), b.epb(FRAME, caplen=100, orig_len=100)), "x.pcapng")
    assert str(error_of(path)).endswith("caplen 100 exceeds the block's 60 bytes of packet data")
    reader, _ = read(path, keep_going=True)
    assert dict(reader.skipped) == {Reason.BAD_PACKET_BLOCK: 1}


def test_pcapng_record_checks(write: Callable[..., Path]) -> None:
    path = write(ng(b.idb(), b.epb(FRAME, orig_len=50), b.epb(FRAME[:8]), b.epb(FRAME)), "x.pcapng")
    reader, records = read(path, keep_going=True)
    assert [r.index for r in records] == [2]
    assert dict(reader.skipped) == {Reason.CAPLEN_GT_LEN: 1, Reason.RUNT: 1}


@pytest.mark.parametrize(
    ("tsresol", "ticks", "expected_ns"),
    [
        (None, 1_500_000, 1_500_000_000),  # default: microseconds
        (3, 1_500, 1_500_000_000),  # milliseconds
        (9, 1_500_000_123, 1_500_000_123),  # nanoseconds
        (12, 1_500_000_123_456, 1_500_000_123),  # picoseconds: floor to ns
        (0x80 | 20, 3 << 19, 1_500_000_000),  # 2**-20 s units: 1.5 s
    ],
)
def test_pcapng_if_tsresol(
    write: Callable[..., Path], tsresol: int | None, ticks: int, expected_ns: int
) -> None:
    path = write(ng(b.idb(tsresol=tsresol), b.epb(FRAME, ticks=ticks)), "x.pcapng")
    reader, records = read(path)
    assert records[0].timestamp_ns == expected_ns
    expected_tps = 10**6 if tsresol is None else b_tps(tsresol)
    assert reader.interfaces[0].ticks_per_second == expected_tps


def b_tps(tsresol: int) -> int:
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol


def test_pcapng_if_tsoffset(write: Callable[..., Path]) -> None:
    path = write(ng(b.idb(tsoffset=1_000), b.epb(FRAME, ticks=5)), "x.pcapng")
    _, records = read(path)
    assert records[0].timestamp_ns == 1_000 * 10**9 + 5_000


def test_pcapng_big_endian_and_second_section(write: Callable[..., Path]) -> None:
    content = (
        b.shb(">")
        + b.idb(endian=">", tsresol=9)
        + b.epb(FRAME, ticks=7, endian=">")
        + b.shb("<")
        + b.idb(linktype=113)
        + b.idb()
        + b.epb(FRAME, ticks=8, iface=1)
        + b.epb(b"\0" * 20, ticks=9, iface=0)
    )
    reader, records = read(write(content, "x.pcapng"))
    assert [(r.interface, r.linktype, r.timestamp_ns) for r in records] == [
        (0, 1, 7),
        (2, 1, 8_000),
        (1, 113, 9_000),
    ]
    assert [i.section for i in reader.interfaces] == [0, 1, 1]
    assert reader.byte_order == "little"


def test_pcapng_simple_and_obsolete_packet_blocks(write: Callable[..., Path]) -> None:
    content = ng(
        b.idb(snaplen=40),
        b.spb(FRAME[:40], orig_len=60),  # snaplen-cut SPB
        b.obsolete_pb(FRAME, ticks=42),
    )
    reader, records = read(write(content, "x.pcapng"))
    assert [(r.timestamp_ns, len(r.data), r.orig_len) for r in records] == [
        (0, 40, 60),
        (42_000, 60, 60),
    ]
    assert reader.truncated == 1


def test_pcapng_bad_byte_order_magic(write: Callable[..., Path]) -> None:
    content = bytearray(b.shb())
    content[8:12] = b"ABCD"
    path = write(bytes(content), "x.pcapng")
    assert str(error_of(path, keep_going=True)) == (
        f"{path}: block at offset 0: bad byte-order magic 0x41424344 in section header"
    )


def test_pcapng_section_header_cut_short(write: Callable[..., Path]) -> None:
    path = write(b.shb()[:20], "x.pcapng")
    assert str(error_of(path)) == (
        f"{path}: block at offset 0: file ends 20 bytes into a 28-byte block (truncated file)"
    )


def test_pcapng_broken_interface_block_surfaces_on_first_next(
    write: Callable[..., Path],
) -> None:
    broken_idb = b.block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 40))
    path = write(ng(broken_idb, b.epb(FRAME)), "x.pcapng")
    reader = open_capture(path)  # header fine: the problem is met while reading
    with pytest.raises(CaptureError) as info:
        next(reader)
    assert str(info.value) == f"{path}: block at offset 28: option 9 (length 40) overruns the block"
    reader, records = read(path, keep_going=True)
    assert records == []
    assert dict(reader.skipped) == {Reason.CORRUPT: 1}


def test_pcapng_bad_tsresol_length(write: Callable[..., Path]) -> None:
    bad = b.block(1, struct.pack("<HHI", 1, 0, 0) + b.option(9, b"\x06\x06"))
    path = write(ng(bad), "x.pcapng")
    assert "option 9 has length 2, expected 1" in str(error_of(path))


def test_ethernet_frames_on_mixed_pcapng(write: Callable[..., Path]) -> None:
    content = ng(b.idb(), b.idb(linktype=113), b.epb(FRAME), b.epb(FRAME, iface=1))
    with open_capture(write(content, "x.pcapng")) as reader:
        assert [r.index for r in ethernet_frames(reader)] == [0]
    assert dict(reader.skipped) == {"linktype 113 (LINUX_SLL)": 1}


# --- the reader object ------------------------------------------------------------------


def test_progress_and_closing(write: Callable[..., Path]) -> None:
    path = write(records_file(3))
    reader = open_capture(path)
    assert (reader.size, reader.bytes_read) == (path.stat().st_size, 24)
    next(reader)
    assert reader.bytes_read == offset_of(1)
    assert list(reader) != []
    assert reader.bytes_read == reader.size
    assert reader._stream.f.closed  # closed as soon as the records run out
    assert list(reader) == []


def test_close_mid_iteration(write: Callable[..., Path]) -> None:
    with open_capture(write(records_file(3))) as reader:
        next(reader)
    assert reader._stream.f.closed
    assert list(reader) == []


def test_closed_before_reading(write: Callable[..., Path]) -> None:
    reader = open_capture(write(records_file(1)))
    reader.close()
    with pytest.raises(ValueError, match="reader is closed"):
        list(reader)


def test_streaming_memory_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    frame = FRAME + bytes(1400)
    with path.open("wb") as f:
        f.write(b.pcap_header())
        record = b.pcap_record(frame)
        for _ in range(40):
            f.write(record * 500)  # ~28 MB in total
    tracemalloc.start()
    try:
        count = sum(1 for _ in open_capture(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 8 << 20, f"peak {peak} bytes while reading a {path.stat().st_size}-byte file"


def test_fast_records_are_real_capture_records() -> None:
    fast = make_record(1, 2, 1, 0, b"ab", 2)
    slow = CaptureRecord(1, 2, 1, 0, b"ab", 2)
    assert type(fast) is CaptureRecord
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(AttributeError):
        fast.index = 5  # type: ignore[misc]


def test_capture_error_is_one_line_and_pickles(write: Callable[..., Path]) -> None:
    err = error_of(write(records_file(2, {1: b.pcap_record(FRAME, orig_len=1)})))
    assert "\n" not in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert (str(clone), clone.record, clone.offset, clone.reason) == (
        str(err),
        err.record,
        err.offset,
        err.reason,
    )


def test_read_error_is_a_capture_error(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(records_file(3))
    reader = open_capture(path)

    def failing_read(n: int) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(reader._stream, "f", _FailingFile(reader._stream.f, failing_read))
    reader._stream.buf = reader._stream.buf[:30]  # force a refill
    with pytest.raises(CaptureError) as info:
        list(reader)
    assert str(info.value) == f"{path}: read error at offset 24: Input/output error"


class _FailingFile:
    def __init__(self, real: object, read: Callable[[int], bytes]) -> None:
        self._real = real
        self.read = read

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


# --- non-regular and growing files ------------------------------------------------------


def _through_fifo(tmp_path: Path, content: bytes, keep_going: bool) -> tuple:
    """Read ``content`` through a named pipe, as ``replay <(zcat x.pcap.gz)`` would."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(content,), daemon=True)
    writer.start()
    try:
        return read(fifo, keep_going)
    finally:
        writer.join(timeout=10)


def test_pipe_input(tmp_path: Path) -> None:
    big = b.pcap_record(bytes(300_000))  # skipped by reading and dropping: pipes can't seek
    content = records_file(2) + big + b.pcap_record(FRAME)
    reader, records = _through_fifo(tmp_path, content, keep_going=True)
    assert reader.size is None
    assert [r.index for r in records] == [0, 1, 3]
    assert dict(reader.skipped) == {Reason.OVERSIZED: 1}
    assert reader.bytes_read == len(content)


def test_pipe_input_pcapng_truncated(tmp_path: Path) -> None:
    content = ng(b.idb(), b.epb(FRAME), b.epb(FRAME))[:-10]
    reader, records = _through_fifo(tmp_path, content, keep_going=True)
    assert len(records) == 1
    assert "file ends 82 bytes into a 92-byte block (truncated file)" in str(reader.errors[0])


def test_file_growing_while_read(tmp_path: Path) -> None:
    """A capture still being written: blocks appended after open are read, not reported as
    truncation (so the reader must not judge blocks by the size seen at open)."""
    path = tmp_path / "live.pcapng"
    path.write_bytes(ng(b.idb(), b.epb(FRAME, ticks=1)))
    with open_capture(path) as reader:
        with path.open("ab") as f:
            f.write(b.epb(FRAME, ticks=2))
        assert [r.timestamp_ns for r in reader] == [1_000, 2_000]


def test_oversized_record_cut_short_reports_bytes_present(write: Callable[..., Path]) -> None:
    path = write(records_file(1) + b.pcap_record(bytes(300_000))[:1016])
    reader, _ = read(path, keep_going=True)
    assert str(reader.errors[0]).endswith(
        "file ends 1000 bytes into the 300000-byte record body (truncated file)"
    )
