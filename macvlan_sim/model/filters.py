"""Multicast filters: a device's own (§8) and the port's ``mc_filter``/``bc_filter`` (§7).

Filters are computed at the moments the kernel computes them and then stored, so a filter
can be stale exactly when the kernel's is (e.g. after a device goes down).
"""

from __future__ import annotations

from macvlan_sim.model.devices import FULL_FILTER, MacvlanDevice, McFilter, NetDevice
from macvlan_sim.model.mac import mc_hash


def compute_device_filter(dev: MacvlanDevice) -> McFilter:
    """``macvlan_compute_filter`` for a device: everything if PROMISC/ALLMULTI, else its list
    (own and synced entries alike) plus its broadcast address. Built from the counts the
    device keeps (no per-address work), so thousands of groups stay cheap."""
    if dev.promisc or dev.allmulti_flag:
        return FULL_FILTER
    return McFilter(
        all=False,
        addresses=frozenset(dev.mc_full) | {dev.broadcast},
        bits=frozenset(dev.mc_full_bits) | {mc_hash(dev.broadcast, dev.filter_salt)},
    )


def compute_port_filter(lower: NetDevice, cutoff: int) -> McFilter:
    """``macvlan_compute_filter`` for the port (salt 0): lower's entries with more than
    ``cutoff`` synced subscribers, plus the broadcast bit; everything if the lower is
    PROMISC or ALLMULTI. A port filter is only ever tested by bit (as in the kernel), so
    only the bits are kept (``addresses`` stays empty)."""
    if lower.promisc or lower.allmulti_flag:
        return FULL_FILTER
    bits = frozenset(lower.bits_over(cutoff)) | {mc_hash(lower.broadcast, 0)}
    return McFilter(all=False, bits=bits)


def device_accepts(
    dev: MacvlanDevice,
    dst: bytes,
    hash_mode: bool,
    false_positives: frozenset[tuple[str, bytes]] = frozenset(),
) -> bool:
    """Does ``dev``'s own filter pass ``dst``?

    The kernel tests a salted hash bit, which lets through about k/256 of the groups a device
    never joined (the salt is a kernel pointer, so which ones cannot be predicted). By default
    we match exactly; ``hash_mode`` reproduces false positives with a seeded salt, and
    ``false_positives`` names (device, group) pairs known to pass a real kernel's filter
    (``verify-kernel`` uses it to tell such copies from real disagreements).
    """
    flt = dev.mc_filter
    if flt.all or (dev.name, dst) in false_positives:
        return True
    if hash_mode:
        return mc_hash(dst, dev.filter_salt) in flt.bits
    return dst in flt.addresses
