"""Live-kernel harness: run a scenario through the real macvlan driver in a private netns.

Public API::

    run_scenario_on_kernel(scenario, *, settle=DEFAULT_SETTLE, keep_ns=False) -> dict
    kernel_available() -> tuple[bool, str]
    KernelUnavailable, Unsupported

See docs/kernel-harness.md for the observer set, timing and known limits.
"""

from .harness import (
    DEFAULT_SETTLE,
    KernelHarnessError,
    KernelUnavailable,
    Unsupported,
    kernel_available,
    parse_scenario,
    run_scenario_on_kernel,
)
from .netns import HarnessTerminated

__all__ = [
    "DEFAULT_SETTLE",
    "HarnessTerminated",
    "KernelHarnessError",
    "KernelUnavailable",
    "Unsupported",
    "kernel_available",
    "parse_scenario",
    "run_scenario_on_kernel",
]
