"""``macvlan-sim verify-kernel``: the same topology and frames through the emulator and through
the running kernel's macvlan driver, and where they differ.

Inputs: a scenario file, a topology file plus a trace, or ``--random N --seed S``. A multicast
copy only the kernel made is excused as a per-device hash-filter false positive (the kernel
salts each device's filter with a pointer) only with a proof: the device's real membership
list, read in the namespace, lacks the group; one salt explains every group the device passed
and kept out; and letting exactly those pairs through makes the emulator agree
(:mod:`macvlan_sim.verify.hash_fp`). Excused frames are reported as their own figure, against
a bound of 0.5% of the multicast copies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from macvlan_sim.datapath.rules import RULES
from macvlan_sim.io.cli_types import SEED, integer, seconds
from macvlan_sim.io.scenario import Scenario
from macvlan_sim.io.topology import Topology
from macvlan_sim.model.constants import DEFAULT_MTU
from macvlan_sim.model.devices import MacvlanDevice, NetDevice, VlanDevice
from macvlan_sim.model.errors import SimError
from macvlan_sim.model.mac import format_mac
from macvlan_sim.verify import hash_fp
from macvlan_sim.verify.compare import Comparison, compare_results, describe_key
from macvlan_sim.verify.randomize import random_scenario
from macvlan_sim.verify.shrink import shrink

LOWER = "lower"


@dataclass
class Verification:
    """One scenario's comparison."""

    scenario: dict[str, Any]
    kernel: dict[str, Any]
    emulator: dict[str, Any]
    comparison: Comparison
    #: Frames set aside as multicast hash-filter false positives, with their (device, group)
    #: pairs — each one proven (see :mod:`macvlan_sim.verify.hash_fp`).
    false_positives: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    #: Copies excused, and the kernel's multicast copies at macvlans they are measured against.
    excused_copies: int = 0
    multicast_copies: int = 0
    #: Kernel-only multicast copies that looked like false positives and failed the proof.
    refused_excuses: dict[str, str] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.comparison.frames

    @property
    def agree(self) -> bool:
        return self.comparison.agree

    def agreeing_frames(self) -> int:
        return self.frames - len(self.comparison.diffs) - len(self.false_positives)


def kernel_global_protocols(path: str = "/proc/net/ptype") -> frozenset[int] | None:
    """Protocols the running kernel handles on every device (rows of ``/proc/net/ptype``
    without a device), or None where that file cannot be read."""
    try:
        lines = Path(path).read_text().splitlines()[1:]
    except OSError:
        return None
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) == 2 and fields[0] != "ALL":
            found.add(int(fields[0], 16))
    return frozenset(found)


def compare_with_kernel(
    scenario: dict[str, Any],
    kernel: dict[str, Any],
    global_protocols: frozenset[int] | None = None,
) -> Verification:
    """Compare a kernel result with the emulator's answer for the same scenario.

    Kernel-only multicast copies are excused as hash-filter false positives only with the
    proof :mod:`macvlan_sim.verify.hash_fp` demands (the device's real membership list, a
    consistent salt, and full agreement once exactly those pairs are let through)."""
    protocols = {"global_protocols": global_protocols}
    emulator = Scenario(scenario, "scenario").run(**protocols)
    cmp = compare_results(kernel, emulator)
    verification = Verification(scenario, kernel, emulator, cmp)
    verification.multicast_copies = hash_fp.multicast_copies(kernel, scenario)
    if cmp.agree:
        return verification
    candidates = hash_fp.candidate_pairs(scenario, kernel, emulator)
    if not candidates:
        return verification
    loose = hash_fp.permissive_pairs(scenario, kernel)
    permissive = Scenario(scenario, "scenario").run(false_positives=loose, **protocols)
    excuses = hash_fp.prove(scenario, kernel, candidates, permissive)
    verification.refused_excuses = {
        f"{dev} {format_mac(group)}": why for (dev, group), why in excuses.refused.items()
    }
    if not excuses.pairs:
        return verification
    explained = Scenario(scenario, "scenario").run(false_positives=excuses.pairs, **protocols)
    cmp2 = compare_results(kernel, explained)
    still = {d.index for d in cmp2.diffs}
    for diff in cmp.diffs:
        if diff.index in still:
            continue
        excused = {
            pair: frames[diff.index]
            for pair, frames in candidates.items()
            if pair in excuses.pairs and diff.index in frames
        }
        verification.false_positives[diff.index] = sorted(
            (dev, format_mac(group)) for dev, group in excused
        )
        verification.excused_copies += sum(excused.values())
    verification.emulator = explained
    verification.comparison = cmp2
    return verification


def verify_scenario(scenario: dict[str, Any], *, settle: float | None = None) -> Verification:
    """Run ``scenario`` on the live kernel (root, macvlan) and compare."""
    from macvlan_sim.verify.kernel import run_scenario_on_kernel

    kwargs = {} if settle is None else {"settle": settle}
    kernel = run_scenario_on_kernel(scenario, **kwargs)
    return compare_with_kernel(scenario, kernel, kernel_global_protocols())


# ---------------------------------------------------------------------- topology + trace
def host_scenario(topology_path: str, trace_path: str, max_frames: int) -> dict[str, Any]:
    """A scenario for a topology file and the first ``max_frames`` Ethernet frames of a trace."""
    from macvlan_sim.io.capture import ethernet_frames, open_capture
    from macvlan_sim.io.topology import load_topology

    scenario = host_scenario_from_topology(load_topology(topology_path))
    frames = []
    with open_capture(trace_path) as reader:
        for record in ethernet_frames(reader):
            if len(frames) >= max_frames:
                break
            note = f"record {record.index + 1}"
            frames.append({"inject": "wire", "hex": record.data.hex(), "note": note})
    scenario["frames"] = frames
    return scenario


def host_scenario_from_topology(topo: Topology) -> dict[str, Any]:
    """A scenario (without frames) for a topology's *final* configuration.

    The kernel side is built in scenario order (create, join, up), so a topology whose meaning
    depends on a later ``down``/``address``/``del`` is compared as the state it ends in."""
    host = topo.host
    assert host.lower is not None and host.wire is not None
    rename = {host.lower.name: LOWER}
    scenario: dict[str, Any] = {
        "lower": {
            "mac": format_mac(host.lower.mac),
            "promisc": host.lower.user_promisc,
            **({"mtu": host.lower.mtu} if host.lower.mtu != DEFAULT_MTU else {}),
        },
        "wire": {"mac": format_mac(host.wire.mac)},
        "hairpin": topo.hairpin,
        "vlans": [],
        "devices": [],
        "port": {},
    }
    for dev in host.devices.values():
        if isinstance(dev, VlanDevice):
            scenario["vlans"].append(_vlan_spec(dev, rename))
        elif isinstance(dev, MacvlanDevice):
            scenario["devices"].append(_macvlan_spec(dev, rename))
            port = dev.port
            if port is not None and port.bc_cutoff != 1:
                scenario["port"]["bclim"] = port.bc_cutoff
    if not scenario["vlans"]:
        del scenario["vlans"]
    return scenario


def _vlan_spec(dev: VlanDevice, rename: dict[str, str]) -> dict[str, Any]:
    assert dev.link is not None
    flags = [
        f
        for f, on in (
            ("reorder_hdr", dev.reorder_hdr),
            ("gvrp", dev.gvrp),
            ("mvrp", dev.mvrp),
            ("loose_binding", dev.loose_binding),
        )
        if on
    ]
    spec = {
        "name": dev.name,
        "link": rename.get(dev.link.name, dev.link.name),
        "id": dev.vid,
        "protocol": dev.protocol_word,
        "flags": flags,
        "mac": format_mac(dev.mac),
        "up": dev.up,
    }
    return _with_mtu(spec, dev)


def _macvlan_spec(dev: MacvlanDevice, rename: dict[str, str]) -> dict[str, Any]:
    assert dev.link is not None and dev.port is not None
    spec: dict[str, Any] = {
        "name": dev.name,
        "link": rename.get(dev.link.name, dev.link.name),
        "mode": dev.mode.word,
        "mac": format_mac(dev.mac),
        "up": dev.up,
        "flags": [f.name.lower() for f in type(dev.flags) if f and f in dev.flags],
        "mc": [format_mac(g) for g in dev.mc.user_addresses()],
        "allmulti": dev.user_allmulti,
        "promisc": dev.user_promisc,
        "bcqueuelen": dev.bc_queue_len_req,
    }
    sources = dev.port.source_list(dev)
    if sources:
        spec["macaddr"] = [format_mac(m) for m in reversed(sources)]
    return _with_mtu(spec, dev)


def _with_mtu(spec: dict[str, Any], dev: NetDevice) -> dict[str, Any]:
    """Carry a device's own MTU (it decides its all-nodes membership, spec §8)."""
    if dev.link is not None and dev.mtu != dev.link.mtu:
        spec["mtu"] = dev.mtu
    return spec


# ---------------------------------------------------------------------- reporting
#: Every rule id of the spec's decision tables the engine names in its paths and drops.
ALL_RULES = tuple(RULES)


def rules_exercised(verifications: list[Verification]) -> Counter[str]:
    """How often each rule id appears in the emulator's decisions for the compared frames."""
    seen: Counter[str] = Counter()
    for v in verifications:
        for frame in v.emulator.get("frames", []):
            rules = {d["rule"] for d in frame.get("drops", [])}
            for reception in frame.get("receptions", []):
                rules |= {step.split(" ", 1)[0] for step in reception.get("path", [])}
            seen.update(r for r in rules if r in ALL_RULES)
    return seen


def _rows(v: Verification) -> list[dict[str, Any]]:
    rows = []
    for diff in v.comparison.diffs:
        rows.append(
            {
                "frame": diff.index,
                "note": diff.note,
                "kernel only": [describe_key(k) for k in diff.missing],
                "emulator only": [describe_key(k) for k in diff.extra],
                "send": diff.send,
                "counters": diff.counters,
                "rules": diff.rules,
            }
        )
    return rows


def print_report(verifications: list[Verification], *, label: str) -> None:
    from rich.table import Table

    from macvlan_sim.io.console import stdout_console

    console = stdout_console()
    frames = sum(v.frames for v in verifications)
    fps = sum(len(v.false_positives) for v in verifications)
    differing = sum(len(v.comparison.diffs) for v in verifications)
    bad = [v for v in verifications if not v.agree]
    for v in bad:
        table = Table(title=f"disagreement: {label} {v.scenario.get('seed', '')}")
        for col in (
            "frame",
            "note",
            "kernel only",
            "emulator only",
            "counters (kernel / emulator)",
            "rules",
        ):
            table.add_column(col)
        for row in _rows(v):
            counters = "; ".join(f"{d}: {a} / {b}" for d, (a, b) in row["counters"].items())
            if row["send"]:
                counters = f"send {row['send'][0]} / {row['send'][1]}; " + counters
            table.add_row(
                str(row["frame"]),
                row["note"],
                "\n".join(row["kernel only"]),
                "\n".join(row["emulator only"]),
                counters,
                " ".join(row["rules"]),
            )
        console.print(table)
        for dev, (a, b) in v.comparison.after.items():
            console.print(f"  final counters of {dev}: kernel {a} / emulator {b}")
        for op, a, b in v.comparison.setup:
            console.print(f"  setup {op!r}: kernel {a} / emulator {b}")
    seen = rules_exercised(verifications)
    missing = [r for r in ALL_RULES if r not in seen]
    console.print(
        f"rules exercised: {' '.join(r for r in ALL_RULES if r in seen)}"
        + (f"  (not reached: {' '.join(missing)})" if missing else "")
    )
    console.print(
        f"[bold]{len(verifications)} scenarios, {frames} frames:[/] "
        f"{frames - differing - fps} agree, {differing} disagree "
        f"(kernel {platform.release()})"
    )
    console.print(excuse_line(verifications))
    for v in verifications:
        for pair, why in v.refused_excuses.items():
            console.print(f"  not excused ({label} {v.scenario.get('seed', '')}): {pair}: {why}")


def excuse_figures(verifications: list[Verification]) -> tuple[int, int, int]:
    """(excused frames, excused copies, multicast copies at macvlans)."""
    return (
        sum(len(v.false_positives) for v in verifications),
        sum(v.excused_copies for v in verifications),
        sum(v.multicast_copies for v in verifications),
    )


def excuse_line(verifications: list[Verification]) -> str:
    frames, copies, population = excuse_figures(verifications)
    share = copies / population if population else 0.0
    verdict = "within" if share <= hash_fp.EXCUSE_BOUND else "OVER"
    return (
        f"excused as proven hash-filter false positives: {frames} frames, {copies} of "
        f"{population} multicast copies ({share:.2%}; {verdict} the "
        f"{hash_fp.EXCUSE_BOUND:.1%} bound)"
    )


def summary_json(verifications: list[Verification]) -> dict[str, Any]:
    frames, copies, population = excuse_figures(verifications)
    return {
        "kernel": platform.release(),
        "scenarios": len(verifications),
        "frames": sum(v.frames for v in verifications),
        "agreeing_frames": sum(v.agreeing_frames() for v in verifications),
        "disagreeing_frames": sum(len(v.comparison.diffs) for v in verifications),
        "mc_hash_false_positive_frames": frames,
        "excused_copies": copies,
        "multicast_copies": population,
        "excuse_bound": hash_fp.EXCUSE_BOUND,
        "agree": all(v.agree for v in verifications),
        "rules_exercised": dict(sorted(rules_exercised(verifications).items())),
        "results": [
            {
                "seed": v.scenario.get("seed"),
                "frames": v.frames,
                "agree": v.agree,
                "comparison": v.comparison.as_json(),
                "mc_hash_fp": {
                    str(k): [list(p) for p in ps] for k, ps in v.false_positives.items()
                },
                "refused_excuses": v.refused_excuses,
            }
            for v in verifications
        ],
    }


# ---------------------------------------------------------------------- shrinking
def shrink_and_save(v: Verification, out_dir: Path, *, settle: float | None) -> Path:
    """Reduce a disagreeing scenario and save it with the kernel's answer as a regression."""

    def still_fails(candidate: dict[str, Any]) -> bool:
        return not verify_scenario(candidate, settle=settle).agree

    minimal = shrink(v.scenario, still_fails)
    final = verify_scenario(minimal, settle=settle)
    digest = hashlib.sha1(json.dumps(minimal, sort_keys=True).encode()).hexdigest()[:10]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"shrunk-{digest}.json"
    path.write_text(
        json.dumps(
            {
                "about": "minimal scenario on which the emulator and the kernel disagreed",
                "kernel_version": platform.release(),
                "found_by": {"seed": v.scenario.get("seed")},
                "scenario": minimal,
                "kernel_result": final.kernel,
            },
            indent=1,
        )
        + "\n"
    )
    return path


# ---------------------------------------------------------------------- CLI
def add_arguments(sub: Any) -> None:
    vk = sub.add_parser(
        "verify-kernel",
        help="compare the emulator with the running kernel (root, macvlan)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vk.add_argument("scenario", nargs="?", help="a scenario JSON file")
    vk.add_argument("--topology", help="a topology file (with --trace)")
    vk.add_argument("--trace", help="a pcap/pcapng trace (with --topology)")
    vk.add_argument("--max-frames", type=integer(1), default=500, help="frames taken from --trace")
    vk.add_argument("--random", type=integer(1), metavar="N", help="N random scenarios")
    vk.add_argument("--seed", type=SEED, default=0, help="first seed for --random")
    vk.add_argument(
        "--frames", type=integer(1, 100_000), default=20, help="frames per random scenario"
    )
    vk.add_argument(
        "--vlans",
        action="store_true",
        help="random scenarios with VLAN sub-interfaces (needs 8021q in the kernel)",
    )
    vk.add_argument(
        "--settle",
        type=seconds(0, 60),
        help="quiet time that ends a frame (seconds, above 0, at most 60)",
    )
    vk.add_argument("--shrink", action="store_true", help="reduce disagreements to minimal cases")
    vk.add_argument("--save-dir", default="verify-cases", help="where --shrink saves cases")
    vk.add_argument("--json", action="store_true", help="print the comparison as JSON")
    vk.set_defaults(func=cmd_verify_kernel)


def _scenarios(args: argparse.Namespace) -> tuple[str, list[dict[str, Any]]]:
    if args.random is not None:
        seeds = range(args.seed, args.seed + args.random)
        return "seed", [random_scenario(s, frames=args.frames, vlans=args.vlans) for s in seeds]
    if args.topology or args.trace:
        if not (args.topology and args.trace):
            raise SimError("--topology and --trace go together")
        return "trace", [host_scenario(args.topology, args.trace, args.max_frames)]
    if not args.scenario:
        raise SimError("give a scenario file, --topology with --trace, or --random N")
    return "scenario", [Scenario.load(args.scenario).data]


def cmd_verify_kernel(args: argparse.Namespace) -> int:
    from macvlan_sim.verify.kernel import HarnessTerminated, Unsupported

    label, scenarios = _scenarios(args)
    results: list[Verification] = []
    unsupported: Counter[str] = Counter()
    try:
        for scenario in scenarios:
            try:
                results.append(verify_scenario(scenario, settle=args.settle))
            except Unsupported as exc:
                unsupported[str(exc)] += 1
    except HarnessTerminated:
        print("macvlan-sim: terminated; the namespace was removed", file=sys.stderr)
        return 143
    saved = []
    if args.shrink:
        saved = [
            shrink_and_save(v, Path(args.save_dir), settle=args.settle)
            for v in results
            if not v.agree
        ]
    if args.json:
        out = summary_json(results) | {
            "unsupported": dict(unsupported),
            "saved": [str(p) for p in saved],
        }
        print(json.dumps(out, indent=1))
    else:
        print_report(results, label=label)
        for reason, n in unsupported.items():
            print(f"not compared ({n} scenarios): {reason}")
        for path in saved:
            print(f"minimal disagreeing scenario saved: {path}")
    if not results and unsupported:
        return 2
    _frames, excused, copies = excuse_figures(results)
    within = excused <= hash_fp.EXCUSE_BOUND * copies
    return 0 if all(v.agree for v in results) and within else 1
