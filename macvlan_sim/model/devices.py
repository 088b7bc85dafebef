"""Network devices as the dispatch core sees them: the lower, VLAN sub-interfaces, macvlans.

Only state lives here; the rules that change it (open, stop, MAC change, flags) are in
:mod:`macvlan_sim.model.host` and :mod:`macvlan_sim.model.rx_mode`, and the receive/transmit
paths are in :mod:`macvlan_sim.datapath.receive` and :mod:`macvlan_sim.datapath.transmit`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from macvlan_sim.model.addrlists import OwnAddressList
from macvlan_sim.model.constants import (
    BROADCAST_MAC,
    DEFAULT_MTU,
    ETH_P_8021AD,
    ETH_P_8021Q,
    MACVLAN_DEFAULT_BC_QUEUE_LEN,
    MACVLAN_MC_FILTER_SZ,
    MacvlanFlag,
    Mode,
)
from macvlan_sim.model.mac import mc_hash

if TYPE_CHECKING:
    from macvlan_sim.model.port import MacvlanPort

_U32 = 1 << 32


@dataclass
class McFilter:
    """A device's or port's multicast filter as last computed (it can be stale, as in the kernel).

    ``addresses`` keeps the exact groups so that the default mode can match exactly; ``bits``
    holds the 256-bit hash filter the kernel really tests, used for port filters (salt 0,
    deterministic) and, in hash mode, for device filters.
    """

    all: bool = False
    addresses: frozenset[bytes] = frozenset()
    bits: frozenset[int] = frozenset()

    def bit_set(self, bit: int) -> bool:
        return self.all or bit in self.bits


@dataclass(eq=False)
class NetDevice:
    """What every ``net_device`` here has: a name, a MAC, state, flags and address lists."""

    name: str
    mac: bytes
    ifindex: int
    up: bool = False
    mtu: int = DEFAULT_MTU
    link: NetDevice | None = None
    #: ``promiscuity`` and ``allmulti`` are u32 reference counts, wrap-around included.
    promiscuity: int = 0
    allmulti: int = 0
    #: The user-level flags (``ip link set X promisc on``), i.e. the kernel's ``gflags``.
    user_promisc: bool = False
    user_allmulti: bool = False
    mc: OwnAddressList = field(default_factory=OwnAddressList)
    #: Unicast addresses added directly by open (``dev_uc_add``), refcounted.
    uc: Counter[bytes] = field(default_factory=Counter)
    #: VLAN sub-interfaces on this device by (TPID, VID): the ``vlan_group``.
    vlans: dict[tuple[int, int], VlanDevice] = field(default_factory=dict)
    #: Devices stacked directly on this one (VLANs, macvlans whose link is this device).
    uppers: list[NetDevice] = field(default_factory=list)
    #: The macvlan port whose ``rx_handler`` is registered on this device, if any.
    rx_port: MacvlanPort | None = None
    #: Whether the lower's/VLAN device's own stack is observed (``NAME:stack``), as the
    #: kernel harness does with protocol sockets bound to it; it also keeps the kernel from
    #: counting "no protocol handler" drops on it.
    observe_stack: bool = False
    broadcast: bytes = BROADCAST_MAC
    #: The device this one syncs its address lists into (whose ``uppers`` list it is in).
    synced_into: NetDevice | None = None
    #: ``ha->synced`` per multicast address: how many UP uppers hold it (kept up to date as
    #: addresses come and go and uppers go up and down, never recomputed from scratch).
    mc_synced: Counter[bytes] = field(default_factory=Counter)
    #: The whole multicast list (own entries and synced ones) and, for the hash filter, how
    #: many of its addresses fall on each bit under this device's salt.
    mc_full: set[bytes] = field(default_factory=set)
    mc_full_bits: Counter[int] = field(default_factory=Counter)
    #: Per port-filter cutoff asked for so far: how many addresses with more than that many
    #: synced holders fall on each (salt 0) bit.
    mc_bits_over: dict[int, Counter[int]] = field(default_factory=dict)
    #: IPv6 (with IPv6 on) dropped its link-layer joins at a down (``ipv6_mc_down``); they
    #: come back at the next up (``ipv6_mc_up``).
    ipv6_mc_dropped: bool = False

    kind = "device"

    def __post_init__(self) -> None:
        self.mc.on_change = self._own_mc_changed

    @property
    def promisc(self) -> bool:
        """``IFF_PROMISC``: set while the reference count is non-zero."""
        return self.promiscuity % _U32 != 0

    @property
    def allmulti_flag(self) -> bool:
        return self.allmulti % _U32 != 0

    def synced_uppers(self) -> list[NetDevice]:
        """The upper devices whose address lists are synced into this one: the UP ones."""
        return [u for u in self.uppers if u.up]

    def mc_addresses(self) -> list[bytes]:
        """This device's whole multicast list: its own entries plus what UP uppers synced."""
        return sorted(self.mc_full)

    def mc_synced_count(self, addr: bytes) -> int:
        """``ha->synced``: how many UP upper devices hold ``addr`` (this device's own joins: 0)."""
        return self.mc_synced.get(addr, 0)

    @property
    def hash_salt(self) -> int:
        return 0

    def bits_over(self, cutoff: int) -> Counter[int]:
        """Salt-0 filter bits of the addresses more than ``cutoff`` UP uppers hold, counted
        (built once per cutoff, then kept up to date)."""
        counts = self.mc_bits_over.get(cutoff)
        if counts is None:
            counts = Counter(mc_hash(a) for a, n in self.mc_synced.items() if n > cutoff)
            self.mc_bits_over[cutoff] = counts
        return counts

    # -- keeping the synced counts ---------------------------------------------------------
    def _own_mc_changed(self, addr: bytes, present: bool) -> None:
        if not self.mc_synced.get(addr):
            _propagate([(self, addr, present)])

    def sync_mc(self, delta: int) -> None:
        """This device went up (+1) or down (-1): its whole list enters or leaves the
        synced counts of the device it syncs into (``dev_mc_sync``/``dev_mc_unsync``)."""
        target = self.synced_into
        if target is None:
            return
        work: list[tuple[NetDevice, bytes, bool]] = []
        for addr in list(self.mc_full):
            _bump_synced(target, addr, delta, work)
        _propagate(work)

    def has_uc_addresses(self) -> bool:
        """Whether :meth:`uc_addresses` is non-empty, without building it (stops at the first
        address found; a device's own entries are looked at first)."""
        stack: list[NetDevice] = [self]
        while stack:
            dev = stack.pop()
            if any(n > 0 for n in dev.uc.values()):
                return True
            stack.extend(dev.synced_uppers())
        return False

    def uc_addresses(self) -> list[bytes]:
        """Secondary unicast list: own ``dev_uc_add`` entries plus UP uppers' synced lists."""
        addrs: set[bytes] = set()
        stack: list[NetDevice] = [self]
        while stack:  # a loop, not recursion: stacks of any depth
            dev = stack.pop()
            addrs.update(a for a, n in dev.uc.items() if n > 0)
            stack.extend(dev.synced_uppers())
        return sorted(addrs)


def _propagate(work: list[tuple[NetDevice, bytes, bool]]) -> None:
    """An address entered (or left) a device's whole list: record it there, and pass it on to
    the device it syncs into while it is up — iteratively, however deep the stack."""
    while work:
        dev, addr, present = work.pop()
        bit = mc_hash(addr, dev.hash_salt)
        if present:
            dev.mc_full.add(addr)
            dev.mc_full_bits[bit] += 1
        else:
            dev.mc_full.discard(addr)
            _uncount(dev.mc_full_bits, bit)
        if dev.up and dev.synced_into is not None:
            _bump_synced(dev.synced_into, addr, 1 if present else -1, work)


def _bump_synced(
    dev: NetDevice, addr: bytes, delta: int, work: list[tuple[NetDevice, bytes, bool]]
) -> None:
    old = dev.mc_synced.get(addr, 0)
    new = old + delta
    if new > 0:
        dev.mc_synced[addr] = new
    else:
        dev.mc_synced.pop(addr, None)
    for cutoff, counts in dev.mc_bits_over.items():
        if (old > cutoff) != (new > cutoff):
            if new > cutoff:
                counts[mc_hash(addr)] += 1
            else:
                _uncount(counts, mc_hash(addr))
    own = addr in dev.mc
    if (old > 0 or own) != (new > 0 or own):
        work.append((dev, addr, new > 0))


def _uncount(counts: Counter[int], key: int) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


@dataclass(eq=False)
class LowerDevice(NetDevice):
    """The real device the macvlans sit on: a veth end (no unicast filter) or a filtering NIC.

    ``filter_slots`` is None for a veth-like device (no ``IFF_UNICAST_FLT``: it goes
    promiscuous as soon as its unicast list is non-empty). A number makes it a NIC with that
    many exact-match entries shared by unicast and multicast, modelled on virtio-net.
    """

    filter_slots: int | None = None
    #: ``dev->uc_promisc``: promiscuity taken because the unicast list could not be filtered.
    uc_promisc: bool = False
    #: The MAC it had before a passthru macvlan changed it, restored when that device goes.
    perm_mac: bytes | None = None
    kind = "lower"

    @property
    def has_unicast_filter(self) -> bool:
        return self.filter_slots is not None


@dataclass(eq=False)
class VlanDevice(NetDevice):
    """An 802.1Q/802.1ad sub-interface (``ip link add link X name X.10 type vlan id 10``)."""

    vid: int = 0
    tpid: int = ETH_P_8021Q
    reorder_hdr: bool = True
    gvrp: bool = False
    mvrp: bool = False
    loose_binding: bool = False
    #: A VLAN device that was opened and stopped turns its carrier off (``vlan_dev_stop``);
    #: one never opened keeps the carrier it copied from its real device at registration.
    was_stopped: bool = False
    kind = "vlan"

    @property
    def protocol_word(self) -> str:
        return "802.1ad" if self.tpid == ETH_P_8021AD else "802.1Q"


@dataclass(eq=False)
class MacvlanDevice(NetDevice):
    """A macvlan: its mode, flags, own filter and broadcast-queue request."""

    mode: Mode = Mode.VEPA
    flags: MacvlanFlag = MacvlanFlag.NONE
    bc_queue_len_req: int = MACVLAN_DEFAULT_BC_QUEUE_LEN
    #: The device's own multicast filter, recomputed by ``macvlan_set_mac_lists``.
    mc_filter: McFilter = field(default_factory=McFilter)
    #: Salt for the hash filter mode (the kernel uses a pointer; we use a seeded number).
    filter_salt: int = 0
    #: The port this device belongs to (on its lower).
    port: MacvlanPort | None = None
    kind = "macvlan"

    @property
    def hash_salt(self) -> int:
        return self.filter_salt

    @property
    def port_lower(self) -> NetDevice | None:
        """``vlan->lowerdev``: where the port sits (never another macvlan)."""
        return self.port.lower if self.port is not None else None

    @property
    def nodst(self) -> bool:
        return bool(self.flags & MacvlanFlag.NODST)

    @property
    def nopromisc(self) -> bool:
        return bool(self.flags & MacvlanFlag.NOPROMISC)


FULL_FILTER = McFilter(all=True, bits=frozenset(range(MACVLAN_MC_FILTER_SZ)))
