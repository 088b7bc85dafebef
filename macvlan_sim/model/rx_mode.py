"""Promiscuity, all-multicast and ``ndo_set_rx_mode`` propagation between stacked devices.

This is where a macvlan coming up makes a veth lower promiscuous (its MAC lands in the lower's
unicast list, which a device without a unicast filter can only honour by going promiscuous),
where a device's ALLMULTI reaches the lower, and where filters get recomputed (§7, §8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macvlan_sim.model.devices import LowerDevice, MacvlanDevice, McFilter, NetDevice, VlanDevice
from macvlan_sim.model.filters import compute_device_filter, compute_port_filter

if TYPE_CHECKING:
    from macvlan_sim.model.port import MacvlanPort

_U32 = 1 << 32


def _sync_target(dev: NetDevice) -> NetDevice | None:
    """The device ``dev`` syncs its address lists into and propagates flags to."""
    if isinstance(dev, MacvlanDevice):
        return dev.port_lower
    return dev.link


def set_promiscuity(dev: NetDevice, inc: int) -> None:
    """``dev_set_promiscuity``: a u32 reference count (wrap-around kept, §10 passthru quirk),
    then propagation to the lower and an rx_mode recomputation."""
    if _bump_promiscuity(dev, inc):
        set_rx_mode(dev)


def _bump_promiscuity(dev: NetDevice, inc: int) -> bool:
    """``__dev_set_promiscuity``; returns whether IFF_PROMISC changed."""
    before = dev.promisc
    dev.promiscuity = (dev.promiscuity + inc) % _U32
    changed = before != dev.promisc
    if changed:
        _change_rx_flags(dev, promisc_change=True)
    return changed


def set_allmulti(dev: NetDevice, inc: int) -> None:
    """``dev_set_allmulti``: reference counted like promiscuity."""
    before = dev.allmulti_flag
    dev.allmulti = (dev.allmulti + inc) % _U32
    if before != dev.allmulti_flag:
        _change_rx_flags(dev, promisc_change=False)
        set_rx_mode(dev)


def _change_rx_flags(dev: NetDevice, *, promisc_change: bool) -> None:
    """``ndo_change_rx_flags``: a macvlan passes the change to its lower only while it is up
    (and a passthru macvlan not PROMISC: it manages that itself); a VLAN device passes it to
    its real device whether up or down (6.18's ``vlan_dev_change_rx_flags``, §17)."""
    target = _sync_target(dev)
    if target is None or (isinstance(dev, MacvlanDevice) and not dev.up):
        return
    if promisc_change:
        if isinstance(dev, MacvlanDevice) and dev.port is not None and dev.port.passthru:
            return
        set_promiscuity(target, 1 if dev.promisc else -1)
    else:
        set_allmulti(target, 1 if dev.allmulti_flag else -1)


def set_rx_mode(dev: NetDevice) -> None:
    """``__dev_set_rx_mode``: nothing happens on a device that is down."""
    if not dev.up:
        return
    if isinstance(dev, MacvlanDevice):
        macvlan_set_mac_lists(dev)
    elif isinstance(dev, VlanDevice):
        if dev.link is not None:
            set_rx_mode(dev.link)
    elif isinstance(dev, LowerDevice):
        _lower_unicast_mode(dev)


def _lower_unicast_mode(dev: LowerDevice) -> None:
    """A device without IFF_UNICAST_FLT goes promiscuous while its unicast list is non-empty."""
    if dev.has_unicast_filter:
        return
    want = bool(dev.uc_addresses())
    if want and not dev.uc_promisc:
        dev.uc_promisc = True
        _bump_promiscuity(dev, 1)
    elif not want and dev.uc_promisc:
        dev.uc_promisc = False
        _bump_promiscuity(dev, -1)


def macvlan_set_mac_lists(dev: MacvlanDevice) -> None:
    """``macvlan_set_mac_lists``: own filter, sync lists into the lower, then port filters."""
    dev.mc_filter = compute_device_filter(dev)
    lower = dev.port_lower
    if lower is not None:
        set_rx_mode(lower)
    if dev.port is not None:
        recompute_port_filters(dev.port)


def recompute_port_filters(port: MacvlanPort) -> None:
    port.mc_filter = compute_port_filter(port.lower, 0)
    recompute_bc_filter(port)


def recompute_bc_filter(port: MacvlanPort) -> None:
    """``macvlan_recompute_bc_filter``: a negative cutoff empties it (everything inline)."""
    if port.bc_cutoff < 0:
        port.bc_filter = McFilter()
    else:
        port.bc_filter = compute_port_filter(port.lower, port.bc_cutoff)
