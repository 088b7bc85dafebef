"""Keep the qemu kernel's answers to random VLAN/NIC scenarios as regression pairs.

    python3 tools/vm_regressions.py generate --first 6001 --count 120 --out DIR/sc
    (run each DIR/sc/N.json through ../shared/tools/kernel-vm/vm_oracle.py into DIR/res/N.json)
    python3 tools/vm_regressions.py keep DIR tests/data/vm-regressions

``generate`` writes :func:`macvlan_sim.verify.randomize.random_vm_scenario` scenarios; ``keep``
stores each scenario with the oracle's answer, trimmed to what the offline comparison reads
(receptions, counters, setup, real membership lists and flag counts), as compact JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from macvlan_sim.verify.randomize import random_vm_scenario

FRAME_KEYS = ("index", "inject", "note", "send", "receptions", "counters", "errors")
STATE_KEYS = ("mc", "promiscuity", "allmulti")


def trim(result: dict) -> dict:
    """The oracle's answer without timings, per-frame latencies and raw topology details."""
    frames = [{k: f[k] for k in FRAME_KEYS if k in f} for f in result["frames"]]
    topology = {
        dev: {k: state[k] for k in STATE_KEYS if k in state}
        for dev, state in result.get("topology", {}).items()
    }
    return {
        "kernel": result.get("kernel"),
        "frames": frames,
        "counters": result["counters"],
        "setup": result["setup"],
        "topology": topology,
        "mc_hash_fp": result.get("summary", {}).get("mc_hash_fp", 0),
    }


def _dump(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--first", type=int, required=True)
    gen.add_argument("--count", type=int, required=True)
    gen.add_argument("--frames", type=int, default=45)
    gen.add_argument("--out", type=Path, required=True)
    keep = sub.add_parser("keep")
    keep.add_argument("runs", type=Path, help="a directory with sc/N.json and res/N.json")
    keep.add_argument("dest", type=Path)
    args = parser.parse_args()
    if args.cmd == "generate":
        args.out.mkdir(parents=True, exist_ok=True)
        for seed in range(args.first, args.first + args.count):
            _dump(random_vm_scenario(seed, frames=args.frames), args.out / f"{seed}.json")
        return
    args.dest.mkdir(parents=True, exist_ok=True)
    for res in sorted((args.runs / "res").glob("*.json")):
        scenario = json.loads((args.runs / "sc" / res.name).read_text())
        _dump(scenario, args.dest / f"{res.stem}.scenario.json")
        _dump(trim(json.loads(res.read_text())), args.dest / f"{res.stem}.result.json")


if __name__ == "__main__":
    main()
