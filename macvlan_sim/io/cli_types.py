"""Types for numeric command-line options: each checks its range at parse time, so a bad
value is one line naming the option (``--settle nan``, ``--frames -2``) instead of a crash,
silently running nothing, or a run that reports false results."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from macvlan_sim.io.text import shorten


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An int in ``[low, high]`` (no upper bound when ``high`` is None)."""
    span = f"from {low} to {high}" if high is not None else f"{low} or more"

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number {span}, not {shorten(text)!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {span}, not {shorten(text)}")
        return value

    parse.__name__ = "integer"
    return parse


def seconds(low: float, high: float) -> Callable[[str], float]:
    """A finite number of seconds, ``low < value <= high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low < value <= high):
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds above {low:g} and at most {high:g}, "
                f"not {shorten(text)!r}"
            )
        return value

    parse.__name__ = "seconds"
    return parse


#: Seeds feed Python's random.Random and are printed back to the user: keep them plain.
SEED = integer(0, 2**64 - 1)


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line (``PROG: error: …``) and exit status 2, like every
    other error of the tool; ``--help`` still shows the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
