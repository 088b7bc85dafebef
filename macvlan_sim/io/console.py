"""The rich console every command prints its tables on.

Rich handles a broken pipe itself by exiting with status 1; ours lets ``BrokenPipeError`` reach
the CLI's ``main``, so every command (replay, live, verify-kernel, explain, ...) stops on
``| head`` the same quiet way, with status 0.
"""

from __future__ import annotations

import sys

from rich.console import Console


class QuietPipeConsole(Console):
    """A console whose broken pipe is an ordinary ``BrokenPipeError``."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def stdout_console(width: int = 160) -> Console:
    """Rich reads the terminal's width; piped output gets room for the wide tables."""
    return QuietPipeConsole() if sys.stdout.isatty() else QuietPipeConsole(width=width)
