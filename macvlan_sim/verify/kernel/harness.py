"""Run a macvlan-sim scenario through the live kernel and return the result dict.

Entry points: :func:`run_scenario_on_kernel`, :func:`kernel_available`.

The run happens in a fresh private network namespace (see :mod:`.netns`): a veth pair
``lower`` <-> ``wire`` stands for the lower device and the outside world, the scenario's
macvlans (and VLAN devices, where the kernel has 8021q) sit on ``lower``, and every device is
observed with AF_PACKET sockets (:mod:`.sockets`). Frames are injected one at a time; each
frame owns everything captured until all sockets have been quiet for ``settle`` seconds, and
every capture must also *match* the injected bytes (:func:`.frames.matches`), so a late copy
of an earlier frame is reported as an error instead of being attributed to the wrong frame.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from macvlan_sim.io.scenario_schema import ScenarioError, frame_bytes, json_path, validate_scenario

from . import frames as fr
from .netlink import (
    IFF_ALLMULTI,
    IFF_PROMISC,
    STAT_FIELDS,
    Rtnl,
    errno_name,
)
from .netns import private_netns, raise_if_signalled, sigterm_raises
from .sockets import (
    PACKET_OUTGOING,
    PKTTYPES,
    Capture,
    Injector,
    Observer,
    read_memberships,
    write_sysctl,
)

log = logging.getLogger(__name__)

LOWER = "lower"
WIRE = "wire"
DEFAULT_LOWER_MAC = "02:00:00:00:00:01"
DEFAULT_WIRE_MAC = "02:00:00:00:ff:fe"

#: Quiet window per frame (seconds). Measured on this 2-CPU VM: the last copy of a queued
#: broadcast arrives within ~1 ms idle and within ~12 ms with both CPUs saturated by
#: busy loops (docs/kernel-harness.md); 50 ms leaves a 4x margin over the worst case seen.
DEFAULT_SETTLE = 0.05
#: Hard cap on the collection time of one frame (pass), against endless foreign traffic.
MAX_WAIT = 5.0

#: Per-frame counter deltas, in the order the shipped examples use.
DELTA_FIELDS = (
    "rx_packets",
    "rx_bytes",
    "tx_packets",
    "tx_bytes",
    "rx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
)
#: ``counters.after``: rtnl_link_stats64 struct order, as in the examples.
AFTER_FIELDS = STAT_FIELDS

#: Quiet the namespace: no IPv6 link-local addresses, DAD, ND or MLD reports.
SYSCTLS = {
    "net/ipv6/conf/all/disable_ipv6": "1",
    "net/ipv6/conf/default/disable_ipv6": "1",
}


class KernelHarnessError(Exception):
    """Base class of the harness's own errors."""


class KernelUnavailable(KernelHarnessError):
    """Not root, or the kernel cannot do netns + veth + macvlan here."""


class Unsupported(KernelHarnessError):
    """The scenario needs something this kernel/VM cannot build (a NIC lower, 8021q)."""


# -- scenario model ------------------------------------------------------------------------------


@dataclass
class DeviceSpec:
    """One macvlan of the scenario, with the defaults of the scenario format applied."""

    name: str
    link: str = LOWER
    mode: str = "vepa"
    mode_given: bool = False
    mac: str | None = None
    up: bool = True
    flags: list[str] = field(default_factory=list)
    macaddr: list[str] | None = None
    mc: list[str] = field(default_factory=list)
    allmulti: bool = False
    promisc: bool = False
    bcqueuelen: int | None = None
    mtu: int | None = None


@dataclass
class VlanSpec:
    """One VLAN device (needs 8021q)."""

    name: str
    link: str
    vid: int
    protocol: str = "802.1Q"
    up: bool = True
    mtu: int | None = None


@dataclass
class FrameSpec:
    """One frame to inject."""

    inject: str
    data: bytes
    note: str


@dataclass
class ScenarioSpec:
    """A validated scenario."""

    lower_mac: str
    lower_promisc: bool
    lower_mtu: int | None
    wire_mac: str
    vlans: list[VlanSpec]
    devices: list[DeviceSpec]
    frames: list[FrameSpec]
    bcqueuelen: int | None
    bclim: int | None
    hairpin: bool
    config_after_up: bool


def _mac(text: str) -> str:
    return fr.format_mac(fr.parse_mac(text))


def _mtu(obj: dict[str, Any]) -> int | None:
    return obj.get("mtu")


def parse_scenario(scenario: dict[str, Any], source: str = "scenario") -> ScenarioSpec:
    """Validate ``scenario`` against the format's JSON Schema (the same check ``scenario run``
    makes) and apply the format's defaults.

    Raises :class:`Unsupported` for a ``nic`` lower (a veth cannot emulate a NIC's unicast and
    VLAN hardware filters) and :class:`ScenarioError` (a ValueError) for malformed input,
    naming ``source`` and the JSON path.
    """
    validate_scenario(scenario, source)
    lower = scenario.get("lower") or {}
    if lower.get("kind", "veth") == "nic":
        raise Unsupported(
            "lower kind 'nic' needs a NIC with hardware unicast/VLAN filtering "
            "(IFF_UNICAST_FLT); this harness can only build a veth lower"
        )
    wire = scenario.get("wire") or {}
    port = scenario.get("port") or {}

    reserved = {LOWER, WIRE}
    seen: set[str] = set()

    def claim(name: str, where: tuple[str, int]) -> str:
        if name in reserved or name in seen:
            path = json_path((*where, "name"))
            raise ScenarioError(f"{source}: {path}: device name {name!r} is reserved or used twice")
        seen.add(name)
        return name

    vlans = [
        VlanSpec(
            name=claim(v["name"], ("vlans", i)),
            link=v.get("link", LOWER),
            vid=int(v["id"]),
            protocol=v.get("protocol", "802.1Q"),
            up=bool(v.get("up", True)),
            mtu=_mtu(v),
        )
        for i, v in enumerate(scenario.get("vlans") or [])
    ]
    devices: list[DeviceSpec] = []
    for i, d in enumerate(scenario.get("devices") or []):
        mode = d.get("mode")
        flags = list(d.get("flags") or [])
        macaddr = d.get("macaddr")
        devices.append(
            DeviceSpec(
                name=claim(d["name"], ("devices", i)),
                link=d.get("link", LOWER),
                mode=mode or "vepa",
                mode_given=mode is not None,
                mac=_mac(d["mac"]) if d.get("mac") else None,
                up=bool(d.get("up", True)),
                flags=flags,
                macaddr=[_mac(m) for m in macaddr] if macaddr is not None else None,
                mc=[_mac(m) for m in d.get("mc") or []],
                allmulti=bool(d.get("allmulti", False)),
                promisc=bool(d.get("promisc", False)),
                bcqueuelen=d.get("bcqueuelen"),
                mtu=_mtu(d),
            )
        )
    frames = [
        FrameSpec(
            inject=f.get("inject", WIRE),
            data=frame_bytes(f["hex"], source, i),
            note=f.get("note", ""),
        )
        for i, f in enumerate(scenario.get("frames") or [])
    ]
    return ScenarioSpec(
        lower_mac=_mac(lower.get("mac", DEFAULT_LOWER_MAC)),
        lower_promisc=bool(lower.get("promisc", False)),
        lower_mtu=_mtu(lower),
        wire_mac=_mac(wire.get("mac", DEFAULT_WIRE_MAC)),
        vlans=vlans,
        devices=devices,
        frames=frames,
        bcqueuelen=port.get("bcqueuelen"),
        bclim=port.get("bclim"),
        hairpin=bool(scenario.get("hairpin", False)),
        config_after_up=bool(scenario.get("config_after_up", False)),
    )


# -- availability --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def kernel_available() -> tuple[bool, str]:
    """Can this process run scenarios on the live kernel? ``(ok, reason)``.

    Checks root, then really builds a namespace with a veth pair and a macvlan (and deletes
    it): module autoloading, seccomp or a container without CAP_SYS_ADMIN can all defeat a
    cheaper check. Cached: the answer does not change while the process runs.
    """
    if not sys.platform.startswith("linux"):
        return False, f"not Linux ({sys.platform}): the kernel harness needs Linux macvlan"
    if os.geteuid() != 0:
        return False, f"not root (euid {os.geteuid()}): the kernel harness needs root"
    try:
        with sigterm_raises(), private_netns() as ns, Rtnl(ns) as rtnl:
            rtnl.add_veth("probe0", "02:00:00:00:ee:01", "probe1", "02:00:00:00:ee:02")
            rtnl.add_macvlan("probe2", "probe0", mode="bridge")
    except NetlinkError as exc:
        return False, f"cannot create veth+macvlan in a netns: {errno_name(exc)} ({exc})"
    except OSError as exc:
        return False, f"cannot create a network namespace: {exc}"
    return True, "root, and netns + veth + macvlan work"


# -- the run -------------------------------------------------------------------------------------


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {}
    for f in DELTA_FIELDS:
        d = after.get(f, 0) - before.get(f, 0)
        if d:
            out[f] = d
    return out


class _Run:
    """State of one scenario run inside one namespace."""

    def __init__(self, spec: ScenarioSpec, netns: str, settle: float) -> None:
        self.spec = spec
        self.netns = netns
        self.settle = settle
        self.setup_log: list[dict[str, Any]] = []
        self.rtnl: Rtnl | None = None
        self.observer: Observer | None = None
        self.injector: Injector | None = None
        self.stack_devices: list[str] = []
        self.devices: list[str] = []

    def close(self) -> None:
        """Close every socket into the namespace so that deleting it really frees it."""
        for res in (self.observer, self.injector, self.rtnl):
            if res is not None:
                try:
                    res.close()
                except Exception:  # pragma: no cover - cleanup must go on
                    log.exception("closing %r", res)

    # -- setup ---------------------------------------------------------------------------------

    def _step(self, op: str, fn: Callable[[], object]) -> bool:
        """Run one setup operation; a refusal is logged as a result, not raised."""
        raise_if_signalled()
        try:
            fn()
        except (NetlinkError, OSError) as exc:
            self.setup_log.append({"op": op, "ok": False, "errno": errno_name(exc)})
            return False
        self.setup_log.append({"op": op, "ok": True})
        return True

    def _device_config(self, rtnl: Rtnl, injector: Injector) -> None:
        """Multicast joins, ALLMULTI and PROMISC, device by device in creation order."""
        for d in self.spec.devices:
            for mac in d.mc:
                self._step(
                    f"{d.name} maddr add {mac}",
                    functools.partial(injector.add_multicast, d.name, fr.parse_mac(mac)),
                )
            if d.allmulti:
                self._step(
                    f"{d.name} allmulti on",
                    functools.partial(rtnl.set_flag, d.name, IFF_ALLMULTI, True),
                )
            if d.promisc:
                self._step(
                    f"{d.name} promisc on",
                    functools.partial(rtnl.set_flag, d.name, IFF_PROMISC, True),
                )

    def setup(self) -> None:
        """Build the topology in the order the scenario format prescribes, logging each op."""
        spec = self.spec
        write_sysctl(self.netns, SYSCTLS)
        self.rtnl = rtnl = Rtnl(self.netns)
        self.injector = injector = Injector(self.netns)

        op = f"veth {LOWER}({spec.lower_mac}) <-> {WIRE}({spec.wire_mac})"
        rtnl.add_veth(LOWER, spec.lower_mac, WIRE, spec.wire_mac)  # no veth: nothing to run
        self.setup_log.append({"op": op, "ok": True})
        if spec.lower_mtu is not None:  # both ends, as the emulator's cable has one MTU
            for end in (LOWER, WIRE):
                self._step(
                    f"{end} mtu {spec.lower_mtu}",
                    functools.partial(rtnl.set_mtu, end, spec.lower_mtu),
                )
        self._step(f"{WIRE} up", functools.partial(rtnl.set_up, WIRE))
        self._step(f"{LOWER} up", functools.partial(rtnl.set_up, LOWER))
        if spec.lower_promisc:
            self._step(
                f"{LOWER} promisc on", functools.partial(rtnl.set_flag, LOWER, IFF_PROMISC, True)
            )

        for v in spec.vlans:
            raise_if_signalled()
            op = f"vlan {v.name} link {v.link} id {v.vid} protocol {v.protocol}"
            try:
                rtnl.add_vlan(v.name, v.link, v.vid, v.protocol, v.mtu)
            except NetlinkError as exc:
                if exc.code == errno.EOPNOTSUPP:
                    raise Unsupported(
                        f"scenario needs VLAN device {v.name} but this kernel has no 8021q "
                        f"support (creating it returned EOPNOTSUPP)"
                    ) from exc
                self.setup_log.append({"op": op, "ok": False, "errno": errno_name(exc)})
            except OSError as exc:
                self.setup_log.append({"op": op, "ok": False, "errno": errno_name(exc)})
            else:
                self.setup_log.append({"op": op, "ok": True})

        for d in spec.devices:
            op = f"macvlan {d.name} mode {d.mode}" + (f" link {d.link}" if d.link != LOWER else "")
            self._step(
                op,
                functools.partial(
                    rtnl.add_macvlan,
                    d.name,
                    d.link,
                    mode=d.mode if d.mode_given else None,
                    mac=d.mac,
                    flags=d.flags,
                    macaddr=d.macaddr,
                    bcqueuelen=d.bcqueuelen if d.bcqueuelen is not None else spec.bcqueuelen,
                    bclim=spec.bclim,
                    mtu=d.mtu,
                ),
            )
        if spec.bclim is not None:
            self._check_bclim(rtnl, int(spec.bclim))

        if not spec.config_after_up:
            self._device_config(rtnl, injector)
        for v in spec.vlans:
            if v.up:
                self._step(f"{v.name} up", functools.partial(rtnl.set_up, v.name))
        for d in spec.devices:
            if d.up:
                self._step(f"{d.name} up", functools.partial(rtnl.set_up, d.name))
        if spec.config_after_up:
            self._device_config(rtnl, injector)

    def _check_bclim(self, rtnl: Rtnl, want: int) -> None:
        """Read the port cutoff back through a macvlan on the lower (iproute2 6.1 cannot)."""
        op = f"port bclim {want}"
        holder = next(
            (d.name for d in self.spec.devices if d.link == LOWER and rtnl.index(d.name)), None
        )
        if holder is None:
            self.setup_log.append({"op": op, "ok": False, "errno": "ENODEV"})
            return
        try:
            got = rtnl.bc_cutoff(holder)
        except (NetlinkError, OSError) as exc:
            self.setup_log.append({"op": op, "ok": False, "errno": errno_name(exc)})
            return
        entry: dict[str, Any] = {"op": op, "ok": got == want}
        if got != want:
            entry["errno"] = "EOPNOTSUPP"
            entry["read_back"] = got
        self.setup_log.append(entry)

    def read_topology(self, devices: list[str]) -> dict[str, dict[str, Any]]:
        """Each device's real multicast list and effective promiscuity/allmulti counts, as the
        kernel holds them (the proof a hash-filter false positive needs, and the check of
        the model's automatic memberships). Named and shaped like the VM oracle's."""
        assert self.rtnl is not None
        lists = read_memberships(self.netns)
        counts = self.rtnl.flag_counts()
        return {dev: {"mc": lists.get(dev, []), **counts.get(dev, {})} for dev in devices}

    # -- observation ---------------------------------------------------------------------------

    def existing_devices(self) -> list[str]:
        """Devices present after setup, in report order: lower, wire, VLANs, macvlans."""
        assert self.rtnl is not None
        names = (
            [LOWER, WIRE] + [v.name for v in self.spec.vlans] + [d.name for d in self.spec.devices]
        )
        return [n for n in names if self.rtnl.index(n) is not None]

    def open_observers(self, devices: list[str]) -> None:
        """Taps on every device; protocol sockets on the lower and on each VLAN device."""
        protos = fr.protocols_for(f.data for f in self.spec.frames)
        vlan_names = {v.name for v in self.spec.vlans}
        self.stack_devices = [d for d in devices if d == LOWER or d in vlan_names]
        self.observer = Observer()
        self.observer.open(self.netns, devices, {d: protos for d in self.stack_devices})

    def _order(self, devices: list[str]) -> dict[str, int]:
        labels: list[str] = []
        for d in devices:
            if d == WIRE:
                continue
            labels.append(d)
            if d in self.stack_devices:
                labels.append(f"{d}:stack")
        labels.append(WIRE)
        return {label: i for i, label in enumerate(labels)}

    @staticmethod
    def _seen(cap: Capture, pass_no: int, **first: Any) -> dict[str, Any]:
        """A capture as the result format writes it: device, pkt_type, pass, outer tag."""
        entry: dict[str, Any] = {
            **first,
            "dev": cap.label,
            "pkttype": PKTTYPES.get(cap.pkttype, str(cap.pkttype)),
        }
        if pass_no:
            entry["pass"] = pass_no
        if cap.vlan is not None:
            entry["vlan"] = fr.vlan_dict(*cap.vlan)
        return entry

    @classmethod
    def _stray(cls, cap: Capture, kind: str, pass_no: int) -> dict[str, Any]:
        return cls._seen(cap, pass_no, kind=kind) | {"hex": cap.raw.hex()}

    def run_frame(self, index: int, frame: FrameSpec, order: dict[str, int]) -> dict[str, Any]:
        """Inject one frame (plus its hairpin reflection) and build its result entry."""
        assert self.observer is not None and self.injector is not None and self.rtnl is not None
        before = self.rtnl.stats()
        send = self.injector.send(frame.inject, frame.data)
        captured: list[tuple[int, Capture]] = [
            (0, c) for c in self.observer.collect(self.settle, MAX_WAIT)
        ]
        errors: list[dict[str, Any]] = []
        if self.spec.hairpin:
            reflect = [
                c
                for _p, c in captured
                if c.label == WIRE
                and c.pkttype != PACKET_OUTGOING
                and fr.matches(frame.data, c.effective)
            ]
            for cap in reflect:
                status = self.injector.send(WIRE, cap.effective)
                if status != "ok":
                    errors.append({"kind": "hairpin-send", "send": status})
                captured += [(1, c) for c in self.observer.collect(self.settle, MAX_WAIT)]
        after = self.rtnl.stats()

        receptions: list[tuple[tuple[int, int, float], dict[str, Any]]] = []
        for pass_no, cap in captured:
            if not fr.matches(frame.data, cap.effective):
                errors.append(self._stray(cap, "unmatched", pass_no))
                continue
            rec = self._seen(cap, pass_no)
            rec.update(fr.diff_fields(frame.data, cap.raw, cap.vlan))
            receptions.append(((order.get(cap.label, len(order)), pass_no, cap.ts), rec))
        receptions.sort(key=lambda item: item[0])

        entry: dict[str, Any] = {
            "index": index,
            "inject": frame.inject,
            "note": frame.note,
            "send": send,
            "receptions": [rec for _key, rec in receptions],
        }
        counters = {}
        for dev in self.devices:
            if dev in before and dev in after:
                d = _delta(before[dev], after[dev])
                if d:
                    counters[dev] = d
        if counters:
            entry["counters"] = counters
        if errors:
            entry["errors"] = errors
        return entry

    def execute(self) -> dict[str, Any]:
        """Setup, inject every frame, read the final counters."""
        self.setup()
        assert self.rtnl is not None
        self.devices = devices = self.existing_devices()
        self.open_observers(devices)
        assert self.observer is not None
        order = self._order(devices)
        # Anything the setup itself caused (there should be nothing with IPv6 off) is read
        # and reported before the first frame, never attributed to it.
        result_errors = [
            self._stray(c, "setup", 0) for c in self.observer.collect(self.settle, MAX_WAIT)
        ]
        out_frames: list[dict[str, Any]] = []
        for i, frame in enumerate(self.spec.frames):
            raise_if_signalled()
            late = self.observer.drain()
            if late and out_frames:
                out_frames[-1].setdefault("errors", []).extend(
                    self._stray(c, "late", 0) for c in late
                )
            out_frames.append(self.run_frame(i, frame, order))
        late = self.observer.collect(self.settle, MAX_WAIT)
        if late and out_frames:
            out_frames[-1].setdefault("errors", []).extend(self._stray(c, "late", 0) for c in late)

        topology = self.read_topology(devices)
        final = self.rtnl.stats()
        after: dict[str, dict[str, int]] = {}
        for dev in devices:
            st = final.get(dev, {})
            after[dev] = {f: st[f] for f in AFTER_FIELDS if st.get(f)}
        result: dict[str, Any] = {
            "frames": out_frames,
            "counters": {"after": after},
            "setup": self.setup_log,
            "topology": topology,
        }
        if result_errors:
            result["errors"] = result_errors
        return result


def run_scenario_on_kernel(
    scenario: dict[str, Any], *, settle: float = DEFAULT_SETTLE, keep_ns: bool = False
) -> dict[str, Any]:
    """Run ``scenario`` through the real macvlan driver; return the result dict.

    ``settle``: the quiet window (seconds) that ends each frame's collection; the default is
    the measured worst case with a safety margin. ``keep_ns``: leave the namespace behind for
    inspection (its name is logged at WARNING).

    Raises :class:`KernelUnavailable` (not root / no macvlan) and :class:`Unsupported` (the
    scenario needs a NIC lower or 8021q). The namespace is deleted on every exit path,
    including KeyboardInterrupt and SIGTERM (which raises :class:`.netns.HarnessTerminated`).
    """
    if not (isinstance(settle, int | float) and math.isfinite(settle) and settle > 0):
        raise ValueError(f"settle must be a finite number of seconds above 0, not {settle!r}")
    spec = parse_scenario(scenario)
    ok, reason = kernel_available()
    if not ok:
        raise KernelUnavailable(reason)
    with sigterm_raises(), private_netns(keep=keep_ns) as ns:
        run = _Run(spec, ns, settle)
        try:
            return run.execute()
        finally:
            run.close()
