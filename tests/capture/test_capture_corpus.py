"""The reader against every real capture in the shared corpus.

Expected numbers come from ``manifest.json`` (counted by an independent stdlib parser and
cross-checked with scapy), so nothing is hard-coded twice. Where the reader is stricter than
that parser on purpose (runt Ethernet records, corrupt headers), the tests say so.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from typing import Any

import pytest

from macvlan_sim.io.capture import (
    LINKTYPE_NAMES,
    CaptureError,
    Reason,
    ethernet_frames,
    linktype_reason,
    open_capture,
)

from .corpus import corpus_file, entry, manifest_params

# Files the strict reader refuses or stops in, each tested on its own below.
STRICT_FAILURES = {
    "libpcap__pcap-invalid-version-1.pcap",
    "libpcap__pcapng-invalid-vers-1.pcapng",
    "libpcap__shb-option-too-long.pcapng",
    "dpkt__truncated_dns_2.pcap",
    "tcpdump__pim_header_asan-2.pcap",
    "zeek__trunc-hdr.pcap",  # one 8-byte Ethernet record: a runt by our rules
}


def _clean(e: dict[str, Any]) -> bool:
    return e["file"] not in STRICT_FAILURES


def _read_all(name: str, keep_going: bool = False) -> tuple[Any, list[Any]]:
    with open_capture(corpus_file(name), keep_going=keep_going) as reader:
        records = list(reader)
    return reader, records


@pytest.mark.parametrize("e", manifest_params(_clean))
def test_clean_file_matches_manifest(e: dict[str, Any]) -> None:
    reader, records = _read_all(e["file"])
    assert reader.format == e["format"]
    assert reader.byte_order == e["byte_order"]
    assert len(records) == e["frames"]
    assert [r.index for r in records] == list(range(e["frames"]))
    assert set(reader.linktypes) == set(e["linktypes"])
    per_type = Counter(LINKTYPE_NAMES.get(r.linktype, str(r.linktype)) for r in records)
    assert dict(per_type) == e["frames_per_linktype"]
    assert reader.truncated == e["truncated_frames"]
    assert sum(r.truncated for r in records) == e["truncated_frames"]
    assert not reader.skipped
    assert not reader.errors
    assert reader.bytes_read == reader.size == e["size_bytes"]
    if records:
        assert max(len(r.data) for r in records) == e["max_caplen"]
        assert max(r.orig_len for r in records) == e["max_frame_len"]


@pytest.mark.parametrize("e", manifest_params(_clean))
def test_timestamps_and_resolution_match_manifest(e: dict[str, Any]) -> None:
    reader, records = _read_all(e["file"])
    names = {10**6: "us", 10**9: "ns"}
    resolutions = {names[i.ticks_per_second] for i in reader.interfaces}
    assert resolutions == set(e["ts_resolution"].split(","))
    if records:
        # The manifest stores float seconds: compare at the precision a double keeps.
        assert math.isclose(records[0].timestamp_ns / 1e9, e["ts_first"], rel_tol=1e-12)
        assert math.isclose(records[-1].timestamp_ns / 1e9, e["ts_last"], rel_tol=1e-12)


@pytest.mark.parametrize("e", manifest_params(lambda e: e["format"] == "pcap" and _clean(e)))
def test_pcap_header_fields(e: dict[str, Any]) -> None:
    reader, _ = _read_all(e["file"])
    assert reader.snaplen == e["snaplen"]
    assert "{}.{}".format(*reader.version) == e["version"]
    assert reader.nanosecond == (e["ts_resolution"] == "ns")
    iface = reader.interfaces[0]
    assert (iface.index, iface.linktype, iface.snaplen) == (0, e["linktypes"][0], e["snaplen"])


@pytest.mark.parametrize("e", manifest_params(lambda e: e["format"] == "pcapng" and _clean(e)))
def test_pcapng_interfaces(e: dict[str, Any]) -> None:
    """IDBs before the first packet are known right after open; later ones once read."""
    path = corpus_file(e["file"])
    with open_capture(path) as reader:
        assert len(reader.interfaces) == _idbs_before_first_packet(path.read_bytes())
        list(reader)
    assert len(reader.interfaces) == e["pcapng_interfaces"]
    assert set(reader.linktypes) == set(e["linktypes"])


def _idbs_before_first_packet(raw: bytes) -> int:
    off, count = 0, 0
    while off < len(raw):
        btype, blen = struct.unpack_from("<II", raw, off)
        if btype in (2, 3, 6):
            break
        count += btype == 1
        off += blen
    return count


@pytest.mark.parametrize("e", manifest_params(lambda e: not e["deliberately_corrupt"]))
def test_same_bytes_as_scapy(e: dict[str, Any]) -> None:
    """Data, lengths and timestamps agree with scapy's raw readers (an independent parser)."""
    from scapy import utils as scapy_utils
    reader, records = _read_all(e["file"], keep_going=True)
    with scapy_utils.RawPcapReader(str(corpus_file(e["file"]))) as scapy_reader:
        theirs = list(scapy_reader)
    ours = {r.index: r for r in records}
    assert len(theirs) == len(records) + sum(reader.skipped.values())
    for index, (data, meta) in enumerate(theirs):
        if index not in ours:
            continue
        rec = ours[index]
        if hasattr(meta, "tsresol"):
            ticks = meta.tshigh << 32 | meta.tslow
            expected_ts = ticks * 10**9 // meta.tsresol
        else:
            expected_ts = meta.sec * 10**9 + meta.usec * (1 if reader.nanosecond else 1000)
        assert (rec.data, rec.orig_len, rec.timestamp_ns) == (data, meta.wirelen, expected_ts)


# --- timestamp resolution: checked against the raw header bytes ---------------------------


def test_nanosecond_big_endian_pcap() -> None:
    path = corpus_file("pcapplusplus__nanosecs_big_endian.pcap")
    raw = path.read_bytes()
    assert raw[:4] == b"\xa1\xb2\x3c\x4d"
    sec, nsec, _, _ = struct.unpack_from(">IIII", raw, 24)
    reader, records = _read_all(path.name)
    assert reader.byte_order == "big"
    assert reader.nanosecond
    assert reader.interfaces[0].ticks_per_second == 10**9
    assert records[0].timestamp_ns == sec * 10**9 + nsec
    assert any(r.timestamp_ns % 1000 for r in records)  # sub-microsecond digits survive


def test_big_endian_microsecond_pcap() -> None:
    path = corpus_file("tcpdump__pptp.pcap")
    raw = path.read_bytes()
    sec, usec, caplen, _ = struct.unpack_from(">IIII", raw, 24)
    reader, records = _read_all(path.name)
    assert (reader.byte_order, reader.nanosecond) == ("big", False)
    assert records[0].timestamp_ns == sec * 10**9 + usec * 1000
    assert records[0].data == raw[40 : 40 + caplen]


def test_pcapng_mixed_us_and_ns_interfaces() -> None:
    """zeek__pcapng-multi-interface: interface 0 has if_tsresol=9 (ns), interface 1 the
    default (us); each EPB's ticks must be scaled by its own interface's resolution."""
    path = corpus_file("zeek__pcapng-multi-interface.pcapng")
    reader, records = _read_all(path.name)
    assert [i.ticks_per_second for i in reader.interfaces] == [10**9, 10**6]
    raw = path.read_bytes()
    for rec in records:
        ticks = _epb_ticks(raw, rec.index)
        scale = 1 if rec.interface == 0 else 1000
        assert rec.timestamp_ns == ticks * scale
    assert {r.interface for r in records} == {0, 1}
    ns_records = [r for r in records if r.interface == 0]
    assert any(r.timestamp_ns % 1000 for r in ns_records)
    # Both interfaces captured the same moment: the conversions must agree to the second.
    seconds = sorted({r.timestamp_ns // 10**9 for r in records})
    assert seconds[-1] - seconds[0] < 3600


def _epb_ticks(raw: bytes, n: int) -> int:
    """Timestamp ticks of the n-th EPB (little-endian file), by walking blocks by hand."""
    off, seen = 0, -1
    while off < len(raw):
        btype, blen = struct.unpack_from("<II", raw, off)
        if btype == 6:
            seen += 1
            if seen == n:
                _, hi, lo = struct.unpack_from("<III", raw, off + 8)
                return hi << 32 | lo
        off += blen
    raise AssertionError(f"no EPB {n}")


# --- mixed link types and the Ethernet filter ----------------------------------------------


@pytest.mark.parametrize(
    "name", ["pcapplusplus__many_interfaces-1.pcapng", "pcapplusplus__pcapng-example.pcapng"]
)
def test_ethernet_frames_counts_other_link_types(name: str) -> None:
    e = entry(name)
    with open_capture(corpus_file(name)) as reader:
        eth = list(ethernet_frames(reader))
    assert len(eth) == e["eth_frames"]
    assert all(r.linktype == 1 for r in eth)
    others = {
        linktype_reason(lt): e["frames_per_linktype"][LINKTYPE_NAMES[lt]]
        for lt in e["linktypes"]
        if lt != 1 and LINKTYPE_NAMES[lt] in e["frames_per_linktype"]
    }
    assert dict(reader.skipped) == others
    assert not reader.errors


def test_many_interfaces_packets_on_interfaces_0_and_10() -> None:
    reader, records = _read_all("pcapplusplus__many_interfaces-1.pcapng")
    assert len(reader.interfaces) == 11
    by_iface = Counter((r.interface, r.linktype) for r in records)
    assert set(by_iface) == {(0, 1), (10, 0)}
    assert reader.interfaces[10].name == "lo0"


def test_sll_records_are_yielded_by_the_plain_reader() -> None:
    _, records = _read_all("pcapplusplus__pcapng-example.pcapng")
    assert 113 in {r.linktype for r in records}


@pytest.mark.parametrize(
    "e",
    manifest_params(lambda e: e["format"] == "pcap" and e["linktypes"] != [1] and _clean(e)),
)
def test_non_ethernet_pcap(e: dict[str, Any]) -> None:
    lt = e["linktypes"][0]
    with open_capture(corpus_file(e["file"])) as reader, pytest.raises(CaptureError) as info:
        next(ethernet_frames(reader))
    assert str(info.value) == (
        f"{reader.path}: link type {lt} ({LINKTYPE_NAMES[lt]}) is not Ethernet"
    )
    with open_capture(corpus_file(e["file"]), keep_going=True) as reader:
        assert list(ethernet_frames(reader)) == []
    assert dict(reader.skipped) == {linktype_reason(lt): e["frames"]}


# --- valid but unusual --------------------------------------------------------------------


def test_empty_pcapng_has_no_records_and_no_error() -> None:
    reader, records = _read_all("tcpdump__empty.pcapng")
    assert records == []
    assert reader.linktypes == (1,)
    assert not reader.errors and not reader.skipped


def test_snaplen_truncated_records_are_yielded() -> None:
    e = entry("zeek__timestamp.pcap")
    reader, records = _read_all("zeek__timestamp.pcap")
    cut = [r for r in records if r.truncated]
    assert len(cut) == reader.truncated == e["truncated_frames"]
    assert all(len(r.data) < r.orig_len for r in cut)
    # The header claims snaplen 262144 but records were cut at 96 bytes: header snaplen is
    # not a reliable bound, which is why the reader does not check caplen against it.
    assert reader.snaplen == 262144
    assert {len(r.data) for r in cut} == {96}


def test_trunc_hdr_runt_is_an_error() -> None:
    path = corpus_file("zeek__trunc-hdr.pcap")
    with open_capture(path) as reader, pytest.raises(CaptureError) as info:
        list(reader)
    assert str(info.value) == (
        f"{path}: record 1 at offset 24: Ethernet frame shorter than 14 bytes (caplen 8)"
    )
    assert info.value.reason == Reason.RUNT
    reader, records = _read_all(path.name, keep_going=True)
    assert records == []
    assert dict(reader.skipped) == {Reason.RUNT: 1}
    assert not reader.errors


# --- the deliberately corrupt files, as MANIFEST.md says a reader should treat them --------


@pytest.mark.parametrize("keep_going", [False, True])
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("libpcap__pcap-invalid-version-1.pcap", "unsupported pcap version 1.4"),
        ("libpcap__pcapng-invalid-vers-1.pcapng", "unsupported pcapng version 0.1"),
        (
            "libpcap__shb-option-too-long.pcapng",
            "block at offset 0: trailing length 808464432 != 52",
        ),
    ],
)
def test_bad_header_fails_open_even_with_keep_going(
    name: str, problem: str, keep_going: bool
) -> None:
    path = corpus_file(name)
    with pytest.raises(CaptureError) as info:
        open_capture(path, keep_going=keep_going)
    assert str(info.value) == f"{path}: {problem}"


TRUNCATED_DNS = "file ends 7 bytes into a record header at offset 240 (truncated file)"


def test_truncated_file_gives_good_records_then_error() -> None:
    path = corpus_file("dpkt__truncated_dns_2.pcap")
    reader = open_capture(path)
    first = next(reader)
    assert (first.index, len(first.data), first.orig_len) == (0, 200, 282)
    with pytest.raises(CaptureError) as info:
        next(reader)
    assert str(info.value) == f"{path}: {TRUNCATED_DNS}"
    assert info.value.reason == Reason.TRUNCATED
    assert reader.truncated == 1


def test_truncated_file_keep_going() -> None:
    reader, records = _read_all("dpkt__truncated_dns_2.pcap", keep_going=True)
    assert len(records) == 1
    assert dict(reader.skipped) == {Reason.TRUNCATED: 1}
    assert [str(err) for err in reader.errors] == [f"{reader.path}: {TRUNCATED_DNS}"]


def test_pim_fuzz_file_strict() -> None:
    path = corpus_file("tcpdump__pim_header_asan-2.pcap")
    reader = open_capture(path)
    first = next(reader)  # len 262144 with 66 bytes captured: odd, but a valid record
    assert (len(first.data), first.orig_len) == (66, 262144)
    with pytest.raises(CaptureError) as info:
        next(reader)
    assert str(info.value) == (
        f"{path}: record 2 at offset 106: Ethernet frame shorter than 14 bytes (caplen 0)"
    )


def test_pim_fuzz_file_keep_going() -> None:
    reader, records = _read_all("tcpdump__pim_header_asan-2.pcap", keep_going=True)
    assert [r.index for r in records] == [0]
    assert dict(reader.skipped) == {Reason.RUNT: 1, Reason.CAPLEN_GT_LEN: 1}
    assert str(reader.skip_examples[Reason.CAPLEN_GT_LEN]) == (
        f"{reader.path}: record 3 at offset 122: caplen 4 > len 0"
    )
    assert not reader.errors
    assert reader.bytes_read == reader.size


def test_corrupt_files_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """Library errors are exceptions with a message, never output (the CLI decides that)."""
    for name in sorted(STRICT_FAILURES):
        for keep_going in (False, True):
            try:
                with open_capture(corpus_file(name), keep_going=keep_going) as reader:
                    list(reader)
            except CaptureError as err:
                assert "\n" not in str(err)
    assert capsys.readouterr() == ("", "")
