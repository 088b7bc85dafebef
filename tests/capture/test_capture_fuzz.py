"""Fuzzing the capture reader and writer (issue 8): hypothesis properties.

- Structured captures with every kind of bad record: the accounting invariant holds exactly —
  records in the file = fed + skipped, per reason — with and without the reader's fast loops.
- Mutated, truncated and garbage captures never crash: one ``CaptureError`` line (without
  ``--keep-going``) or complete accounting (with it), and a full replay with pcap outputs whose
  files hold exactly the frames the statistics count.
- The writer round-trips any record, clamping timestamps classic pcap cannot hold.

CI runs a short budget; ``make fuzz`` (``MACVLAN_SIM_FUZZ_EXAMPLES``) a long one. Inputs that
once broke something are kept in ``tests/data/fuzz/`` and replayed by ``test_fuzz_regressions``.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from macvlan_sim import Engine
from macvlan_sim.cli.main import default_topology_text
from macvlan_sim.cli.replay import Replayer
from macvlan_sim.io.capture import (
    MAX_CAPLEN,
    CaptureError,
    CaptureWriter,
    Reason,
    ethernet_frames,
    linktype_reason,
    open_capture,
    point_filename,
)
from macvlan_sim.io.topology import parse_topology
from tests.fuzz_budget import fuzz_settings

from . import builders as b

pytestmark = pytest.mark.fuzz

NS = 1_000_000_000
TOPOLOGY = parse_topology(default_topology_text(), "<default>")


@dataclass
class Capture:
    """A generated capture and what an independent reading of the format says it holds."""

    content: bytes
    fed: list[bytes] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    truncated: int = 0

    @property
    def records(self) -> int:
        return len(self.fed) + sum(self.skipped.values())


def _judge(cap: Capture, data: bytes, caplen: int, orig: int, ethernet: bool = True) -> None:
    """libpcap's order of record checks, written from the format, not from our reader."""
    if caplen > MAX_CAPLEN:
        cap.skipped[Reason.OVERSIZED] += 1
    elif caplen > orig:
        cap.skipped[Reason.CAPLEN_GT_LEN] += 1
    elif ethernet and caplen < 14:
        cap.skipped[Reason.RUNT] += 1
    else:
        cap.fed.append(data)
        cap.truncated += caplen < orig


def _frame(draw: st.DrawFn, n: int) -> bytes:
    head = draw(st.binary(min_size=min(n, 14), max_size=min(n, 14)))
    return head + bytes(n - len(head))


# A record: (captured bytes, extra original length beyond them, caplen override)
_sizes = st.one_of(st.integers(14, 120), st.integers(0, 13), st.just(MAX_CAPLEN + 1))


@st.composite
def pcap_captures(draw: st.DrawFn) -> Capture:
    endian = draw(st.sampled_from("<>"))
    nano = draw(st.booleans())
    cap = Capture(b.pcap_header(endian, nano, snaplen=draw(st.sampled_from([65535, 96]))))
    for _ in range(draw(st.integers(0, 8))):
        caplen = draw(_sizes)
        orig = caplen + draw(st.sampled_from([0, 0, 1, 5000])) - draw(st.sampled_from([0, 0, 3]))
        orig = max(orig, 0)
        data = _frame(draw, caplen) if caplen <= MAX_CAPLEN else b""
        sec = draw(st.integers(0, 2**32 - 1))
        frac = draw(st.integers(0, 2**32 - 1))
        if caplen > MAX_CAPLEN:  # oversize with its whole body present: skipped, reading goes on
            data = bytes(caplen)
        record = struct.pack(endian + "IIII", sec, frac, caplen, orig) + data
        cap.content += record
        _judge(cap, data, caplen, orig)
    tail = draw(st.sampled_from([None, "header", "body", "oversize"]))
    if tail == "header":
        cap.content += bytes(draw(st.integers(1, 15)))
    elif tail in ("body", "oversize"):
        caplen = 60 if tail == "body" else MAX_CAPLEN + draw(st.integers(1, 10**6))
        cap.content += struct.pack(endian + "IIII", 0, 0, caplen, caplen)
        cap.content += bytes(draw(st.integers(0, 59)))
    if tail:
        cap.skipped[Reason.TRUNCATED] += 1
    return cap


@st.composite
def pcapng_captures(draw: st.DrawFn) -> Capture:
    e = draw(st.sampled_from("<>"))
    cap = Capture(b.shb(e))
    links = [1, *draw(st.lists(st.sampled_from([1, 113]), max_size=2))]
    for lt in links:
        tsresol = draw(st.sampled_from([None, 0, 9, 0x80 | 20]))
        tsoffset = draw(st.sampled_from([None, 0, -(1 << 40), 1 << 40]))
        cap.content += b.idb(lt, endian=e, tsresol=tsresol, tsoffset=tsoffset)
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["epb", "epb", "spb", "short", "unknown_if", "other"]))
        if kind == "other":  # a block the reader must step over (NRB, ISB, custom, unknown)
            btype = draw(st.sampled_from([4, 5, 0xBAD, 0x40000BAD]))
            cap.content += b.block(btype, draw(st.binary(max_size=12)), e)
            continue
        if kind == "short":
            cap.content += b.block(6, bytes(draw(st.integers(0, 4)) * 4), e)
            cap.skipped[Reason.BAD_PACKET_BLOCK] += 1
            continue
        if kind == "unknown_if":
            cap.content += b.epb(b.ETH_FRAME, iface=len(links) + draw(st.integers(0, 9)), endian=e)
            cap.skipped[Reason.UNKNOWN_INTERFACE] += 1
            continue
        caplen = draw(st.integers(0, 120))
        data = _frame(draw, caplen)
        if kind == "spb":
            orig = caplen + draw(st.sampled_from([0, 0, 9000]))
            cap.content += b.spb(data, orig_len=orig, endian=e)
            # No caplen field: the captured bytes are the block's data, padding included,
            # up to the original length.
            kept = b.pad4(data)[:orig]
            _judge(cap, kept, len(kept), orig)
            continue
        iface = draw(st.integers(0, len(links) - 1))
        orig = max(caplen + draw(st.sampled_from([0, 0, 1, 9000, -2])), 0)
        ticks = draw(st.integers(0, 2**64 - 1))
        cap.content += b.epb(data, ticks=ticks, iface=iface, orig_len=orig, endian=e)
        if links[iface] == 1:
            _judge(cap, data, caplen, orig)
        elif caplen > orig:
            cap.skipped[Reason.CAPLEN_GT_LEN] += 1
        else:
            cap.skipped[linktype_reason(links[iface])] += 1  # not fed: not in `truncated`
    tail = draw(st.sampled_from([None, "cut", "trailer"]))
    if tail == "cut":
        whole = b.epb(b.ETH_FRAME, endian=e)
        cap.content += whole[: draw(st.integers(1, len(whole) - 1))]
        cap.skipped[Reason.TRUNCATED] += 1
    elif tail == "trailer":
        cap.content += b.block(6, bytes(40), e, trailer=999) + b.epb(b.ETH_FRAME, endian=e)
        cap.skipped[Reason.CORRUPT] += 1
    return cap


captures = st.one_of(pcap_captures(), pcapng_captures())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _replay(path: Path, out: Path | None = None, *, fast: bool = True):
    """Replay with --keep-going semantics; writers (clamping) into ``out`` if given."""
    writers = (lambda p: CaptureWriter(p, timestamps="clamp")) if out else None
    replayer = Replayer(Engine(TOPOLOGY.host, keep_paths=False), writers, out)
    with open_capture(path, keep_going=True) as reader:
        reader._fast_path = fast
        fed = []
        for record in ethernet_frames(reader):
            fed.append(record)
            replayer.feed_one(record)
        stats = replayer.finish(reader)
    return stats, fed


# ---------------------------------------------------------------- the accounting invariant
@fuzz_settings(300)
@given(cap=captures, fast=st.booleans())
def test_records_in_the_file_are_fed_plus_skipped_per_reason(scratch, cap, fast) -> None:
    path = scratch / "structured"
    path.write_bytes(cap.content)
    stats, fed = _replay(path, fast=fast)
    assert stats.skipped_by_reason == cap.skipped
    assert [r.data for r in fed] == cap.fed
    assert stats.frames_fed == len(cap.fed) and stats.truncated == cap.truncated
    assert stats.records_read == stats.accounted == cap.records
    assert (stats.stopped is not None) == bool(
        cap.skipped[Reason.TRUNCATED] or cap.skipped[Reason.CORRUPT]
    )


# ---------------------------------------------------------------- mutated captures
@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(captures).content)
    for _ in range(draw(st.integers(0, 6))):
        if not content:
            break
        pos = draw(st.integers(0, len(content) - 1))
        how = draw(st.sampled_from(["set", "flip", "insert", "delete", "word"]))
        if how == "set":
            content[pos] = draw(st.integers(0, 255))
        elif how == "flip":
            content[pos] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            content[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete":
            del content[pos : pos + draw(st.integers(1, 8))]
        else:  # a length or timestamp field set to an extreme
            word = draw(st.sampled_from([0, 1, 13, 14, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            content[pos : pos + 4] = word.to_bytes(4, "little")
    if draw(st.booleans()) and content:
        del content[draw(st.integers(0, len(content))) :]
    return bytes(content)


garbage = st.one_of(mutated(), st.binary(max_size=64))


@fuzz_settings(300)
@given(content=garbage)
@example(content=b"")
@example(content=b"\xd4\xc3\xb2\xa1")
@example(content=b"\n\r\r\n" + bytes(8))
def test_mutated_captures_never_crash(scratch, content) -> None:
    path = scratch / "mutated"
    path.write_bytes(content)
    strict: list[bytes] = []
    try:
        with open_capture(path) as reader:
            for record in ethernet_frames(reader):
                strict.append(record.data)
    except CaptureError as err:
        line = str(err)
        assert "\n" not in line and line.startswith(f"{path}: ")
        assert err.reason in vars(Reason).values() or err.reason.startswith("linktype")
    else:
        # Strict reading skips nothing but another link type's records of a pcapng.
        assert not reader.errors and all(k.startswith("linktype") for k in reader.skipped)
    out = scratch / "mutated-out"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    try:
        stats, fed = _replay(path, out)
    except CaptureError as err:  # keep-going still refuses a file it cannot open
        assert "\n" not in str(err) and not strict
        return
    # Keep-going yields what strict reading yielded before its error, then maybe more.
    assert [r.data for r in fed[: len(strict)]] == strict
    indices = [r.index for r in fed]
    assert indices == sorted(set(indices))
    assert stats.records_read == stats.accounted == len(fed) + sum(stats.skipped.values())
    assert len(indices) == 0 or indices[-1] < stats.records_read
    for r in fed:
        assert 14 <= len(r.data) <= min(r.orig_len, MAX_CAPLEN)
    # Every output pcap holds exactly the frames the statistics count at its point.
    for point, ps in stats.points.items():
        with open_capture(out / point_filename(point)) as written:
            assert sum(1 for _ in written) == ps.frames


# ---------------------------------------------------------------- the writer
_times = st.one_of(
    st.integers(0, (1 << 32) * NS - 1),
    st.integers(-(1 << 70), -1),
    st.integers((1 << 32) * NS, 1 << 70),
)


@fuzz_settings(200)
@given(
    records=st.lists(
        st.tuples(_times, st.binary(max_size=80), st.integers(0, 10_000)), max_size=12
    ),
    nano=st.booleans(),
)
def test_writer_round_trips_and_clamps(scratch, records, nano) -> None:
    path = scratch / "written.pcap"
    div = 1 if nano else 1000
    with CaptureWriter(path, nanosecond=nano, timestamps="clamp") as writer:
        for ts, data, extra in records:
            writer.write(ts, data, len(data) + extra)
    top = ((1 << 32) - 1) * NS + (NS - 1) // div * div
    expected = [
        (0 if ts < 0 else top if ts >= (1 << 32) * NS else ts // div * div, data, len(data) + x)
        for ts, data, x in records
    ]
    assert writer.clamped == sum(not 0 <= ts < (1 << 32) * NS for ts, _, _ in records)
    with open_capture(path, keep_going=True) as reader:
        got = [(r.timestamp_ns, r.data, r.orig_len) for r in reader]
    # The reader skips runts of an Ethernet file; the writer wrote them all.
    assert got == [e for e in expected if len(e[1]) >= 14]
    assert reader.skipped[Reason.RUNT] == sum(len(e[1]) < 14 for e in expected)
    strict = scratch / "strict.pcap"
    with CaptureWriter(strict, nanosecond=nano) as w:
        for ts, data, _ in records:
            if 0 <= ts < (1 << 32) * NS:
                w.write(ts, data)
            else:
                with pytest.raises(ValueError, match="outside pcap's range"):
                    w.write(ts, data)
    assert w.count == sum(0 <= ts < (1 << 32) * NS for ts, _, _ in records)


# ---------------------------------------------------------------- kept crashers
FUZZ_DATA = Path(__file__).resolve().parents[1] / "data" / "fuzz"


@pytest.mark.parametrize("name", sorted(p.name for p in FUZZ_DATA.glob("*.pcap*")))
def test_fuzz_regressions(capsys, tmp_path, name) -> None:
    """Every capture that once crashed something: replays with --keep-going and --out, the
    JSON passing its schema and every record accounted for."""
    from tests.replay.helpers import replay_json

    doc = replay_json(capsys, str(FUZZ_DATA / name), "--keep-going", "--out", str(tmp_path))
    assert doc["input"]["records_read"] == doc["input"]["accounted"]
