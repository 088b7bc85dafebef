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
    for changed in reversed(_promisc_chain(dev, inc)):
        set_rx_mode(changed)


def _bump_promiscuity(dev: NetDevice, inc: int) -> bool:
    """``__dev_set_promiscuity``; returns whether IFF_PROMISC changed."""
    changed = _promisc_chain(dev, inc)
    for below in reversed(changed[1:]):
        set_rx_mode(below)
    return bool(changed)


def _promisc_chain(dev: NetDevice | None, inc: int) -> list[NetDevice]:
    """Bump ``dev``'s count; while its flag flips, ``ndo_change_rx_flags`` passes the change
    to the device below: a macvlan only while it is up (and a passthru macvlan not PROMISC:
    it manages that itself); a VLAN device whether up or down (6.18's
    ``vlan_dev_change_rx_flags``, §17). Returns the devices whose flag flipped, top first."""
    return _flag_chain(dev, inc, "promiscuity", "promisc")


def set_allmulti(dev: NetDevice | None, inc: int) -> None:
    """``dev_set_allmulti``: reference counted like promiscuity, passed down the same way."""
    for flipped in reversed(_flag_chain(dev, inc, "allmulti", "allmulti_flag")):
        set_rx_mode(flipped)


def _flag_chain(dev: NetDevice | None, inc: int, count: str, flag: str) -> list[NetDevice]:
    """Add ``inc`` to the u32 reference count ``count``; while the flag it drives flips,
    pass ±1 on to the device below. A loop, not recursion: stacks of any depth work."""
    changed: list[NetDevice] = []
    while dev is not None:
        before = getattr(dev, flag)
        setattr(dev, count, (getattr(dev, count) + inc) % _U32)
        if before == getattr(dev, flag):
            break
        changed.append(dev)
        if isinstance(dev, MacvlanDevice) and (
            not dev.up or (dev.port is not None and dev.port.passthru and flag == "promisc")
        ):
            break
        inc = 1 if getattr(dev, flag) else -1
        dev = _sync_target(dev)
    return changed


def set_rx_mode(dev: NetDevice | None) -> None:
    """``__dev_set_rx_mode``: nothing happens on a device that is down.

    A VLAN device's and a macvlan's rx_mode sync their lists into the device below and run
    its rx_mode; a macvlan then recomputes its port's filters. Walked as a loop (the port
    filters afterwards, innermost first) so that a stack of any depth works."""
    ports: list[MacvlanPort] = []
    while dev is not None and dev.up:
        if isinstance(dev, MacvlanDevice):
            dev.mc_filter = compute_device_filter(dev)
            if dev.port is not None:
                ports.append(dev.port)
            dev = dev.port_lower
        elif isinstance(dev, VlanDevice):
            dev = dev.link
        else:
            if isinstance(dev, LowerDevice):
                _lower_unicast_mode(dev)
            break
    for port in reversed(ports):
        recompute_port_filters(port)


def _lower_unicast_mode(dev: LowerDevice) -> None:
    """A device without IFF_UNICAST_FLT goes promiscuous while its unicast list is non-empty."""
    if dev.has_unicast_filter:
        return
    want = dev.has_uc_addresses()
    if want and not dev.uc_promisc:
        dev.uc_promisc = True
        _bump_promiscuity(dev, 1)
    elif not want and dev.uc_promisc:
        dev.uc_promisc = False
        _bump_promiscuity(dev, -1)


def recompute_port_filters(port: MacvlanPort) -> None:
    port.mc_filter = compute_port_filter(port.lower, 0)
    recompute_bc_filter(port)


def recompute_bc_filter(port: MacvlanPort) -> None:
    """``macvlan_recompute_bc_filter``: a negative cutoff empties it (everything inline)."""
    if port.bc_cutoff < 0:
        port.bc_filter = McFilter()
    else:
        port.bc_filter = compute_port_filter(port.lower, port.bc_cutoff)
