"""CaptureWriter: round trips through the reader, exact bytes, and its error behaviour."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macvlan_sim.io.capture import CaptureError, CaptureRecord, CaptureWriter, open_capture

from .corpus import corpus_file

MAX_TS_NS = (1 << 32) * 10**9 - 1


@st.composite
def records(draw: st.DrawFn, min_size: int) -> tuple[int, bytes, int]:
    data = draw(st.binary(min_size=min_size, max_size=1600))
    extra = draw(st.one_of(st.just(0), st.integers(0, 70_000)))
    ts = draw(st.one_of(st.integers(0, MAX_TS_NS), st.sampled_from([0, MAX_TS_NS])))
    return ts, data, len(data) + extra


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.lists(records(min_size=14), max_size=30))
def test_round_trip_ethernet_nanosecond(tmp_path: Path, recs: list) -> None:
    path = tmp_path / "rt.pcap"
    with CaptureWriter(path) as w:
        for ts, data, orig_len in recs:
            w.write(ts, data, orig_len)
    assert w.count == len(recs)
    with open_capture(path) as reader:
        back = list(reader)
    expected = [CaptureRecord(i, ts, 1, 0, d, o) for i, (ts, d, o) in enumerate(recs)]
    assert back == expected
    assert reader.nanosecond and reader.linktypes == (1,)


@SETTINGS
@given(st.lists(records(min_size=0), max_size=30))
def test_round_trip_microsecond_other_linktype(tmp_path: Path, recs: list) -> None:
    path = tmp_path / "rt.pcap"
    with CaptureWriter(path, linktype=101, nanosecond=False) as w:
        for ts, data, orig_len in recs:
            w.write(ts, data, orig_len)
    back = list(open_capture(path))
    # A microsecond file keeps what a microsecond capture would: the time floored to 1 µs.
    expected = [
        CaptureRecord(i, ts // 1000 * 1000, 101, 0, d, o) for i, (ts, d, o) in enumerate(recs)
    ]
    assert back == expected


def test_corpus_file_round_trips_byte_for_byte(tmp_path: Path) -> None:
    source = corpus_file("pcapplusplus__example2.pcap")
    out = tmp_path / "copy.pcap"
    with (
        open_capture(source) as reader,
        CaptureWriter(out, nanosecond=False, snaplen=reader.snaplen) as w,
    ):
        for rec in reader:
            w.write_record(rec)
    assert out.read_bytes() == source.read_bytes()


def test_header_and_default_orig_len(tmp_path: Path) -> None:
    path = tmp_path / "h.pcap"
    with CaptureWriter(path) as w:
        w.write(1_500_000_000_123, b"\xaa" * 20)
    raw = path.read_bytes()
    assert struct.unpack("<IHHiIII", raw[:24]) == (0xA1B23C4D, 2, 4, 0, 0, 262144, 1)
    assert struct.unpack("<IIII", raw[24:40]) == (1500, 123, 20, 20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, b"x" * 20), "timestamp -1 ns is outside pcap's range"),
        ((MAX_TS_NS + 1, b"x" * 20), "is outside pcap's range"),
        ((0, b"x" * 20, 19), "orig_len 19 < captured length 20"),
        ((0, b"x" * 20, 1 << 32), "orig_len 4294967296 does not fit"),
        ((0, bytes(262145)), "262145 bytes of data exceed snaplen 262144"),
    ],
)
def test_bad_arguments_raise_value_error_and_write_nothing(
    tmp_path: Path, args: tuple, message: str
) -> None:
    path = tmp_path / "bad.pcap"
    with CaptureWriter(path) as w:
        with pytest.raises(ValueError, match=message):
            w.write(*args)
        w.write(5, b"y" * 20)
    assert [r.timestamp_ns for r in open_capture(path)] == [5]


def test_write_record_refuses_other_link_type(tmp_path: Path) -> None:
    with CaptureWriter(tmp_path / "x.pcap") as w, pytest.raises(ValueError, match="LINUX_SLL"):
        w.write_record(CaptureRecord(0, 0, 113, 0, b"x" * 20, 20))


def test_write_after_close(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path / "x.pcap")
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError, match="writer is closed"):
        w.write(0, b"x" * 20)


def test_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "x.pcap"
    with pytest.raises(CaptureError) as info:
        CaptureWriter(path)
    assert str(info.value) == f"{path}: cannot create: directory not found"


def test_disk_full_is_a_capture_error() -> None:
    w = CaptureWriter("/dev/full")  # the OS accepts the open, then every write fails
    message = r"^/dev/full: write failed: No space left on device$"
    with pytest.raises(CaptureError, match=message):
        for _ in range(2000):  # enough to overflow the 1 MiB buffer
            w.write(0, bytes(1500))
    with pytest.raises(CaptureError, match=message):
        w.close()  # the buffered rest cannot be written either, but the file gets closed
    w.close()


@pytest.mark.parametrize("value", [-1, 0x10000])
def test_bad_linktype(tmp_path: Path, value: int) -> None:
    with pytest.raises(ValueError, match="16-bit"):
        CaptureWriter(tmp_path / "x.pcap", linktype=value)
