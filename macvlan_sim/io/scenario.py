"""``macvlan-sim scenario run``: a scenario (topology + frames, JSON) in, a result out, in the
schema our kernel comparison tools speak (see ``docs/scenario-format.md``).

The setup order is fixed so that order-dependent kernel behaviour comes out the same as in the
kernel harness: objects are created once their link exists (each with its mode, flags, macaddr,
bcqueuelen, bclim), then every device's multicast joins, allmulti and promisc, then ``up`` in
creation order (``config_after_up`` swaps those last two phases).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.scenario_schema import (
    frame_bytes,
    load_scenario_file,
    validate_scenario,
)
from macvlan_sim.model.constants import ETH_P_8021AD, ETH_P_8021Q, MacaddrOp, MacvlanFlag, Mode
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.host import DEFAULT_WIRE_MAC, Host, MacaddrChange
from macvlan_sim.model.mac import MacError, format_mac, parse_mac

DEFAULT_LOWER_MAC = "02:00:00:00:00:01"
NIC_SLOTS = 64
_DEVICE_FLAGS = {"nopromisc": MacvlanFlag.NOPROMISC, "nodst": MacvlanFlag.NODST}


@dataclass
class SetupLog:
    """The ``setup`` list of a result: each step, whether the kernel took it, and its errno."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)

    def run(self, op: str, action: Callable[[], object], device: str | None = None) -> bool:
        try:
            action()
        except KernelError as exc:
            self.steps.append({"op": op, "ok": False, "errno": exc.errno_name, "why": exc.message})
            if device is not None:
                self.failed.add(device)
            return False
        self.steps.append({"op": op, "ok": True})
        return True


class Scenario:
    """A validated scenario (checked against the format's JSON Schema before anything else
    looks at it; :class:`ScenarioError` otherwise). ``source`` names it in error messages."""

    def __init__(self, data: Any, source: str = "scenario") -> None:
        validate_scenario(data, source)
        self.data = data
        self.source = source
        # The schema has checked every type: what is left is reading with defaults.
        self.lower: dict[str, Any] = data.get("lower", {})
        self.wire: dict[str, Any] = data.get("wire", {})
        self.port: dict[str, Any] = data.get("port", {})
        self.vlans: list[dict[str, Any]] = data.get("vlans", [])
        self.devices: list[dict[str, Any]] = data.get("devices", [])
        self.frames: list[dict[str, Any]] = data.get("frames", [])
        self.hairpin = bool(data.get("hairpin", False))
        self.config_after_up = bool(data.get("config_after_up", False))
        self.lower_name = str(self.lower.get("name", "lower"))
        for index in range(len(self.frames)):
            self.frame_bytes(index)  # every frame is checked before any result is written

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        return cls(load_scenario_file(path), str(path))

    # ------------------------------------------------------------------ field helpers
    def mac(self, where: str, text: Any) -> bytes:
        try:
            return parse_mac(text)
        except MacError as exc:
            raise SimError(f"{self.source}: {where}: {exc}") from None

    def frame_bytes(self, index: int) -> bytes:
        return frame_bytes(self.frames[index]["hex"], self.source, index)

    # ------------------------------------------------------------------ building the host
    def build(
        self, *, ipv6: bool | None = None, hash_filters: bool = False, seed: int = 0
    ) -> tuple[Host, SetupLog]:
        """Apply the scenario's setup to a new :class:`Host`, logging each step."""
        ipv6 = bool(self.data.get("ipv6", False)) if ipv6 is None else ipv6
        host = Host(ipv6=ipv6, hash_filters=hash_filters, seed=seed)
        log = SetupLog()
        self._build_lower(host, log)
        created = self._create_objects(host, log)
        if self.config_after_up:
            self._bring_up(host, log, created)
            self._configure(host, log)
        else:
            self._configure(host, log)
            self._bring_up(host, log, created)
        return host, log

    def _build_lower(self, host: Host, log: SetupLog) -> None:
        kind = self.lower.get("kind", "veth")
        mac = self.mac("lower.mac", self.lower.get("mac", DEFAULT_LOWER_MAC))
        wire_mac = self.mac("wire.mac", self.wire.get("mac", format_mac(DEFAULT_WIRE_MAC)))
        slots = NIC_SLOTS if kind == "nic" else None
        host.add_lower(
            self.lower_name,
            mac,
            filter_slots=slots,
            wire_mac=wire_mac,
            mtu=self._mtu(self.lower, "lower") or 1500,
        )
        extra = f" slots {slots}" if slots is not None else ""
        pair = f"{self.lower_name}({format_mac(mac)}){extra} <-> wire({format_mac(wire_mac)})"
        log.steps.append({"op": f"{kind} {pair}", "ok": True})
        if self.lower.get("mtu") is not None:
            log.steps += [
                {"op": f"{end} mtu {self.lower['mtu']}", "ok": True}
                for end in (self.lower_name, "wire")
            ]
        log.steps += [{"op": "wire up", "ok": True}, {"op": f"{self.lower_name} up", "ok": True}]
        if self.lower.get("promisc"):
            log.run(
                f"{self.lower_name} promisc on", lambda: host.set_promisc(self.lower_name, True)
            )

    def _create_objects(self, host: Host, log: SetupLog) -> list[str]:
        """Create VLANs and macvlans once their link exists, in list order otherwise."""
        todo = [("vlan", v) for v in self.vlans] + [("macvlan", d) for d in self.devices]
        created: list[str] = []
        progress = True
        while todo and progress:
            progress = False
            for item in list(todo):
                kind, spec = item
                link = spec.get("link", self.lower_name)
                pending = {str(s.get("name")) for _, s in todo}
                known = link in host.devices or link in log.failed or link in pending
                if not known:
                    name = spec.get("name")
                    raise SimError(f"{self.source}: {name!r} links to unknown device {link!r}")
                if link in host.devices or link in log.failed:
                    todo.remove(item)
                    progress = True
                    if link in log.failed:
                        log.failed.add(str(spec.get("name")))
                        continue
                    make = self._create_vlan if kind == "vlan" else self._create_macvlan
                    if make(host, log, spec):
                        created.append(str(spec["name"]))
        if todo:
            names = ", ".join(str(s.get("name")) for _, s in todo)
            raise SimError(f"{self.source}: devices link to each other in a loop: {names}")
        return created

    def _create_vlan(self, host: Host, log: SetupLog, spec: dict[str, Any]) -> bool:
        name = spec["name"]
        link = spec.get("link", self.lower_name)
        vid = spec["id"]
        proto_word = spec.get("protocol", "802.1Q")
        proto = {"802.1Q": ETH_P_8021Q, "802.1ad": ETH_P_8021AD}[proto_word]
        flags = set(spec.get("flags", ["reorder_hdr"]))
        mac = self.mac(f"vlan {name}.mac", spec["mac"]) if spec.get("mac") else None
        op = f"vlan {name} link {link} id {vid} protocol {proto_word}"
        return log.run(
            op,
            lambda: host.add_vlan(
                name,
                link,
                vid,
                protocol=proto,
                mac=mac,
                reorder_hdr="reorder_hdr" in flags,
                gvrp="gvrp" in flags,
                mvrp="mvrp" in flags,
                loose_binding="loose_binding" in flags,
                mtu=self._mtu(spec, f"vlan {name}"),
            ),
            name,
        )

    def _create_macvlan(self, host: Host, log: SetupLog, spec: dict[str, Any]) -> bool:
        name = spec["name"]
        link = spec.get("link", self.lower_name)
        mode = Mode.parse(spec.get("mode", "vepa"))
        flags = MacvlanFlag.NONE
        for word in spec.get("flags", []):
            flags |= _DEVICE_FLAGS[word]
        mac = self.mac(f"device {name}.mac", spec["mac"]) if spec.get("mac") else None
        macaddr = None
        if spec.get("macaddr"):
            addrs = tuple(self.mac(f"device {name}.macaddr", a) for a in spec["macaddr"])
            macaddr = MacaddrChange(MacaddrOp.SET, addrs)
        bcq = spec.get("bcqueuelen", self.port.get("bcqueuelen"))
        bclim = self.port.get("bclim")
        op = f"macvlan {name} mode {mode.word}" + (
            f" link {link}" if link != self.lower_name else ""
        )
        return log.run(
            op,
            lambda: host.add_macvlan(
                name,
                link,
                mode=mode,
                mac=mac,
                flags=flags,
                macaddr=macaddr,
                bcqueuelen=None if bcq is None else int(bcq),
                bclim=None if bclim is None else int(bclim),
                mtu=self._mtu(spec, f"device {name}"),
            ),
            name,
        )

    def _mtu(self, spec: dict[str, Any], where: str) -> int | None:
        """An object's ``mtu`` (IFLA_MTU at creation): absent means its lower's."""
        value = spec.get("mtu")
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise SimError(f"{self.source}: {where}: mtu must be a positive integer")
        return value

    def _configure(self, host: Host, log: SetupLog) -> None:
        for spec in self.devices:
            name = str(spec.get("name"))
            if name in log.failed:
                continue
            for group in spec.get("mc", []):
                mac = self.mac(f"device {name}.mc", group)
                log.run(
                    f"{name} maddr add {format_mac(mac)}",
                    lambda n=name, m=mac: host.maddr_add(n, m),
                )
            if spec.get("allmulti"):
                log.run(f"{name} allmulti on", lambda n=name: host.set_allmulti(n, True))
            if spec.get("promisc"):
                log.run(f"{name} promisc on", lambda n=name: host.set_promisc(n, True))

    def _bring_up(self, host: Host, log: SetupLog, created: list[str]) -> None:
        wanted = {str(s.get("name")): s.get("up", True) for s in [*self.vlans, *self.devices]}
        for name in created:
            if wanted.get(name, True):
                log.run(f"{name} up", lambda n=name: host.set_up(n))

    # ------------------------------------------------------------------ running
    def run(self, **options: Any) -> dict[str, Any]:
        """Build, send every frame, and return the whole result object (the options are
        :meth:`stream`'s)."""
        frames: list[dict[str, Any]] = []
        rest = self.stream(frames.append, **options)
        return {"frames": frames, **rest}

    def stream(
        self,
        on_frame: Callable[[dict[str, Any]], object],
        *,
        extras: bool = True,
        hash_filters: bool = False,
        seed: int = 0,
        false_positives: frozenset[tuple[str, bytes]] = frozenset(),
        global_protocols: frozenset[int] | None = None,
    ) -> dict[str, Any]:
        """Build and send every frame; each frame's result goes to ``on_frame`` as soon as it
        is known (nothing is kept per frame). Returns the rest of the result (counters,
        setup). ``global_protocols`` sets which protocols have a handler on every device
        (default: the usual kernel's)."""
        host, log = self.build(hash_filters=hash_filters, seed=seed)
        host.filter_false_positives = false_positives
        if global_protocols is not None:
            host.global_protocols = set(global_protocols)
        engine = Engine(host, hairpin=self.hairpin, keep_paths=extras)
        for index, spec in enumerate(self.frames):
            data = self.frame_bytes(index)
            point = str(spec.get("inject", "wire"))
            outcome = engine.inject(point, data, note=str(spec.get("note", "")))
            on_frame(outcome.as_json(extras=extras))
        totals = engine.counters.nonzero_totals()
        after = {name: totals.get(name, {}) for name in host.devices}
        return {"counters": {"after": after}, "setup": log.steps}


def write_result(scenario: Scenario, out: TextIO, **options: Any) -> None:
    """Run ``scenario`` and write its result to ``out`` as JSON, one frame at a time (memory
    stays flat however many frames there are). The text parses to what :meth:`Scenario.run`
    returns."""
    sep = '{"frames": [\n '

    def one(frame: dict[str, Any]) -> None:
        nonlocal sep
        out.write(sep + json.dumps(frame))
        sep = ",\n "

    rest = scenario.stream(one, **options)  # set-up errors raise before anything is written
    out.write('{"frames": [' if sep.startswith("{") else "")
    out.write("\n]")
    for key, value in rest.items():
        out.write(f",\n{json.dumps(key)}: {json.dumps(value, indent=1)}")
    out.write("}\n")


def run_scenario(data: dict[str, Any], *, extras: bool = True) -> dict[str, Any]:
    """The emulator's answer for a scenario object."""
    return Scenario(data).run(extras=extras)
