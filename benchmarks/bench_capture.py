"""Throughput of the capture layer, as records/s and as a ratio to plain baselines.

Input: ``pcapplusplus__example2.pcap`` from the corpus in ``tests/data/pcaps``, its records
repeated 20 times (94,180 records, ~59 MB), as pcap and as pcapng. Baselines: reading the same
bytes in 1 MiB chunks (the I/O floor) and scapy's ``RawPcapReader`` (what this reader replaced).

    pytest benchmarks/bench_capture.py          # pytest-benchmark tables + a ratio summary
    python benchmarks/bench_capture.py          # the ratio summary only, no pytest needed

Not part of the default test run (``testpaths = tests``): it takes about 10 s.
"""

from __future__ import annotations

import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from macvlan_sim.io.capture import CaptureWriter, open_capture  # noqa: E402

SOURCE_NAME = "pcapplusplus__example2.pcap"
REPEAT = 20


def find_source() -> Path:
    """The corpus capture the benchmark repeats; it ships in ``tests/data/pcaps``."""
    return REPO_ROOT / "tests" / "data" / "pcaps" / SOURCE_NAME


def build_inputs(directory: Path, source: Path) -> tuple[Path, Path, int]:
    """The source's records REPEAT times, as pcap and as pcapng (one Ethernet IDB, EPBs)."""
    raw = source.read_bytes()
    pcap = directory / "bench.pcap"
    pcap.write_bytes(raw + raw[24:] * (REPEAT - 1))
    records = list(open_capture(source))
    pcapng = directory / "bench.pcapng"
    with pcapng.open("wb") as f:
        f.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
        f.write(struct.pack("<IIHHII", 1, 20, 1, 0, 0, 20))
        blocks = b"".join(_epb(r.timestamp_ns // 1000, r.data, r.orig_len) for r in records)
        for _ in range(REPEAT):
            f.write(blocks)
    return pcap, pcapng, len(records) * REPEAT


def _epb(ticks: int, data: bytes, orig_len: int) -> bytes:
    padded = data + bytes(-len(data) % 4)
    total = 32 + len(padded)
    head = struct.pack(
        "<IIIIIII", 6, total, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig_len
    )
    return head + padded + struct.pack("<I", total)


# --- the measured operations -----------------------------------------------------------


def read_ours(path: Path) -> int:
    count = 0
    with open_capture(path) as reader:
        for _ in reader:
            count += 1
    return count


def read_scapy(path: Path) -> int:
    from scapy.utils import RawPcapReader

    count = 0
    with RawPcapReader(str(path)) as reader:
        for _ in reader:
            count += 1
    return count


def read_raw_bytes(path: Path) -> int:
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass
    return 0


def write_ours(records: list[tuple[int, bytes, int]], path: Path) -> int:
    with CaptureWriter(path, nanosecond=False) as w:
        write = w.write
        for ts, data, orig_len in records:
            write(ts, data, orig_len)
    return len(records)


def write_raw_baseline(records: list[tuple[int, bytes, int]], path: Path) -> int:
    """Same bytes with the least possible Python: a bound pack and two buffered writes."""
    pack = struct.Struct("<IIII").pack
    with path.open("wb", buffering=1 << 20) as f:
        out = f.write
        for ts, data, orig_len in records:
            sec, ns = divmod(ts, 1_000_000_000)
            out(pack(sec, ns // 1000, len(data), orig_len))
            out(data)
    return len(records)


# --- pytest-benchmark --------------------------------------------------------------------

try:
    import pytest
except ImportError:  # script mode without pytest installed
    pytest = None  # type: ignore[assignment]

if pytest is not None:
    RESULTS: dict[str, float] = {}

    @pytest.fixture(scope="module")
    def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
        return build_inputs(tmp_path_factory.mktemp("bench"), find_source())

    def _run(benchmark, name: str, fn: Callable[[], int], n_records: int) -> None:
        result = benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
        assert result in (0, n_records)
        best = benchmark.stats.stats.min
        RESULTS[name] = best
        benchmark.extra_info["records_per_s"] = round(n_records / best)

    def test_read_pcap_ours(benchmark, inputs) -> None:
        pcap, _, n = inputs
        _run(benchmark, "read pcap (ours)", lambda: read_ours(pcap), n)

    def test_read_pcapng_ours(benchmark, inputs) -> None:
        _, pcapng, n = inputs
        _run(benchmark, "read pcapng (ours)", lambda: read_ours(pcapng), n)

    def test_read_pcap_scapy(benchmark, inputs) -> None:
        pcap, _, n = inputs
        _run(benchmark, "read pcap (scapy RawPcapReader)", lambda: read_scapy(pcap), n)

    def test_read_raw_bytes(benchmark, inputs) -> None:
        pcap, _, n = inputs
        _run(benchmark, "read raw bytes (1 MiB chunks)", lambda: read_raw_bytes(pcap), n)

    def test_write_pcap_ours(benchmark, inputs, tmp_path: Path) -> None:
        pcap, _, n = inputs
        recs = [(r.timestamp_ns, r.data, r.orig_len) for r in open_capture(pcap)]
        _run(benchmark, "write pcap (ours)", lambda: write_ours(recs, tmp_path / "o.pcap"), n)

    def test_write_pcap_baseline(benchmark, inputs, tmp_path: Path) -> None:
        pcap, _, n = inputs
        recs = [(r.timestamp_ns, r.data, r.orig_len) for r in open_capture(pcap)]
        out = tmp_path / "b.pcap"
        _run(benchmark, "write pcap (bare baseline)", lambda: write_raw_baseline(recs, out), n)

    def test_ratios(inputs, capsys: pytest.CaptureFixture[str]) -> None:
        """Print the comparison, and fail if the reader falls behind scapy's."""
        with capsys.disabled():
            print("\n" + summary(RESULTS, inputs[2]))
        if {"read pcap (ours)", "read pcap (scapy RawPcapReader)"} <= RESULTS.keys():
            assert RESULTS["read pcap (ours)"] < RESULTS["read pcap (scapy RawPcapReader)"]


RATIOS = [  # (label, numerator case, denominator case): ratio of records/s
    ("pcap reader vs scapy RawPcapReader", "read pcap (ours)", "read pcap (scapy RawPcapReader)"),
    ("pcap reader vs raw byte read", "read pcap (ours)", "read raw bytes (1 MiB chunks)"),
    ("pcapng reader vs pcap reader", "read pcapng (ours)", "read pcap (ours)"),
    ("writer vs bare pack+write loop", "write pcap (ours)", "write pcap (bare baseline)"),
]


def summary(results: dict[str, float], n_records: int) -> str:
    """records/s per case, then the ratios (> 1 means the first is faster)."""
    lines = [f"{n_records} records ({SOURCE_NAME} x{REPEAT}); best of 5 runs"]
    for name, seconds in results.items():
        lines.append(f"  {name:34s} {n_records / seconds / 1e6:6.2f} M records/s")
    lines.append("ratios (records/s, > 1 = first is faster):")
    for label, a, b in RATIOS:
        if a in results and b in results:
            lines.append(f"  {label:34s} {results[b] / results[a]:6.3f}")
    return "\n".join(lines)


def main() -> None:
    source = find_source()
    with tempfile.TemporaryDirectory() as tmp:
        pcap, pcapng, n = build_inputs(Path(tmp), source)
        recs = [(r.timestamp_ns, r.data, r.orig_len) for r in open_capture(pcap)]
        cases: dict[str, Callable[[], int]] = {
            "read pcap (ours)": lambda: read_ours(pcap),
            "read pcapng (ours)": lambda: read_ours(pcapng),
            "read pcap (scapy RawPcapReader)": lambda: read_scapy(pcap),
            "read raw bytes (1 MiB chunks)": lambda: read_raw_bytes(pcap),
            "write pcap (ours)": lambda: write_ours(recs, Path(tmp) / "o.pcap"),
            "write pcap (bare baseline)": lambda: write_raw_baseline(recs, Path(tmp) / "b.pcap"),
        }
        results = {}
        for name, fn in cases.items():
            fn()
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - start)
            results[name] = best
        print(summary(results, n))


if __name__ == "__main__":
    main()
