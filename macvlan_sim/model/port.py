"""The macvlan port: the per-lower table that ``macvlan_handle_frame`` consults (spec §1, §3).

Buckets are kept exactly as the kernel keeps them (256 by ``macvlan_eth_hash``, newest first)
because bucket order *is* the order in which a broadcast reaches devices, and tests and the
explainer show that order.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from macvlan_sim.model.constants import (
    MACVLAN_DEFAULT_BC_CUTOFF,
    MACVLAN_DEFAULT_BC_QUEUE_LEN,
    MACVLAN_HASH_SIZE,
)
from macvlan_sim.model.devices import MacvlanDevice, McFilter, NetDevice
from macvlan_sim.model.mac import eth_hash


@dataclass
class QueuedBroadcast:
    """An entry of ``port->bc_queue``: the clone, its recorded sender, and whose frame it was."""

    skb: Any
    src: MacvlanDevice | None
    frame_index: int


@dataclass(eq=False)
class MacvlanPort:
    """``struct macvlan_port``: registered as the rx_handler of ``lower``."""

    lower: NetDevice
    vlans: list[MacvlanDevice] = field(default_factory=list)
    buckets: list[list[MacvlanDevice]] = field(
        default_factory=lambda: [[] for _ in range(MACVLAN_HASH_SIZE)]
    )
    source_buckets: list[list[tuple[bytes, MacvlanDevice]]] = field(
        default_factory=lambda: [[] for _ in range(MACVLAN_HASH_SIZE)]
    )
    mc_filter: McFilter = field(default_factory=McFilter)
    bc_filter: McFilter = field(default_factory=McFilter)
    bc_queue: deque[QueuedBroadcast] = field(default_factory=deque)
    bc_queue_len_used: int = MACVLAN_DEFAULT_BC_QUEUE_LEN
    bc_cutoff: int = MACVLAN_DEFAULT_BC_CUTOFF
    passthru: bool = False
    #: ``hashed_devices`` in order, rebuilt lazily after the table changes.
    _order: list[MacvlanDevice] | None = None
    #: Each device's broadcast queue length request, and how many devices make each request.
    _bc_requests: dict[MacvlanDevice, int] = field(default_factory=dict)
    _bc_request_counts: Counter[int] = field(default_factory=Counter)

    # -- vlan_hash: UP devices by MAC --------------------------------------------------------
    def hash_add(self, dev: MacvlanDevice) -> None:
        """``macvlan_hash_add``: head insertion, so the newest-opened device comes first."""
        self.buckets[eth_hash(dev.mac)].insert(0, dev)
        self._order = None

    def hash_del(self, dev: MacvlanDevice) -> None:
        for bucket in self.buckets:
            if dev in bucket:
                bucket.remove(dev)
                self._order = None
                return

    def lookup(self, mac: bytes) -> MacvlanDevice | None:
        """``macvlan_hash_lookup``: the first UP device in the bucket with this MAC."""
        for dev in self.buckets[eth_hash(mac)]:
            if dev.mac == mac:
                return dev
        return None

    def hashed_devices(self) -> list[MacvlanDevice]:
        """Bucket 0 to 255, head first: the order ``macvlan_broadcast`` walks."""
        if self._order is None:
            self._order = [dev for bucket in self.buckets for dev in bucket]
        return self._order

    # -- vlan_source_hash --------------------------------------------------------------------
    def source_add(self, mac: bytes, dev: MacvlanDevice) -> None:
        """``macvlan_hash_add_source``: adding an entry that exists is a no-op."""
        bucket = self.source_buckets[eth_hash(mac)]
        if (mac, dev) not in bucket:
            bucket.insert(0, (mac, dev))

    def source_del(self, mac: bytes, dev: MacvlanDevice) -> None:
        bucket = self.source_buckets[eth_hash(mac)]
        if (mac, dev) in bucket:
            bucket.remove((mac, dev))

    def source_flush(self, dev: MacvlanDevice) -> None:
        for bucket in self.source_buckets:
            bucket[:] = [(m, d) for m, d in bucket if d is not dev]

    def source_entries(self, mac: bytes) -> list[MacvlanDevice]:
        """Devices listing ``mac`` as a source, newest entry first (§5.1)."""
        return [d for m, d in self.source_buckets[eth_hash(mac)] if m == mac]

    def source_list(self, dev: MacvlanDevice) -> list[bytes]:
        return [m for bucket in self.source_buckets for m, d in bucket if d is dev]

    # -- broadcast queue length ---------------------------------------------------------------
    def set_bc_request(self, dev: MacvlanDevice, request: int) -> None:
        """A device asks for a broadcast queue length (at creation or ``changelink``)."""
        if dev in self._bc_requests:
            _uncount(self._bc_request_counts, self._bc_requests[dev])
        dev.bc_queue_len_req = request
        self._bc_requests[dev] = request
        self._bc_request_counts[request] += 1
        self.update_bc_queue_len()

    def drop_bc_request(self, dev: MacvlanDevice) -> None:
        """A device leaves the port: its request no longer counts."""
        if dev in self._bc_requests:
            _uncount(self._bc_request_counts, self._bc_requests.pop(dev))
        self.update_bc_queue_len()

    def update_bc_queue_len(self) -> None:
        """``update_port_bc_queue_len``: the maximum request over all devices, down ones too.
        Requests are kept as a multiset, so the n-th device costs O(distinct requests)."""
        self.bc_queue_len_used = max(self._bc_request_counts, default=0)

    def first_vlan(self) -> MacvlanDevice | None:
        return self.vlans[0] if self.vlans else None


def _uncount(counts: Counter[int], value: int) -> None:
    counts[value] -= 1
    if counts[value] <= 0:
        del counts[value]
