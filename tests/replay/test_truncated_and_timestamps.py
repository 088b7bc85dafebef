"""Issue 8 items 1, 2, 4, 12: timestamps pcap cannot hold, accounting of a broken tail, the
progress bar on a pipe, and snaplen-truncated records judged by their original length."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from rich.console import Console

from macvlan_sim import Engine
from macvlan_sim.cli.main import _feed_with_progress, default_topology_text
from macvlan_sim.cli.replay import Replayer
from macvlan_sim.io.capture import CaptureWriter, ethernet_frames, open_capture
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.model.errors import SimError
from tests.capture.builders import epb, idb, pcap_header, pcap_record, shb

from .helpers import frame, replay_json

OTHER = bytes.fromhex("020000009999")  # no device has this address
U32 = 1 << 32
NS = 1_000_000_000


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _read_back(path: Path) -> list[tuple[int, int, int]]:
    with open_capture(path) as reader:
        return [(r.timestamp_ns, len(r.data), r.orig_len) for r in reader]


# ---------------------------------------------------------------- item 1: timestamps
HOSTILE_TIMES = {
    # pcap, microseconds: sec 0xffffffff + a fraction of a whole second = 2**32 s exactly
    "pcap-usec-overflow": pcap_header() + pcap_record(frame(), sec=0xFFFFFFFF, frac=1_000_000),
    "epb-huge": shb() + idb() + epb(frame(), ticks=(1 << 64) - 1),
    "tsoffset-negative": shb() + idb(tsoffset=-(1 << 40)) + epb(frame(), ticks=5),
    "tsoffset-huge": shb() + idb(tsoffset=(1 << 62)) + epb(frame(), ticks=5),
    "tsresol-0": shb() + idb(tsresol=0) + epb(frame(), ticks=1 << 40),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TIMES))
def test_timestamps_pcap_cannot_hold_are_clamped_and_counted(capsys, tmp_path, name) -> None:
    trace = _write(tmp_path / f"{name}.pcapng", HOSTILE_TIMES[name] + b"")
    doc = replay_json(capsys, trace, "--out", str(tmp_path / "out"))
    assert doc["input"]["frames_fed"] == 1
    wire = doc["points"]["wire"]
    assert wire["timestamps_clamped"] == 1
    assert doc["outputs"]["timestamps_clamped"] == sum(
        p["timestamps_clamped"] for p in doc["points"].values()
    )
    ((ts, caplen, length),) = _read_back(tmp_path / "out" / wire["pcap"])
    assert ts in (0, (U32 - 1) * NS + NS - 1) and caplen == length == 60


def test_table_says_timestamps_were_clamped(capsys, tmp_path) -> None:
    from macvlan_sim.cli.main import main

    trace = _write(tmp_path / "t.pcapng", HOSTILE_TIMES["tsoffset-negative"])
    assert main(["replay", trace, "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "timestamps clamped" in out and "ts clamped" in out


def test_writer_refuses_or_clamps_by_policy(tmp_path) -> None:
    with CaptureWriter(tmp_path / "strict.pcap") as w, pytest.raises(ValueError, match="range"):
        w.write(-1, frame())
    with CaptureWriter(tmp_path / "c.pcap", nanosecond=False, timestamps="clamp") as w:
        w.write(-5 * NS, frame())
        w.write(U32 * NS, frame())
        w.write(7 * NS + 123_456_789, frame())
    assert w.clamped == 2
    times = [t for t, _, _ in _read_back(tmp_path / "c.pcap")]
    assert times == [0, (U32 - 1) * NS + 999_999_000, 7 * NS + 123_456_000]
    with pytest.raises(ValueError, match="timestamps must be"):
        CaptureWriter(tmp_path / "x.pcap", timestamps="wrap")


# ---------------------------------------------------------------- item 2: accounting
def test_oversize_record_running_past_eof_is_counted_once(capsys, tmp_path) -> None:
    body = pcap_record(b"\xee" * 100, caplen=300_000, orig_len=300_000)
    trace = _write(tmp_path / "t.pcap", pcap_header() + pcap_record(frame()) + body)
    inp = replay_json(capsys, trace, "--keep-going")["input"]
    assert inp["skipped"] == {"truncated file": 1}
    assert inp["records_read"] == inp["accounted"] == 2
    assert inp["stopped"]["unread_bytes"] == 16 + 100
    assert inp["stopped"]["offset"] == 24 + 16 + 60


def test_whole_oversize_record_is_skipped_and_reading_goes_on(capsys, tmp_path) -> None:
    big = pcap_record(b"\xee" * 300_000)
    trace = _write(tmp_path / "t.pcap", pcap_header() + big + pcap_record(frame()))
    inp = replay_json(capsys, trace, "--keep-going")["input"]
    assert inp["skipped"] == {"caplen > 262144": 1} and inp["frames_fed"] == 1
    assert inp["stopped"] is None and inp["records_read"] == inp["accounted"] == 2


def test_structural_break_says_how_many_bytes_were_left(capsys, tmp_path) -> None:
    good = shb() + idb() + epb(frame())
    broken = bytearray(epb(frame()))
    broken[-4:] = (999).to_bytes(4, "little")  # trailing length != leading length
    trace = _write(tmp_path / "t.pcapng", good + bytes(broken) + epb(frame()) * 3)
    doc = replay_json(capsys, trace, "--keep-going")
    stop = doc["input"]["stopped"]
    assert stop["reason"] == "corrupt file structure" and stop["offset"] == len(good)
    assert stop["unread_bytes"] == len(broken) + 3 * len(epb(frame()))
    assert doc["input"]["records_read"] == doc["input"]["accounted"] == 2
    from macvlan_sim.cli.main import main

    assert main(["replay", trace, "--keep-going", "--no-progress"]) == 0
    assert "bytes left unread" in capsys.readouterr().out


# ---------------------------------------------------------------- item 4: progress on a pipe
def test_progress_bar_on_a_pipe_of_unknown_size() -> None:
    data = pcap_header() + pcap_record(frame()) * 5000
    rfd, wfd = os.pipe()

    def pump() -> None:
        with os.fdopen(wfd, "wb") as w:
            w.write(data)

    thread = threading.Thread(target=pump)
    thread.start()
    topo = parse_topology(default_topology_text())
    replayer = Replayer(Engine(topo.host, keep_paths=False))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    try:
        with open_capture(f"/dev/fd/{rfd}") as reader:
            assert reader.size is None
            _feed_with_progress(replayer, ethernet_frames(reader), reader, console)
            stats = replayer.finish(reader)
    finally:
        thread.join()
        os.close(rfd)
    assert stats.frames_fed == 5000
    assert "bytes read" in screen.getvalue()


# ---------------------------------------------------------------- item 12: truncated records
def test_truncated_record_is_judged_by_its_original_length(capsys, tmp_path) -> None:
    records = (
        pcap_record(frame(size=100), orig_len=9002)  # a jumbo frame cut at 100 bytes
        + pcap_record(frame(size=100), orig_len=1200)  # cut, but fits the MTU
        + pcap_record(frame(OTHER, size=1522, tags=(5, 6)))  # QinQ: over MTU + hdr + one tag
        + pcap_record(frame(OTHER, size=1518, tags=(5,)))  # single-tagged: exactly the limit
    )
    trace = _write(tmp_path / "t.pcap", pcap_header(snaplen=65535) + records)
    doc = replay_json(capsys, trace, "--out", str(tmp_path / "out"))
    assert doc["input"]["truncated"]["records"] == 2
    assert "original length" in doc["input"]["truncated"]["treatment"]
    l1 = doc["drops"]["L1"]
    assert l1["copies"] == 2 and l1["points"] == {"wire": 2}
    assert (
        "frame of 9002 bytes over the limit of 1518 (MTU 1500 + 14 header + 4 for one tag)"
        in (l1["example"])
    )
    assert "the capture kept 100" in l1["example"]
    assert doc["counters"]["eth0"]["rx_bytes"] == 1200 + 1518
    assert doc["counters"]["mv-bridge0"]["rx_bytes"] == 1200
    assert doc["points"]["mv-bridge0"]["bytes"] == 1200
    assert doc["points"]["wire"]["bytes"] == 9002 + 1200 + 1522 + 1518
    # Every output pcap keeps the captured bytes and the original length.
    got = _read_back(tmp_path / "out" / doc["points"]["mv-bridge0"]["pcap"])
    assert [(c, n) for _, c, n in got] == [(100, 1200)]
    wire = _read_back(tmp_path / "out" / doc["points"]["wire"]["pcap"])
    assert [(c, n) for _, c, n in wire] == [(100, 9002), (100, 1200), (1522, 1522), (1518, 1518)]


def test_mtu_message_explains_qinq_against_single_tag(capsys, tmp_path) -> None:
    from macvlan_sim.cli.main import main

    trace = _write(tmp_path / "t.pcap", pcap_header() + pcap_record(frame(size=1522, tags=(5, 6))))
    assert main(["replay", trace, "--no-progress"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1522 bytes over the limit of 1518" in out.replace("│", "").replace("  ", " ")


def test_engine_wire_len_contract() -> None:
    topo = parse_topology(default_topology_text())
    engine = Engine(topo.host)
    out = engine.rx(frame(size=64), wire_len=1000)
    (bridge,) = [r for r in out.receptions if r.point == "mv-bridge0"]
    assert len(bridge.data) == 64 and bridge.wire_len == 1000
    assert out.counters["mv-bridge0"]["rx_bytes"] == 1000
    with pytest.raises(SimError, match="less than"):
        engine.rx(frame(size=64), wire_len=63)
    with pytest.raises(SimError, match="must be an int"):
        engine.rx(frame(size=64), wire_len="1000")  # type: ignore[arg-type]
    assert engine.rx(frame(size=64), wire_len=64).receptions[-1].wire_len == 64


def test_truncated_records_are_reported_in_the_table(capsys, tmp_path) -> None:
    trace = _write(tmp_path / "t.pcap", pcap_header() + pcap_record(frame(size=100), orig_len=1200))
    from macvlan_sim.cli.main import main

    assert main(["replay", trace, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "snaplen-truncated records" in out and "original length" in out


def test_replay_from_a_fifo_with_stderr_on_a_terminal(tmp_path) -> None:
    """The reported crash end to end: a FIFO as the trace while stderr is a terminal."""
    import pty
    import subprocess
    import sys

    from .helpers import REPO

    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    data = pcap_header() + pcap_record(frame()) * 3000

    def pump() -> None:
        with open(fifo, "wb") as w:
            w.write(data)

    thread = threading.Thread(target=pump)
    thread.start()
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "macvlan_sim.cli.main", "replay", str(fifo)],
            stdout=subprocess.PIPE,
            stderr=slave,
            cwd=REPO,
            timeout=60,
        )
    finally:
        os.close(slave)
        thread.join()
    os.set_blocking(master, False)
    try:
        screen = os.read(master, 1 << 16).decode(errors="replace")
    except OSError:
        screen = ""
    os.close(master)
    assert done.returncode == 0, screen
    assert "Traceback" not in screen
    assert b"records read" in done.stdout and b"3000" in done.stdout
