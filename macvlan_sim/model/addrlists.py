"""Per-device unicast and multicast address lists (``netdev_hw_addr_list``).

The kernel keeps, per address, who holds it: the user (``ip maddr add``, "global"), protocol
joins (IPv4 all-hosts, IPv6 all-nodes, GVRP), and upper devices that synced their lists down
(``dev_mc_sync``). The port filters of §7 depend on the *synced* count, so the model keeps the
owners apart instead of a plain set. Synced entries are what the UP upper devices hold, which
is what the kernel's sync-on-every-change arrives at; the device keeps them as counts updated
when an address comes or goes (see ``NetDevice.mc_synced``), so that a host with thousands of
devices is set up in linear time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class OwnAddressList:
    """The addresses a device holds itself: a user ("global") mark and protocol references.
    ``on_change(addr, present)`` is called when an address enters or leaves the list."""

    def __init__(self) -> None:
        self._global: set[bytes] = set()
        self._refs: Counter[bytes] = Counter()
        self.on_change: Callable[[bytes, bool], None] | None = None

    def _changed(self, addr: bytes, before: bool) -> None:
        after = addr in self
        if after != before and self.on_change is not None:
            self.on_change(addr, after)

    def add_global(self, addr: bytes) -> None:
        """``dev_mc_add_global``: adding an address the user already added is a no-op."""
        before = addr in self
        self._global.add(addr)
        self._changed(addr, before)

    def del_global(self, addr: bytes) -> bool:
        """``dev_mc_del_global``; False (ENOENT) when the user never added it."""
        if addr not in self._global:
            return False
        self._global.discard(addr)
        self._changed(addr, True)
        return True

    def add_ref(self, addr: bytes) -> None:
        before = addr in self
        self._refs[addr] += 1
        self._changed(addr, before)

    def del_ref(self, addr: bytes) -> None:
        before = addr in self
        if self._refs[addr] > 0:
            self._refs[addr] -= 1
        if self._refs[addr] == 0:
            del self._refs[addr]
        self._changed(addr, before)

    def user_addresses(self) -> list[bytes]:
        """What ``ip maddr add`` put there (not protocol joins)."""
        return sorted(self._global)

    def addresses(self) -> list[bytes]:
        """In the order they were first added is not kept by the kernel's filter use: sorted."""
        return sorted(self._global | set(self._refs))

    def __contains__(self, addr: bytes) -> bool:
        return addr in self._global or self._refs[addr] > 0
