"""The one error the live frontend raises: a :class:`SimError`, so the CLI prints one line."""

from __future__ import annotations

from macvlan_sim.model.errors import SimError


class LiveError(SimError):
    """Something outside the emulator stops the live run (privileges, the interface, a name)."""
