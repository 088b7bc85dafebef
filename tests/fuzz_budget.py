"""How much fuzzing a run does: a short budget in CI, a long one by hand (``make fuzz``).

Property tests marked ``fuzz`` take their example count from :func:`fuzz_settings`:
``max_examples`` is the CI budget given by the test, unless ``MACVLAN_SIM_FUZZ_EXAMPLES`` says
otherwise (``make fuzz`` sets 20000). Shared by every fuzz test of the suite.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_ENV = "MACVLAN_SIM_FUZZ_EXAMPLES"


def fuzz_examples(ci_budget: int) -> int:
    """The example count for one property: the environment's, or ``ci_budget``."""
    value = os.environ.get(FUZZ_ENV, "").strip()
    if not value:
        return ci_budget
    count = int(value)
    if count < 1:
        raise ValueError(f"{FUZZ_ENV} must be a positive number of examples, not {value!r}")
    return count


def fuzz_settings(ci_budget: int) -> settings:
    """Hypothesis settings for a fuzz property (no deadline: file I/O times vary)."""
    return settings(
        max_examples=fuzz_examples(ci_budget),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
