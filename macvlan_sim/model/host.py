"""The host: devices and the configuration operations the kernel allows on them.

Each public method is one thing a user does with ``ip`` (or netlink), and mirrors the kernel
function that does it — ``macvlan_common_newlink``, ``macvlan_changelink``, ``macvlan_open``,
``macvlan_stop``, ``macvlan_set_mac_address``, ``register_vlan_dev``, ``vlan_dev_open`` … —
including the errno the kernel answers with. Order matters (a MAC conflict is found at ``up``,
not at ``add``), so a topology is always built by applying operations in order.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

from macvlan_sim.model import rx_mode
from macvlan_sim.model.constants import (
    DEFAULT_MTU,
    ETH_MIN_MTU,
    ETH_P_802_2,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    GVRP_GROUP,
    IPV4_ALL_HOSTS,
    IPV6_ALL_NODES,
    IPV6_MIN_MTU,
    MACVLAN_DEFAULT_BC_QUEUE_LEN,
    MAX_NEST_DEV,
    MacaddrOp,
    MacvlanFlag,
    Mode,
)
from macvlan_sim.model.devices import LowerDevice, MacvlanDevice, NetDevice, VlanDevice
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.mac import format_mac, ipv6_solicited_node, is_group, is_valid_unicast
from macvlan_sim.model.port import MacvlanPort

WIRE_NAME = "wire"
DEFAULT_GLOBAL_PROTOCOLS = frozenset({ETH_P_IP, ETH_P_ARP, ETH_P_IPV6, ETH_P_802_2})
DEFAULT_WIRE_MAC = bytes.fromhex("02000000fffe")
_VALID_FLAGS = MacvlanFlag.NOPROMISC | MacvlanFlag.NODST
_MODES = {m.value for m in Mode}


@dataclass
class MacaddrChange:
    """An ``IFLA_MACVLAN_MACADDR_MODE`` request with its addresses."""

    op: MacaddrOp
    addresses: tuple[bytes, ...] = ()


class Host:
    """One network namespace: a lower device, its peer on the wire, and what is stacked on it.

    Every device joins IPv6 all-nodes (33:33:00:00:00:01) when it is registered, whatever
    ``ipv6`` says, as long as its MTU is at least 1280, and IPv4 all-hosts while it is up
    (spec §8). ``ipv6`` (``disable_ipv6=0``) adds what a device with working IPv6 does on top:
    the solicited-node group while up, and all its IPv6 link-layer joins dropped at each down
    until the next up. The kernel comparison harness runs with IPv6 disabled.
    ``hash_filters`` switches device multicast filters from exact matching to the kernel's
    salted 256-bit hash (false positives included); ``seed`` fixes the salts and random MACs.
    """

    def __init__(self, *, ipv6: bool = True, hash_filters: bool = False, seed: int = 0) -> None:
        self.devices: dict[str, NetDevice] = {}
        self.ipv6 = ipv6
        self.hash_filters = hash_filters
        self._rng = random.Random(seed)
        self._next_ifindex = 1
        self._macvlan_seq = 0
        self.lower: LowerDevice | None = None
        self.wire: NetDevice | None = None
        #: (device, group) pairs a real kernel's salted hash filter let through (verify-kernel).
        self.filter_false_positives: frozenset[tuple[str, bytes]] = frozenset()
        #: Protocols with a handler for every device (``/proc/net/ptype`` rows without a
        #: device): ip_rcv, arp_rcv, ipv6_rcv, and llc_rcv for 802.2 frames wherever the llc
        #: module is in (bridge/stp pull it in). A frame of another protocol that ends on a
        #: device nobody listens to is counted in that device's rx_dropped.
        self.global_protocols: set[int] = set(DEFAULT_GLOBAL_PROTOCOLS)

    # ------------------------------------------------------------------ lookup helpers
    def get(self, name: str) -> NetDevice:
        try:
            return self.devices[name]
        except KeyError:
            raise KernelError("ENODEV", f"no device named {name!r}") from None

    def macvlans(self) -> list[MacvlanDevice]:
        return [d for d in self.devices.values() if isinstance(d, MacvlanDevice)]

    def vlan_devices(self) -> list[VlanDevice]:
        return [d for d in self.devices.values() if isinstance(d, VlanDevice)]

    def _new_ifindex(self) -> int:
        self._next_ifindex += 1
        return self._next_ifindex

    def _check_new_name(self, name: str) -> None:
        if not name or len(name) > 15 or "/" in name or ":" in name or name.strip() != name:
            raise KernelError("EINVAL", f"invalid interface name {name!r}")
        if name in self.devices:
            raise KernelError("EEXIST", f"device {name!r} already exists")

    def random_mac(self) -> bytes:
        """``eth_hw_addr_random``: a locally administered unicast address (seeded here)."""
        mac = bytearray(self._rng.getrandbits(8) for _ in range(6))
        mac[0] = (mac[0] & 0xFE) | 0x02
        return bytes(mac)

    # ------------------------------------------------------------------ the lower and wire
    def add_lower(
        self,
        name: str = "lower",
        mac: bytes | None = None,
        *,
        filter_slots: int | None = None,
        mtu: int = DEFAULT_MTU,
        promisc: bool = False,
        wire_mac: bytes = DEFAULT_WIRE_MAC,
        up: bool = True,
    ) -> LowerDevice:
        """Declare the lower device (a veth end, or a NIC with ``filter_slots`` exact entries)
        and the wire peer that injects frames into it."""
        if self.lower is not None:
            raise SimError(f"a lower device is already declared ({self.lower.name})")
        self._check_new_name(name)
        mac = mac if mac is not None else self.random_mac()
        if not is_valid_unicast(mac):
            raise KernelError("EADDRNOTAVAIL", f"{format_mac(mac)} is not a valid unicast MAC")
        if filter_slots is not None and filter_slots < 0:
            raise SimError("a NIC needs a non-negative number of filter slots")
        if name == WIRE_NAME:
            raise SimError(f"{WIRE_NAME!r} is the name of the far end of the cable")
        lower = LowerDevice(
            name=name, mac=mac, ifindex=self._new_ifindex(), mtu=mtu, filter_slots=filter_slots
        )
        lower.observe_stack = True
        wire = NetDevice(name=WIRE_NAME, mac=wire_mac, ifindex=self._new_ifindex(), mtu=mtu)
        wire.kind = "wire"
        self.devices[name] = lower
        self.devices[WIRE_NAME] = wire
        self.lower, self.wire = lower, wire
        self._register(lower)
        self._register(wire)
        self.set_up(WIRE_NAME)
        if up:
            self.set_up(name)
        if promisc:
            self.set_promisc(name, True)
        return lower

    # ------------------------------------------------------------------ VLAN devices
    def add_vlan(
        self,
        name: str,
        link: str,
        vid: int,
        *,
        protocol: int = ETH_P_8021Q,
        mac: bytes | None = None,
        mtu: int | None = None,
        reorder_hdr: bool = True,
        gvrp: bool = False,
        mvrp: bool = False,
        loose_binding: bool = False,
    ) -> VlanDevice:
        """``register_vlan_dev``: one device per (link, protocol, VID)."""
        self._check_new_name(name)
        real = self.get(link)
        if real.kind == "wire":
            raise SimError("VLAN devices go on the host's side, not on the wire")
        if not 0 <= vid < 4095:
            raise KernelError("ERANGE", f"VLAN id {vid} is out of range (0-4094)")
        if protocol not in (ETH_P_8021Q, ETH_P_8021AD):
            raise KernelError("EPROTONOSUPPORT", f"VLAN protocol 0x{protocol:04x}")
        if (protocol, vid) in real.vlans:
            raise KernelError("EEXIST", f"{link} already has a VLAN device for that id")
        mac = mac if mac is not None else real.mac
        if not is_valid_unicast(mac):
            raise KernelError("EADDRNOTAVAIL", f"{format_mac(mac)} is not a valid unicast MAC")
        self._check_nesting(real)
        vdev = VlanDevice(
            name=name,
            mac=mac,
            ifindex=self._new_ifindex(),
            mtu=self._stacked_mtu(real, mtu),
            link=real,
            vid=vid,
            tpid=protocol,
            reorder_hdr=reorder_hdr,
            gvrp=gvrp,
            mvrp=mvrp,
            loose_binding=loose_binding,
        )
        vdev.observe_stack = True
        if not real.vlans:
            # The 8021q module starts GVRP and MVRP applicants on a device's first VLAN, which
            # join 01:80:c2:00:00:21 on it even with both protocols off (§17).
            real.mc.add_ref(GVRP_GROUP)
            real.mc.add_ref(GVRP_GROUP)
            rx_mode.set_rx_mode(real)
        real.vlans[(protocol, vid)] = vdev
        real.uppers.append(vdev)
        vdev.synced_into = real
        self.devices[name] = vdev
        self._register(vdev)
        return vdev

    # ------------------------------------------------------------------ macvlan devices
    def add_macvlan(
        self,
        name: str,
        link: str,
        *,
        mode: Mode | None = None,
        mac: bytes | None = None,
        flags: MacvlanFlag = MacvlanFlag.NONE,
        macaddr: MacaddrChange | None = None,
        bcqueuelen: int | None = None,
        bclim: int | None = None,
        mtu: int | None = None,
    ) -> MacvlanDevice:
        """``macvlan_common_newlink``. MAC conflicts are not checked here but at ``up``."""
        self._check_new_name(name)
        lowerdev = self.get(link)
        if lowerdev.kind == "wire":
            raise SimError("macvlans go on the host's side, not on the wire")
        if isinstance(lowerdev, MacvlanDevice):
            # A macvlan on a macvlan attaches to the real lower (verified, §1).
            assert lowerdev.port is not None
            lowerdev = lowerdev.port.lower
        mode = Mode.VEPA if mode is None else mode
        self._validate_mode_flags(mode, flags)
        if mac is not None and not is_valid_unicast(mac):
            raise KernelError("EADDRNOTAVAIL", f"{format_mac(mac)} is not a valid unicast MAC")
        port = lowerdev.rx_port
        if port is not None and port.passthru:
            raise KernelError("EINVAL", f"{lowerdev.name} has a passthru macvlan: it must be alone")
        if mode == Mode.PASSTHRU and port is not None and port.vlans:
            raise KernelError("EINVAL", "a passthru macvlan must be the only one on its lower")
        if macaddr is not None and mode != Mode.SOURCE:
            raise KernelError("EINVAL", "macaddr is only accepted in source mode")
        if bcqueuelen is not None and bcqueuelen < 0:
            raise KernelError("ERANGE", "bcqueuelen is a u32")
        dev_mtu = self._stacked_mtu(lowerdev, mtu)
        self._check_nesting(lowerdev)
        if port is None:
            port = MacvlanPort(lower=lowerdev)
            lowerdev.rx_port = port
        self._macvlan_seq += 1
        dev = MacvlanDevice(
            name=name,
            mac=mac if mac is not None else self.random_mac(),
            ifindex=self._new_ifindex(),
            mtu=dev_mtu,
            link=self.get(link),
            mode=mode,
            flags=flags,
            bc_queue_len_req=MACVLAN_DEFAULT_BC_QUEUE_LEN if bcqueuelen is None else bcqueuelen,
            filter_salt=self._rng.getrandbits(32),
            port=port,
        )
        if mode == Mode.PASSTHRU:
            port.passthru = True
            if isinstance(lowerdev, LowerDevice):
                lowerdev.perm_mac = lowerdev.mac
            dev.mac = lowerdev.mac  # eth_hw_addr_inherit: an explicit address is ignored
        port.vlans.append(dev)
        lowerdev.uppers.append(dev)
        dev.synced_into = lowerdev
        self.devices[name] = dev
        self._register(dev)
        port.set_bc_request(dev, dev.bc_queue_len_req)
        if bclim is not None:
            self._set_bc_cutoff(port, bclim)
        if macaddr is not None:
            self._change_sources(dev, macaddr)
        return dev

    @staticmethod
    def _check_nesting(link: NetDevice) -> None:
        """``__netdev_upper_dev_link``: EMLINK when the new device would sit more than
        ``MAX_NEST_DEV`` levels up (its link's level, counted down to the bottom, plus one)."""
        level, dev = 1, link
        while dev is not None and level <= MAX_NEST_DEV:
            dev = dev.port_lower if isinstance(dev, MacvlanDevice) else dev.link
            level += dev is not None
        if level + 1 > MAX_NEST_DEV:
            raise KernelError(
                "EMLINK", f"{link.name} is {level} levels deep: at most {MAX_NEST_DEV} can stack"
            )

    @staticmethod
    def _validate_mode_flags(mode: Mode, flags: MacvlanFlag) -> None:
        """``macvlan_validate``: unknown flag bits or mode values are EINVAL."""
        if int(flags) & ~int(_VALID_FLAGS):
            raise KernelError("EINVAL", f"unknown macvlan flag bits 0x{int(flags):x}")
        if int(mode) not in _MODES:
            raise KernelError("EINVAL", f"unknown macvlan mode {int(mode)}")

    def change_macvlan(
        self,
        name: str,
        *,
        mode: Mode | None = None,
        flags: MacvlanFlag | None = None,
        macaddr: MacaddrChange | None = None,
        bcqueuelen: int | None = None,
        bclim: int | None = None,
    ) -> None:
        """``macvlan_changelink`` (``ip link set NAME type macvlan …``)."""
        dev = self._macvlan(name)
        assert dev.port is not None
        new_mode = dev.mode if mode is None else mode
        self._validate_mode_flags(new_mode, dev.flags if flags is None else flags)
        if (new_mode == Mode.PASSTHRU) != (dev.mode == Mode.PASSTHRU):
            raise KernelError("EINVAL", "passthru cannot be set or cleared on an existing device")
        if bcqueuelen is not None and bcqueuelen < 0:
            raise KernelError("ERANGE", "bcqueuelen is a u32")
        if macaddr is not None and new_mode != Mode.SOURCE:
            raise KernelError("EINVAL", "macaddr is only accepted in source mode")
        if mode is not None and dev.mode == Mode.SOURCE and new_mode != Mode.SOURCE:
            dev.port.source_flush(dev)
        if flags is not None:
            self._change_flags(dev, flags)
        dev.mode = new_mode
        if macaddr is not None:
            self._change_sources(dev, macaddr)
        if bcqueuelen is not None:
            dev.port.set_bc_request(dev, bcqueuelen)
        if bclim is not None:
            self._set_bc_cutoff(dev.port, bclim)

    def _change_flags(self, dev: MacvlanDevice, flags: MacvlanFlag) -> None:
        """Toggling NOPROMISC on a passthru device moves the lower's promiscuity at once,
        even while the device is down: the counter can wrap (observed 4294967295, §10)."""
        assert dev.port is not None
        toggled = (flags ^ dev.flags) & MacvlanFlag.NOPROMISC
        if dev.port.passthru and toggled:
            rx_mode.set_promiscuity(dev.port.lower, -1 if flags & MacvlanFlag.NOPROMISC else 1)
        dev.flags = flags

    def _change_sources(self, dev: MacvlanDevice, change: MacaddrChange) -> None:
        """``macvlan_changelink_sources``: ADD is idempotent, DEL of a missing entry is a no-op,
        SET is a flush followed by adds."""
        assert dev.port is not None
        for addr in change.addresses:
            if not is_valid_unicast(addr):
                raise KernelError("EADDRNOTAVAIL", f"{format_mac(addr)} is not a unicast MAC")
        if change.op in (MacaddrOp.ADD, MacaddrOp.DEL) and len(change.addresses) != 1:
            raise KernelError("EINVAL", f"macaddr {change.op.name.lower()} takes one address")
        if change.op in (MacaddrOp.FLUSH, MacaddrOp.SET):
            dev.port.source_flush(dev)
        if change.op == MacaddrOp.DEL:
            dev.port.source_del(change.addresses[0], dev)
        elif change.op in (MacaddrOp.ADD, MacaddrOp.SET):
            for addr in change.addresses:
                dev.port.source_add(addr, dev)

    @staticmethod
    def _set_bc_cutoff(port: MacvlanPort, cutoff: int) -> None:
        """``update_port_bc_cutoff``: port-wide, the last writer wins."""
        if not -(2**31) <= cutoff < 2**31:
            raise KernelError("ERANGE", "bclim is an s32")
        if port.bc_cutoff != cutoff:
            port.bc_cutoff = cutoff
            rx_mode.recompute_bc_filter(port)

    def _macvlan(self, name: str) -> MacvlanDevice:
        dev = self.get(name)
        if not isinstance(dev, MacvlanDevice):
            raise KernelError("EOPNOTSUPP", f"{name} is not a macvlan device")
        return dev

    # ------------------------------------------------------------------ up / down
    def set_up(self, name: str) -> None:
        """``dev_open``: the device's ndo_open, IFF_UP, rx_mode, then protocol joins; then
        8021q brings its VLANs up with it (unless loose_binding), depth first."""
        dev = self.get(name)
        if dev.up:
            return
        self._open(dev)
        todo = list(reversed(self._followers(dev, up=True)))
        while todo:  # a loop, not recursion: stacks of any depth
            vdev = todo.pop()
            if vdev.up:
                continue
            try:
                self._open(vdev)
            except KernelError:
                continue
            todo.extend(reversed(self._followers(vdev, up=True)))

    def _open(self, dev: NetDevice) -> None:
        if isinstance(dev, MacvlanDevice):
            self._macvlan_open(dev)
        elif isinstance(dev, VlanDevice):
            self._vlan_open(dev)
        dev.up = True
        dev.sync_mc(+1)
        rx_mode.set_rx_mode(dev)
        self._protocol_joins(dev, join=True)

    def set_down(self, name: str) -> None:
        """``dev_close``: 8021q first takes the device's VLANs down (unless loose_binding),
        deepest first; then ndo_stop, IFF_UP cleared, protocol leaves. Port filters are *not*
        recomputed (only a macvlan's rx_mode does that), so they can stay stale (§7)."""
        dev = self.get(name)
        if not dev.up:
            return
        order: list[NetDevice] = []
        todo = [dev]
        while todo:  # pre-order, reversed below: every device after all of its VLANs
            node = todo.pop()
            order.append(node)
            todo.extend(self._followers(node, up=False))
        for node in reversed(order):
            if node is dev:
                self._close(node)
            else:
                with contextlib.suppress(KernelError):
                    self._close(node)

    def _close(self, dev: NetDevice) -> None:
        if not dev.up:
            return
        if isinstance(dev, MacvlanDevice):
            self._macvlan_stop(dev)
        elif isinstance(dev, VlanDevice):
            self._vlan_stop(dev)
            dev.was_stopped = True
        dev.up = False
        dev.sync_mc(-1)
        self._protocol_joins(dev, join=False)
        target = dev.port_lower if isinstance(dev, MacvlanDevice) else dev.link
        if target is not None:
            rx_mode.set_rx_mode(target)  # dev_uc_unsync/dev_mc_unsync end with this

    @staticmethod
    def _followers(dev: NetDevice, *, up: bool) -> list[VlanDevice]:
        """The VLANs 8021q brings up or down with ``dev`` (not loose_binding, not already)."""
        return [v for v in dev.vlans.values() if not v.loose_binding and v.up != up]

    def _register(self, dev: NetDevice) -> None:
        """``NETDEV_REGISTER``: addrconf gives every device with an MTU of at least 1280 an
        inet6_dev, which joins ff02::1 (33:33:00:00:00:01) at once — even with
        ``disable_ipv6=1`` and even if the device never comes up (spec §8)."""
        if dev.mtu >= IPV6_MIN_MTU:
            dev.mc.add_ref(IPV6_ALL_NODES)
            rx_mode.set_rx_mode(dev)

    def _ipv6_groups(self, dev: NetDevice) -> list[bytes]:
        """The link-layer groups working IPv6 holds on an up device (only with ``ipv6``)."""
        if not self.ipv6 or dev.mtu < IPV6_MIN_MTU:
            return []
        return [ipv6_solicited_node(dev.mac)]

    def _protocol_joins(self, dev: NetDevice, *, join: bool) -> None:
        """At up IPv4 joins all-hosts (``ip_mc_up``); at down it leaves. With IPv6 on, up
        joins the solicited-node group and ``ipv6_mc_down`` at down drops every IPv6
        link-layer join, all-nodes included, until ``ipv6_mc_up`` at the next up. With IPv6
        disabled all-nodes stays from registration on (§8)."""
        groups = [IPV4_ALL_HOSTS, *self._ipv6_groups(dev)]
        if self.ipv6 and dev.mtu >= IPV6_MIN_MTU:
            if not join:
                groups.append(IPV6_ALL_NODES)
                dev.ipv6_mc_dropped = True
            elif dev.ipv6_mc_dropped:
                groups.append(IPV6_ALL_NODES)
                dev.ipv6_mc_dropped = False
        for group in groups:
            (dev.mc.add_ref if join else dev.mc.del_ref)(group)
        rx_mode.set_rx_mode(dev)

    # ------------------------------------------------------------------ MTU
    @staticmethod
    def _stacked_mtu(lowerdev: NetDevice, mtu: int | None) -> int:
        """``IFLA_MTU`` at creation of a macvlan or VLAN device: the lower's MTU unless given,
        and never above it (EINVAL) nor below ETH_MIN_MTU."""
        if mtu is None:
            return lowerdev.mtu
        if not ETH_MIN_MTU <= mtu <= lowerdev.mtu:
            raise KernelError("EINVAL", f"MTU {mtu} outside {ETH_MIN_MTU}..{lowerdev.mtu}")
        return mtu

    def set_mtu(self, name: str, mtu: int) -> None:
        """``ip link set NAME mtu N``. A stacked device may not exceed its lower; shrinking a
        device shrinks the macvlans and VLAN devices above it (NETDEV_CHANGEMTU). Crossing
        1280 makes addrconf create or destroy the inet6_dev: all-nodes is joined or left."""
        dev = self.get(name)
        below = dev.port_lower if isinstance(dev, MacvlanDevice) else dev.link
        if mtu < ETH_MIN_MTU or (below is not None and mtu > below.mtu):
            raise KernelError("EINVAL", f"MTU {mtu} is out of range for {name}")
        self._change_mtu(dev, mtu)

    def _change_mtu(self, dev: NetDevice, mtu: int) -> None:
        old, dev.mtu = dev.mtu, mtu
        if old >= IPV6_MIN_MTU > mtu:
            if not dev.ipv6_mc_dropped:
                dev.mc.del_ref(IPV6_ALL_NODES)
                if self.ipv6 and dev.up:
                    dev.mc.del_ref(ipv6_solicited_node(dev.mac))
            dev.ipv6_mc_dropped = False
            rx_mode.set_rx_mode(dev)
        elif old < IPV6_MIN_MTU <= mtu:
            dev.mc.add_ref(IPV6_ALL_NODES)
            for group in self._ipv6_groups(dev) if dev.up else []:
                dev.mc.add_ref(group)
            rx_mode.set_rx_mode(dev)
        uppers = list(dev.uppers)
        if dev.rx_port is not None:
            uppers += [mv for mv in dev.rx_port.vlans if mv not in uppers]
        for upper in uppers:
            if upper.mtu > mtu:
                self._change_mtu(upper, mtu)

    def _macvlan_open(self, dev: MacvlanDevice) -> None:
        """``macvlan_open``."""
        port = dev.port
        assert port is not None
        lower = port.lower
        if port.passthru:
            if not dev.nopromisc:
                rx_mode.set_promiscuity(lower, 1)
            port.hash_add(dev)
            return
        if self.addr_busy(port, dev.mac):
            raise KernelError(
                "EADDRINUSE", f"{format_mac(dev.mac)} is already in use on {lower.name}"
            )
        lower.uc[dev.mac] += 1
        rx_mode.set_rx_mode(lower)
        if dev.allmulti_flag:
            rx_mode.set_allmulti(lower, 1)
        if dev.promisc:
            rx_mode.set_promiscuity(lower, 1)
        port.hash_add(dev)

    def _macvlan_stop(self, dev: MacvlanDevice) -> None:
        """``macvlan_stop``: undo open and unhash."""
        port = dev.port
        assert port is not None
        lower = port.lower
        if port.passthru:
            if not dev.nopromisc:
                rx_mode.set_promiscuity(lower, -1)
            port.hash_del(dev)
            return
        if dev.allmulti_flag:
            rx_mode.set_allmulti(lower, -1)
        if dev.promisc:
            rx_mode.set_promiscuity(lower, -1)
        lower.uc[dev.mac] -= 1
        if lower.uc[dev.mac] <= 0:
            del lower.uc[dev.mac]
        port.hash_del(dev)

    def _vlan_open(self, dev: VlanDevice) -> None:
        """``vlan_dev_open``: needs its real device up unless loose_binding."""
        real = dev.link
        assert real is not None
        if not real.up and not dev.loose_binding:
            raise KernelError("ENETDOWN", f"{real.name} is down")
        if dev.mac != real.mac:
            real.uc[dev.mac] += 1
        # PROMISC/ALLMULTI are not added here: 6.18 passes them to the real device whenever
        # they change, up or down (vlan_dev_change_rx_flags, §17), so they are already there.

    def _vlan_stop(self, dev: VlanDevice) -> None:
        """``vlan_dev_stop``: the MAC leaves the real device's list; flags stay (see open)."""
        real = dev.link
        assert real is not None
        if dev.mac != real.mac and real.uc[dev.mac] > 0:
            real.uc[dev.mac] -= 1
            if real.uc[dev.mac] == 0:
                del real.uc[dev.mac]

    @staticmethod
    def addr_busy(port: MacvlanPort, mac: bytes) -> bool:
        """``macvlan_addr_busy``: the lower's own MAC (unless passthru) or an UP device's."""
        if not port.passthru and port.lower.mac == mac:
            return True
        return port.lookup(mac) is not None

    # ------------------------------------------------------------------ flags and addresses
    def set_promisc(self, name: str, on: bool) -> None:
        """``ip link set NAME promisc on|off``: the user's flag is one reference."""
        dev = self.get(name)
        if dev.user_promisc != on:
            dev.user_promisc = on
            rx_mode.set_promiscuity(dev, 1 if on else -1)

    def set_allmulti(self, name: str, on: bool) -> None:
        dev = self.get(name)
        if dev.user_allmulti != on:
            dev.user_allmulti = on
            rx_mode.set_allmulti(dev, 1 if on else -1)

    def maddr_add(self, name: str, group: bytes) -> None:
        """``ip maddr add``: only group addresses; re-adding is harmless."""
        dev = self.get(name)
        if not is_group(group):
            raise KernelError("EINVAL", f"{format_mac(group)} is not a multicast address")
        dev.mc.add_global(group)
        rx_mode.set_rx_mode(dev)

    def maddr_del(self, name: str, group: bytes) -> None:
        dev = self.get(name)
        if not dev.mc.del_global(group):
            raise KernelError("ENOENT", f"{name} has no multicast address {format_mac(group)}")
        rx_mode.set_rx_mode(dev)

    def set_address(self, name: str, mac: bytes) -> None:
        """``ip link set NAME address MAC`` for each kind of device."""
        dev = self.get(name)
        if not is_valid_unicast(mac):
            raise KernelError("EADDRNOTAVAIL", f"{format_mac(mac)} is not a valid unicast MAC")
        if isinstance(dev, MacvlanDevice):
            self._macvlan_set_mac(dev, mac)
        elif isinstance(dev, VlanDevice):
            self._vlan_set_mac(dev, mac)
        else:
            self._lower_set_mac(dev, mac)

    def _macvlan_set_mac(self, dev: MacvlanDevice, mac: bytes) -> None:
        """``macvlan_set_mac_address``: passthru moves the lower's MAC; otherwise the address
        must not be busy, even while the device is down (§11)."""
        port = dev.port
        assert port is not None
        if port.passthru:
            self._lower_set_mac(port.lower, mac)
            return
        if self.addr_busy(port, mac):
            raise KernelError(
                "EADDRINUSE", f"{format_mac(mac)} is already in use on {port.lower.name}"
            )
        self._macvlan_sync_address(dev, mac)

    def _macvlan_sync_address(self, dev: MacvlanDevice, mac: bytes) -> None:
        """``macvlan_sync_address``: a down device just copies; an up one moves its unicast
        entry on the lower and is rehashed at the head of its new bucket."""
        port = dev.port
        assert port is not None
        if not dev.up:
            dev.mac = mac
            return
        if not port.passthru:
            port.lower.uc[mac] += 1
            port.lower.uc[dev.mac] -= 1
            if port.lower.uc[dev.mac] <= 0:
                del port.lower.uc[dev.mac]
            rx_mode.set_rx_mode(port.lower)
        port.hash_del(dev)
        self._rejoin_solicited(dev, mac)
        port.hash_add(dev)

    def _rejoin_solicited(self, dev: NetDevice, mac: bytes) -> None:
        """Changing a MAC moves IPv6's solicited-node join with the new link-local address."""
        if self._ipv6_groups(dev) and dev.up:
            dev.mc.del_ref(ipv6_solicited_node(dev.mac))
            dev.mc.add_ref(ipv6_solicited_node(mac))
        dev.mac = mac
        rx_mode.set_rx_mode(dev)

    def _vlan_set_mac(self, dev: VlanDevice, mac: bytes) -> None:
        real = dev.link
        assert real is not None
        if dev.up:
            if mac != real.mac:
                real.uc[mac] += 1
            if dev.mac != real.mac and real.uc[dev.mac] > 0:
                real.uc[dev.mac] -= 1
                if real.uc[dev.mac] == 0:
                    del real.uc[dev.mac]
            rx_mode.set_rx_mode(real)
        self._rejoin_solicited(dev, mac)

    def _lower_set_mac(self, dev: NetDevice, mac: bytes) -> None:
        """The lower takes any address (even a macvlan's: the macvlan then wins, §11); a
        passthru macvlan follows it (NETDEV_CHANGEADDR)."""
        self._rejoin_solicited(dev, mac)
        port = dev.rx_port
        if port is not None and port.passthru and port.vlans:
            self._macvlan_sync_address(port.vlans[0], mac)

    # ------------------------------------------------------------------ deletion
    def delete(self, name: str) -> None:
        """``ip link del``: devices stacked on it go first (NETDEV_UNREGISTER), deepest first
        (walked as a loop, so stacks of any depth work)."""
        dev = self.get(name)
        if dev is self.lower or dev is self.wire:
            raise SimError(f"{name} is the lower device; it cannot be deleted here")
        order: list[NetDevice] = []
        todo = [dev]
        while todo:  # pre-order, reversed below: every device after everything stacked on it
            node = todo.pop()
            order.append(node)
            stacked = list(node.uppers)
            if node.rx_port is not None:
                stacked += node.rx_port.vlans
            todo.extend(stacked)
        for node in reversed(order):
            if self.devices.get(node.name) is node:
                self._unregister(node)

    def _unregister(self, dev: NetDevice) -> None:
        self.set_down(dev.name)
        if isinstance(dev, MacvlanDevice):
            self._macvlan_dellink(dev)
        elif isinstance(dev, VlanDevice):
            self._vlan_unregister(dev)
        del self.devices[dev.name]

    def _macvlan_dellink(self, dev: MacvlanDevice) -> None:
        port = dev.port
        assert port is not None
        port.source_flush(dev)
        port.vlans.remove(dev)
        port.lower.uppers.remove(dev)
        dev.synced_into = None
        port.drop_bc_request(dev)
        if port.passthru:
            port.passthru = False
            lower = port.lower
            if isinstance(lower, LowerDevice) and lower.perm_mac is not None:
                self._rejoin_solicited(lower, lower.perm_mac)
                lower.perm_mac = None
        if not port.vlans:
            port.lower.rx_port = None

    def _vlan_unregister(self, dev: VlanDevice) -> None:
        real = dev.link
        assert real is not None
        del real.vlans[(dev.tpid, dev.vid)]
        real.uppers.remove(dev)
        dev.synced_into = None
        if not real.vlans:
            real.mc.del_ref(GVRP_GROUP)
            real.mc.del_ref(GVRP_GROUP)
            rx_mode.set_rx_mode(real)

    # ------------------------------------------------------------------ carrier
    def carrier(self, dev: NetDevice) -> bool:
        """Operational carrier, which stacked devices inherit (netif_stacked_transfer_operstate).

        A veth end has carrier while both ends are up; a NIC while it is up (the cable is
        assumed). A macvlan has its lower's. A VLAN device has its real device's, except after
        it was stopped. Linkwatch handles stacked devices as urgent events, so no delay is
        modelled."""
        if dev is self.lower or dev is self.wire:
            assert self.lower is not None and self.wire is not None
            if isinstance(dev, LowerDevice) and dev.has_unicast_filter:
                return dev.up
            return self.lower.up and self.wire.up
        while isinstance(dev, MacvlanDevice | VlanDevice):  # down the stack, in a loop
            if isinstance(dev, VlanDevice) and dev.was_stopped and not dev.up:
                return False
            below = dev.port_lower if isinstance(dev, MacvlanDevice) else dev.link
            if below is None:
                return False
            dev = below
        if dev is self.lower or dev is self.wire:
            return self.carrier(dev)
        return dev.up

    def qdisc_active(self, dev: NetDevice) -> bool:
        """``dev_activate`` installs the real (noqueue) qdisc only on an up device with carrier;
        otherwise ``noop_qdisc`` drops every frame sent, before any tap sees it."""
        return dev.up and self.carrier(dev)

    # ------------------------------------------------------------------ NIC filter inputs
    def registered_vids(self, dev: NetDevice) -> set[int]:
        """802.1Q VIDs pushed into ``dev``'s VLAN filter: its own VLAN devices' and, through
        macvlans (``vlan_vid_add`` is passed down), those of VLANs on its macvlans."""
        vids = {vid for (tpid, vid) in dev.vlans if tpid == ETH_P_8021Q}
        if dev.rx_port is not None:
            for mv in dev.rx_port.vlans:
                vids |= self.registered_vids(mv)
        return vids
