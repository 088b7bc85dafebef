"""The vectorised fast path: whole traces classified by class, with the exact engine's answer.

``replay(trace, topology)`` is the entry point; see :mod:`macvlan_sim.fast.replay`.
"""

from macvlan_sim.fast.replay import FastResult, replay

__all__ = ["FastResult", "replay"]
