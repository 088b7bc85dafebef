"""The ``macvlan-sim`` command line: a thin layer over the engine and its I/O adapters.

Every failure the user can cause (a bad file, a bad line, missing privileges) ends as one line
on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from macvlan_sim import __version__
from macvlan_sim.io.cli_types import SEED, OneLineParser, integer
from macvlan_sim.io.console import stdout_console
from macvlan_sim.model.errors import KernelError, SimError

EXIT_ERROR = 2
EXIT_DISAGREE = 1


def _stdout() -> Console:
    return stdout_console()


def _fail(message: str) -> int:
    print(f"macvlan-sim: error: {message}", file=sys.stderr)
    return EXIT_ERROR


# ---------------------------------------------------------------------- scenario
def cmd_scenario_run(args: argparse.Namespace) -> int:
    from macvlan_sim.io.scenario import Scenario, write_result

    scenario = Scenario.load(args.file)
    options = {"extras": not args.plain, "hash_filters": args.hash_filters, "seed": args.seed}
    if not args.output:
        write_result(scenario, sys.stdout, **options)
        return 0
    with _OpenOnWrite(args.output) as out:
        write_result(scenario, out, **options)  # type: ignore[arg-type]
    return 0


class _OpenOnWrite:
    """A text file created at the first write, so a scenario refused at set-up leaves none."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: Any = None

    def write(self, text: str) -> int:
        if self._file is None:
            self._file = open(self.path, "w")  # noqa: SIM115 - closed in __exit__
        return self._file.write(text)

    def __enter__(self) -> _OpenOnWrite:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


# ---------------------------------------------------------------------- topology
def default_topology_text() -> str:
    return resources.files("macvlan_sim").joinpath("data/default.topo").read_text()


def _load_topology(path: str | None):
    from macvlan_sim.io.topology import load_topology, parse_topology

    if path is None:
        return parse_topology(default_topology_text(), "<bundled default topology>")
    return load_topology(path)


def cmd_topology_show(args: argparse.Namespace) -> int:
    from macvlan_sim.cli.topology_view import topology_table

    topo = _load_topology(args.file)
    _stdout().print(topology_table(topo.host))
    return 0


# ---------------------------------------------------------------------- replay
def _seekable(trace: str) -> bool:
    """A regular file (the fast path maps it and reads it more than once), or a path that does
    not exist (the replay then says so). FIFOs, pipes and ``<(...)`` are read once, in order."""
    try:
        return stat.S_ISREG(os.stat(trace).st_mode)
    except OSError:
        return True


def _replay_topology_text(args: argparse.Namespace) -> tuple[str, str]:
    """(topology text, where it came from): a file, the bundled default, or ``auto``."""
    from macvlan_sim.io.text import read_text
    from macvlan_sim.io.topology import TopologyError

    if args.topology == "auto" and not _seekable(args.trace):
        raise SimError(f"{args.trace}: --topology auto reads the trace twice: it needs a file")
    if args.topology == "auto":
        from macvlan_sim.fast.addresses import unicast_destinations
        from macvlan_sim.io.trace_topology import topology_from_counts

        counts = unicast_destinations(args.trace, keep_going=args.keep_going)
        return topology_from_counts(counts), f"auto (from {args.trace})"
    if args.topology is None:
        return default_topology_text(), "<bundled default topology>"
    return read_text(args.topology, TopologyError), args.topology


def cmd_replay(args: argparse.Namespace) -> int:
    from macvlan_sim.cli.out_dir import prepare_out_dir
    from macvlan_sim.io.capture import CaptureWriter
    from macvlan_sim.io.topology import parse_topology

    text, source = _replay_topology_text(args)
    if args.bc_rate is not None:
        if args.bc_rate < 1:
            raise SimError("--bc-rate needs at least 1 broadcast per second")
        text = f"host drain rate {args.bc_rate}\n{text}"  # later lines cannot undo it: checked
    topo = parse_topology(text, source)
    if args.bc_rate is not None and topo.service_rate != args.bc_rate:
        raise SimError(f"{source}: its own 'host drain' line overrides --bc-rate")
    sharded = bool(args.workers or args.scheduler)
    if args.engine == "fast" and not _seekable(args.trace):
        if sharded or args.deliveries or args.index_cache:
            raise SimError(f"{args.trace}: a pipe is read once, in order: no --workers, "
                           "--scheduler, --deliveries or --index-cache")
        args.engine = "exact"  # a pipe can be read once, in order: the exact engine streams it
    if args.engine == "exact" and (sharded or args.deliveries):
        raise SimError("--workers, --scheduler and --deliveries need --engine fast")
    if sharded and (args.out or args.deliveries):
        raise SimError("--out and --deliveries write in one process: no --workers/--scheduler")
    out = prepare_out_dir(Path(args.out), force=args.force) if args.out else None

    def open_point(path: Path) -> CaptureWriter:
        assert out is not None
        out.add(path)
        return CaptureWriter(path, timestamps="clamp")

    try:
        if args.engine == "exact":
            stats = _replay_exact(args, topo, out, open_point)
        else:
            stats = _replay_fast(args, topo, text, out, open_point)
    except BaseException:
        # Whatever stopped the run (an error, Ctrl-C), its pcaps are incomplete: remove them.
        if out is not None:
            out.discard()
        raise
    with writing_stdout():
        if args.json:
            from macvlan_sim.cli.replay_json import replay_json

            print(json.dumps(replay_json(stats), indent=1))
        else:
            from macvlan_sim.cli.report import replay_report

            replay_report(_stdout(), stats)
    _note_unmatched(stats, topo)
    return 0


def _replay_exact(args: argparse.Namespace, topo: Any, out: Any, open_point: Any) -> Any:
    from macvlan_sim.io.capture import ethernet_frames, open_capture
    from macvlan_sim.io.replay import Replayer

    replayer = Replayer(
        topo.engine(keep_paths=False),
        open_point if out else None,
        out.path if out else None,
        trace=str(args.trace),
        topology=topo.source,
    )
    try:
        with open_capture(args.trace, keep_going=args.keep_going) as reader:
            records = ethernet_frames(reader)
            if args.no_progress or args.json or not sys.stderr.isatty():
                replayer.feed(records)
            else:
                _feed_with_progress(replayer, records, reader)
            return replayer.finish(reader)
    except BaseException:
        replayer.abort()
        raise


def _replay_fast(
    args: argparse.Namespace, topo: Any, text: str, out: Any, open_point: Any
) -> Any:
    if args.workers or args.scheduler:
        from macvlan_sim.fast.shards import replay_on_dask

        result = replay_on_dask(
            args.trace,
            text,
            workers=args.workers or 1,
            scheduler=args.scheduler,
            keep_going=args.keep_going,
            topology_source=topo.source,
        )
    else:
        from macvlan_sim.fast import replay

        result = replay(
            args.trace,
            topo,
            out_dir=out.path if out else None,
            open_writer=open_point if out else None,
            deliveries=args.deliveries,
            keep_going=args.keep_going,
            index_cache=args.index_cache,
        )
    return result.stats


def _note_unmatched(stats: Any, topo: Any) -> None:
    """One line when no unicast frame reached a macvlan: the topology does not fit the trace."""
    names = [d.name for d in topo.host.macvlans()]
    matched = any(stats.points[n].pkttypes.get("host") for n in names if n in stats.points)
    if stats.frames_fed and not matched:
        print(
            "macvlan-sim: note: no unicast frame matched any macvlan of this topology; "
            "`--topology auto` builds one from the trace's own addresses",
            file=sys.stderr,
        )


# ---------------------------------------------------------------------- gen
def cmd_gen(args: argparse.Namespace) -> int:
    from macvlan_sim.fast.synthetic import Shares, generate, parse_sizes, topology_text
    from macvlan_sim.io.topology import parse_topology

    shares = Shares(
        broadcast=args.broadcast,
        multicast=args.multicast,
        unknown=args.unknown,
        tagged=args.tagged,
        source=args.source,
        hairpin=args.hairpin,
    )
    shares.check()
    text = topology_text(args.devices, shares, tuple(args.modes.split(",")))
    parse_topology(text, "<generated topology>")  # bad modes fail here, before writing
    sizes = parse_sizes(args.sizes)
    generate(
        args.trace,
        frames=args.frames,
        devices=args.devices,
        sizes=sizes,
        shares=shares,
        seed=args.seed,
    )
    topo_path = args.topology_out or str(Path(args.trace).with_suffix(".topo"))
    Path(topo_path).write_text(text)
    print(f"wrote {args.frames} frames to {args.trace} and their topology to {topo_path}")
    return 0


def cmd_topology_from_trace(args: argparse.Namespace) -> int:
    from macvlan_sim.fast.addresses import unicast_destinations
    from macvlan_sim.io.topology import parse_topology
    from macvlan_sim.io.trace_topology import topology_from_counts

    modes = tuple(args.modes.split(","))
    counts = unicast_destinations(args.trace, keep_going=args.keep_going)
    text = topology_from_counts(counts, modes=modes, devices=args.devices)
    parse_topology(text, f"<topology from {args.trace}>")
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    return 0


def _feed_with_progress(
    replayer: Any, records: Any, reader: Any, console: Console | None = None
) -> None:
    """A progress bar on stderr: by bytes of a regular file, or a running count of frames and
    bytes for a pipe, FIFO or ``<(...)`` whose size cannot be known."""
    size = reader.size
    if size is None:
        columns: tuple[Any, ...] = (
            TextColumn("replaying"),
            BarColumn(),
            TextColumn("{task.fields[frames]} frames, {task.completed:.0f} bytes read"),
        )
    else:
        columns = (
            TextColumn("replaying"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%  {task.fields[frames]} frames"),
            TimeRemainingColumn(),
        )
    console = console or Console(stderr=True)
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replay", total=None if size is None else max(size, 1), frames=0)
        count = 0

        def tick() -> None:
            nonlocal count
            count += 1
            if count % 2048 == 0:
                progress.update(task, completed=reader.bytes_read, frames=count)

        replayer.feed(records, tick)


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="macvlan-sim",
        description="Where does a frame go on a host with macvlan devices? The kernel's answer.",
    )
    parser.add_argument("--version", action="version", version=f"macvlan-sim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sc = sub.add_parser("scenario", help="run a scenario (topology + frames, JSON)")
    sc_sub = sc.add_subparsers(dest="action", required=True)
    run = sc_sub.add_parser("run", help="print the emulator's result for a scenario")
    run.add_argument("file", help="scenario JSON file")
    run.add_argument("-o", "--output", help="write the result here instead of stdout")
    run.add_argument("--plain", action="store_true", help="no extras (paths, drops, queued)")
    run.add_argument("--hash-filters", action="store_true", help="salted hash device filters")
    run.add_argument("--seed", type=SEED, default=0, help="seed for salts and random MACs")
    run.set_defaults(func=cmd_scenario_run)

    rp = sub.add_parser("replay", help="replay a pcap/pcapng trace into the lower")
    rp.add_argument("trace", help="pcap or pcapng file")
    rp.add_argument(
        "--topology",
        help="topology file (default: the bundled one); 'auto': macvlans for the trace's "
        "busiest unicast MACs",
    )
    rp.add_argument(
        "--engine",
        choices=("fast", "exact"),
        default="fast",
        help="fast: vectorised, identical results (default); exact: the reference engine",
    )
    rp.add_argument(
        "--workers", type=integer(0), default=0, help="run shards on a local Dask cluster"
    )
    rp.add_argument("--scheduler", help="run shards on the Dask cluster at this address")
    rp.add_argument("--deliveries", help="per-frame delivery arrays to this Parquet file")
    rp.add_argument(
        "--index-cache",
        action="store_true",
        help="keep the trace's index beside it (TRACE.mvsidx) and reuse it (fast engine)",
    )
    rp.add_argument(
        "--bc-rate",
        type=integer(1),
        help="serve the broadcast queue at this many frames/s of trace time (default: "
        "drained after every frame)",
    )
    rp.add_argument(
        "--out",
        help="write one pcap per observation point into this directory (created if missing; "
        "a directory that is not empty is refused unless --force)",
    )
    rp.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --out directory: first remove only the files an earlier "
        "replay listed in its .macvlan-sim-replay manifest; other files are left alone",
    )
    rp.add_argument("--json", action="store_true", help="print the statistics as JSON")
    rp.add_argument("--keep-going", action="store_true", help="skip and count bad records")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_replay)

    tp = sub.add_parser("topology", help="check and show a topology file")
    tp_sub = tp.add_subparsers(dest="action", required=True)
    show = tp_sub.add_parser("show", help="apply a topology file and show the result")
    show.add_argument("file", nargs="?", help="topology file (default: the bundled one)")
    show.set_defaults(func=cmd_topology_show)
    ft = tp_sub.add_parser("from-trace", help="a topology whose macvlans own a trace's MACs")
    ft.add_argument("trace", help="pcap or pcapng file")
    ft.add_argument("--modes", default="bridge", help="macvlan modes, taken in turn (a,b,...)")
    ft.add_argument("--devices", type=integer(0), default=64, help="at most this many macvlans")
    ft.add_argument("-o", "--output", help="write the topology here instead of stdout")
    ft.add_argument("--keep-going", action="store_true", help="skip and count bad records")
    ft.set_defaults(func=cmd_topology_from_trace)

    gn = sub.add_parser("gen", help="write a synthetic trace and the topology it is meant for")
    gn.add_argument("trace", help="pcap file to write")
    gn.add_argument("--frames", type=integer(0), default=100_000)
    gn.add_argument("--devices", type=integer(1), default=256)
    gn.add_argument("--sizes", default="64", help="frame size N, or a uniform range N-M")
    gn.add_argument("--modes", default="bridge", help="macvlan modes, taken in turn (a,b,...)")
    shares = ("broadcast", 0.1), ("multicast", 0.0), ("unknown", 0.05)
    shares += ("tagged", 0.0), ("source", 0.0), ("hairpin", 0.0)
    for share, default in shares:
        gn.add_argument(f"--{share}", type=float, default=default, help=f"{share} share (0-1)")
    gn.add_argument("--seed", type=SEED, default=0)
    gn.add_argument("--topology-out", help="where to write the topology (default: TRACE.topo)")
    gn.set_defaults(func=cmd_gen)

    _add_verify_kernel(sub)
    _add_teach(sub)
    _add_live(sub)
    return parser


def _add_teach(sub: Any) -> None:
    from macvlan_sim.cli.teach import add_arguments

    add_arguments(sub)


def _add_live(sub: Any) -> None:
    from macvlan_sim.cli.live import add_arguments

    add_arguments(sub, _load_topology)


def _add_verify_kernel(sub: Any) -> None:
    from macvlan_sim.verify.verify_kernel import add_arguments

    add_arguments(sub)


def _errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [SimError, KernelError, OSError]
    from macvlan_sim.io.capture import CaptureError
    from macvlan_sim.verify.kernel import KernelHarnessError

    errors += [CaptureError, KernelHarnessError]
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        status = func(args)
        with writing_stdout():
            sys.stdout.flush()  # a full disk or a closed pipe shows up here, not at exit
        return status
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except _errors() as exc:
        return _fail(_one_line(exc))
    except KeyboardInterrupt:
        print("macvlan-sim: interrupted", file=sys.stderr)
        return 130


@contextmanager
def writing_stdout() -> Iterator[None]:
    """Name standard output in a write error (``> /dev/full`` gives a bare "[Errno 28]")."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise SimError(f"writing to standard output: {exc.strerror or exc}") from None


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, exit 0, every time.

    Python would flush stdout again at exit and print "Exception ignored ... BrokenPipeError";
    pointing stdout at /dev/null first makes that flush a no-op.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 0


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
