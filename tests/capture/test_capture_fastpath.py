"""The readers' inline fast loops must agree exactly with the fully checked slow path.

Random files mix good records with every kind of bad one, sometimes cut short, and are read
with chunk sizes small enough to split records and blocks across refills. Both paths must
give the same records, counters, errors and final offset, in strict and keep-going mode.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import macvlan_sim.io.capture.reader as reader_module
from macvlan_sim.io.capture import CaptureError, open_capture

from . import builders as b
from .corpus import corpus_file, manifest_params

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CHUNKS = st.sampled_from([16, 29, 64, 257, 4096, 1 << 20])


def outcome(path: Path, keep_going: bool, fast: bool, chunk: int) -> tuple[Any, ...]:
    saved = reader_module._CHUNK
    reader_module._CHUNK = chunk
    records, error, reader = [], None, None
    try:
        reader = open_capture(path, keep_going=keep_going)
        reader._fast_path = fast
        with reader:
            records.extend(reader)
    except CaptureError as err:
        error = str(err)
    finally:
        reader_module._CHUNK = saved
    if reader is None:
        return (error,)
    return (
        records,
        error,
        dict(reader.skipped),
        [str(e) for e in reader.errors],
        {k: str(v) for k, v in reader.skip_examples.items()},
        reader.truncated,
        reader.bytes_read,
    )


def assert_paths_agree(path: Path, chunk: int) -> None:
    for keep_going in (False, True):
        fast = outcome(path, keep_going, fast=True, chunk=chunk)
        slow = outcome(path, keep_going, fast=False, chunk=chunk)
        assert fast == slow
        big_chunk = outcome(path, keep_going, fast=True, chunk=1 << 20)
        assert fast == big_chunk


FRAME = b.ETH_FRAME


@st.composite
def pcap_record(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["good", "good", "good", "cut", "gt", "runt", "huge"]))
    data = FRAME[: draw(st.integers(14, 60))]
    if kind == "cut":
        return b.pcap_record(data, orig_len=len(data) + draw(st.integers(1, 2000)))
    if kind == "gt":
        return b.pcap_record(data, orig_len=draw(st.integers(0, len(data) - 1)))
    if kind == "runt":
        return b.pcap_record(FRAME[: draw(st.integers(0, 13))])
    if kind == "huge":
        return b.pcap_record(bytes(262_145))
    return b.pcap_record(data, frac=draw(st.integers(0, 999_999)))


@SETTINGS
@given(
    linktype=st.sampled_from([1, 101]),
    records=st.lists(pcap_record(), max_size=12),
    cut=st.integers(0, 40),
    chunk=CHUNKS,
)
def test_pcap_fast_and_slow_paths_agree(
    tmp_path: Path, linktype: int, records: list[bytes], cut: int, chunk: int
) -> None:
    content = b.pcap_header(linktype=linktype) + b"".join(records)
    path = tmp_path / "f.pcap"
    path.write_bytes(content[: max(24, len(content) - cut)])
    assert_paths_agree(path, chunk)


@st.composite
def pcapng_block(draw: st.DrawFn, n_ifaces: int) -> bytes:
    kind = draw(
        st.sampled_from(
            ["good", "good", "good", "cut", "gt", "runt", "iface", "room", "spb", "other", "frame"]
        )
    )
    data = FRAME[: draw(st.integers(14, 60))]
    iface = draw(st.integers(0, n_ifaces - 1))
    ticks = draw(st.integers(0, 2**64 - 1))
    if kind == "cut":
        return b.epb(data, ticks, iface, orig_len=len(data) + draw(st.integers(1, 2000)))
    if kind == "gt":
        return b.epb(data, ticks, iface, orig_len=draw(st.integers(0, len(data) - 1)))
    if kind == "runt":
        return b.epb(FRAME[: draw(st.integers(0, 13))], ticks, iface)
    if kind == "iface":
        return b.epb(data, ticks, n_ifaces + draw(st.integers(0, 3)))
    if kind == "room":
        return b.epb(data, ticks, iface, caplen=len(data) + 8, orig_len=2000)
    if kind == "spb":
        return b.spb(data)
    if kind == "other":
        return b.block(draw(st.sampled_from([4, 5, 0xBAD, 0x40000BAD, 99])), bytes(8))
    if kind == "frame":  # broken framing: bad trailer or length
        if draw(st.booleans()):
            return b.block(6, bytes(40), trailer=draw(st.integers(0, 100)))
        return struct.pack("<II", 6, draw(st.integers(0, 40))) + bytes(40)
    return b.epb(data, ticks, iface)


@st.composite
def pcapng_file(draw: st.DrawFn) -> bytes:
    n_ifaces = draw(st.integers(1, 3))
    idbs = [
        b.idb(
            linktype=draw(st.sampled_from([1, 113])),
            tsresol=draw(st.sampled_from([None, 9, 3, 12, 0x80 | 10])),
            tsoffset=draw(st.sampled_from([None, 0, 1_000, -5])),
        )
        for _ in range(n_ifaces)
    ]
    blocks = draw(st.lists(pcapng_block(n_ifaces), max_size=12))
    return b.shb() + b"".join(idbs) + b"".join(blocks)


@SETTINGS
@given(content=pcapng_file(), cut=st.integers(0, 40), chunk=CHUNKS)
def test_pcapng_fast_and_slow_paths_agree(
    tmp_path: Path, content: bytes, cut: int, chunk: int
) -> None:
    path = tmp_path / "f.pcapng"
    path.write_bytes(content[: max(28, len(content) - cut)])
    assert_paths_agree(path, chunk)


@pytest.mark.parametrize("e", manifest_params())
def test_corpus_fast_and_slow_paths_agree(e: dict[str, Any]) -> None:
    assert_paths_agree(corpus_file(e["file"]), chunk=61)
