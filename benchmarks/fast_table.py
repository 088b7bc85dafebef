"""Run the fast path's benchmarks and rewrite the README's table from their results.

    python benchmarks/fast_table.py            # full size: ~15 min on 2 busy cores
    MACVLAN_SIM_BENCH_FRAMES=500000 python benchmarks/fast_table.py   # a quick look

The table sits between the ``fast-bench`` markers in README.md; everything else is kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- fast-bench:start -->", "<!-- fast-bench:end -->"


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:warnings",
               str(ROOT / "benchmarks" / "bench_fast.py"), f"--benchmark-json={out}"]
        subprocess.run(cmd, cwd=ROOT, check=True)
        return json.loads(out.read_text())["benchmarks"]


def table(benchmarks: list[dict]) -> str:
    rows = [
        "| trace | frames | fast (frames/s) | × memory stream | × dpkt loop | × scapy loop "
        "| × exact engine |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    memory = ""
    for b in benchmarks:
        info = b["extra_info"]
        if "peak_vs_budget" in info:
            memory = (
                f"Peak memory (tracemalloc) replaying a {info['trace_bytes'] / 2**20:.0f} MiB "
                f"trace with a {info['budget_bytes'] / 2**20:.0f} MiB chunk budget: "
                f"{info['peak_bytes'] / 2**20:.1f} MiB ({info['peak_vs_budget']}× the budget)."
            )
            continue
        name = b["param"]
        rows.append(
            f"| {name} | {info['frames']:,} | {info['fast_fps']:,} | {info['vs_stream']} "
            f"| {info['vs_dpkt']} | {info['vs_scapy']} | {info['vs_exact']:,} |"
        )
    return "\n".join(rows) + ("\n\n" + memory if memory else "")


def main() -> int:
    text = table(run())
    readme = ROOT / "README.md"
    body = readme.read_text()
    if START not in body or END not in body:
        print(f"README.md has no {START} … {END} section", file=sys.stderr)
        return 1
    head, rest = body.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
