"""Errors the configuration layer raises, carrying the errno the kernel would return."""

from __future__ import annotations

import errno as _errno


class KernelError(Exception):
    """A configuration step the kernel refuses. ``errno_name`` is what netlink would report."""

    def __init__(self, errno_name: str, message: str) -> None:
        super().__init__(f"{errno_name}: {message}")
        self.errno_name = errno_name
        self.errno = getattr(_errno, errno_name, 0)
        self.message = message


class SimError(Exception):
    """Bad input to the simulator itself (a topology line, a scenario field, a frame)."""
