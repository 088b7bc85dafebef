"""Per-device counters with ``rtnl_link_stats64`` names, and a per-frame journal of changes.

Every increment goes through :class:`CounterBook` so that a frame's result can list exactly
which counters it moved (the scenario result's per-frame ``counters``), while the devices keep
running totals (``counters.after``).
"""

from __future__ import annotations

from collections import defaultdict

#: The fields reported, in the order ``ip -s link`` users expect.
FIELDS = (
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
)


class CounterBook:
    """Totals per device plus the deltas since :meth:`start_frame`."""

    def __init__(self) -> None:
        self.totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        self.frame_deltas: dict[str, dict[str, int]] = {}

    def start_frame(self) -> None:
        self.frame_deltas = {}

    def add(self, dev: str, field: str, amount: int = 1) -> None:
        """Add ``amount`` to ``dev``'s ``field`` (``amount`` may be 0: a packet of 0 bytes)."""
        if field not in FIELDS:
            raise KeyError(field)
        self.totals[dev][field] += amount
        if amount:
            per_dev = self.frame_deltas.setdefault(dev, {})
            per_dev[field] = per_dev.get(field, 0) + amount

    def ensure(self, dev: str) -> None:
        """Make ``dev`` appear in the totals even if nothing was counted on it."""
        self.totals[dev]

    def rename(self, old: str, new: str) -> None:
        if old in self.totals:
            self.totals[new] = self.totals.pop(old)

    def forget(self, dev: str) -> None:
        self.totals.pop(dev, None)

    def nonzero_totals(self) -> dict[str, dict[str, int]]:
        return {dev: {k: v for k, v in c.items() if v} for dev, c in self.totals.items()}
