"""Random scenarios for ``verify-kernel --random``: small topologies and frames chosen to reach
every rule of the spec (every mode and flag, source lists, joins, allmulti/promisc, down
devices, bcqueuelen 0, bclim −1/0/2, hairpin, TX from every mode, VLAN tags, PAUSE, runts,
multicast IPv4 fragments, MAC conflicts and refused devices), and the states the spec's
corrections are about: devices and lowers with MTUs under 1280, frames to every group some
device holds (the automatic ones of §8 and those VLAN devices add, computed from the built
topology), and groups nobody holds.

:func:`random_vm_scenario` makes VLAN/NIC scenarios for the qemu oracle: never-up VLAN devices
carrying macvlans, VLAN devices on macvlans sending broadcasts, QinQ, passthru on VLANs and a
filtering NIC lower.

Addresses come from small pools so that frames hit devices, sources collide with listed ones,
and occasionally two devices want the same MAC. Scenarios are plain JSON objects in the
``scenario run`` schema, deterministic for a seed.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

from macvlan_sim.model.errors import SimError
from macvlan_sim.model.mac import format_mac

LOWER_MAC = "02:00:00:00:00:01"
WIRE_MAC = "02:00:00:00:ff:fe"
EXTERNAL = [f"0a:00:00:00:00:{i:02x}" for i in range(1, 6)]
GROUPS = [
    "01:00:5e:00:00:fb",
    "01:00:5e:00:00:01",
    "01:00:5e:00:00:11",
    "33:33:00:00:00:fb",
    "01:80:c2:00:00:0e",
]
#: Groups every device holds without being asked (spec §8): IPv6 all-nodes from registration,
#: IPv4 all-hosts while up, and the GVRP/MVRP group on a device that carries a VLAN device.
AUTO_GROUPS = ["33:33:00:00:00:01", "01:00:5e:00:00:01", "01:80:c2:00:00:21"]
#: Groups nobody joins: only a hash-filter collision (or promisc/allmulti) lets them through.
UNJOINED = ["01:00:5e:7f:12:34", "33:33:ff:00:00:99"]
BROADCAST = "ff:ff:ff:ff:ff:ff"
MODES = ["private", "vepa", "bridge", "source"]
MARKER_TYPE = 0x88B5


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


class _Gen:
    def __init__(self, seed: int, *, mtus: bool = False) -> None:
        self.rng = random.Random(seed)
        #: Give some devices an MTU (the qemu oracle cannot; the host harness can).
        self.mtus = mtus
        self.seed = seed
        self.serial = 0
        #: Every group some device of the topology holds (filled in once it is built).
        self.held: list[str] = []
        #: VLAN devices that can send (their broadcasts reach the macvlans they sit on).
        self.vlan_names: list[str] = []

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # ------------------------------------------------------------------ topology
    def devices(self) -> list[dict[str, Any]]:
        r = self.rng
        if self.chance(0.08):
            return self._passthru_port()
        count = r.randint(1, 5)
        pool = [f"02:00:00:00:01:{i:02x}" for i in range(count + 1)]
        devs = []
        for i in range(count):
            mode = r.choice(MODES)
            dev: dict[str, Any] = {"name": f"mv{i}", "mode": mode, "mac": pool[i]}
            if self.chance(0.1):
                dev["mac"] = r.choice(pool[:count])  # a MAC conflict: EADDRINUSE at up
            if self.chance(0.06):
                dev["mac"] = LOWER_MAC  # the lower's own MAC is busy too
            flags = []
            if self.chance(0.25):
                flags.append("nodst")
            if self.chance(0.08):
                flags.append("nopromisc")
            if flags:
                dev["flags"] = flags
            if mode == "source" or self.chance(0.05):
                dev["macaddr"] = r.sample(EXTERNAL + pool[:count], r.randint(1, 2))
            if self.chance(0.35):
                dev["mc"] = r.sample(GROUPS, r.randint(1, 2))
            if self.chance(0.12):
                dev["allmulti"] = True
            if self.chance(0.08):
                dev["promisc"] = True
            if self.chance(0.15):
                dev["up"] = False
            if self.chance(0.08):
                dev["bcqueuelen"] = r.choice([0, 1, 5])
            if self.mtus and self.chance(0.1):
                dev["mtu"] = r.choice([576, 1000, 1279, 1280])  # no all-nodes below 1280
            devs.append(dev)
        if self.chance(0.04):
            devs.append({"name": f"mv{count}", "mode": "passthru"})  # refused: EINVAL
        return devs

    def _passthru_port(self) -> list[dict[str, Any]]:
        dev: dict[str, Any] = {"name": "mv0", "mode": "passthru"}
        if self.chance(0.5):
            dev["flags"] = ["nopromisc"]
        if self.chance(0.3):
            dev["up"] = False
        if self.chance(0.4):
            dev["mc"] = [self.rng.choice(GROUPS)]
        return [dev]

    def vlans(self, devs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """lower.10 (sometimes down or with reorder_hdr off), sometimes QinQ lower.100(ad).10,
        and sometimes a VLAN on a macvlan."""
        out: list[dict[str, Any]] = [{"name": "lower.10", "link": "lower", "id": 10}]
        if self.chance(0.2):
            out[0]["up"] = False
        if self.chance(0.2):
            out[0]["flags"] = []
        if self.chance(0.4):
            out.append({"name": "lower.100", "link": "lower", "id": 100, "protocol": "802.1ad"})
            out.append({"name": "lower.100.10", "link": "lower.100", "id": 10})
        macvlans = [d["name"] for d in devs if d.get("mode") != "source"]
        if macvlans and self.chance(0.4):
            out.append({"name": "vl20", "link": self.rng.choice(macvlans), "id": 20})
        return out

    def vlan_macvlans(self, vlans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One or two bridge/vepa macvlans on each VLAN device."""
        out = []
        for n, vlan in enumerate(vlans):
            for k in range(self.rng.randint(1, 2)):
                mode = self.rng.choice(["bridge", "vepa", "private"])
                mac = f"02:00:00:00:{0x10 + n:02x}:{k:02x}"
                out.append({"name": f"v{n}m{k}", "link": vlan["name"], "mode": mode, "mac": mac})
        return out

    def port(self) -> dict[str, Any]:
        port: dict[str, Any] = {}
        if self.chance(0.25):
            port["bcqueuelen"] = self.rng.choice([0, 0, 1, 3])
        if self.chance(0.35):
            port["bclim"] = self.rng.choice([-1, -1, 0, 2, 5])
        return port

    # ------------------------------------------------------------------ frames
    def payload(self, length: int = 46) -> bytes:
        self.serial += 1
        body = b"MVO-" + struct.pack("!IH", self.seed & 0xFFFFFFFF, self.serial)
        return struct.pack("!H", MARKER_TYPE) + body + b"\0" * max(0, length - 2 - len(body))

    def frame(self, dst: str, src: str, *, tags: list[tuple[int, int]] | None = None) -> bytes:
        tag_bytes = b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in tags or [])
        return _mac(dst) + _mac(src) + tag_bytes + self.payload()

    def dst(self, devs: list[dict[str, Any]]) -> str:
        r = self.rng
        macs = [d["mac"] for d in devs if "mac" in d]
        choices = [*macs, *macs, LOWER_MAC, "02:00:00:00:99:99", BROADCAST, BROADCAST, *GROUPS]
        choices += [*AUTO_GROUPS, *self.held, *UNJOINED[:1]]
        return r.choice(choices)

    def src(self, devs: list[dict[str, Any]]) -> str:
        macs = [d["mac"] for d in devs if "mac" in d]
        listed = [m for d in devs for m in d.get("macaddr", [])]
        return self.rng.choice(EXTERNAL + listed + listed + macs)

    def tags(self) -> list[tuple[int, int]]:
        r = self.rng
        roll = r.random()
        if roll < 0.70:
            return []
        if roll < 0.80:
            return [(0x8100, r.choice([10, 20, 4094]) | (r.randint(0, 7) << 13))]
        if roll < 0.87:
            return [(0x8100, r.randint(0, 7) << 13)]  # priority tag, VID 0
        if roll < 0.93:
            return [(0x88A8, 100), (0x8100, 10)]
        return [(0x8100, 5 << 13), (0x8100, 20)]  # VID 0 in front of VID 20

    def frames(self, devs: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < count:
            roll = self.rng.random()
            if roll < 0.55:
                data = self.frame(self.dst(devs), self.src(devs), tags=self.tags())
                out.append({"inject": "wire", "hex": data.hex(), "note": "rx"})
            elif roll < 0.80:
                out.append(self._tx(devs))
            elif roll < 0.86:
                out.append(self._special())
            elif roll < 0.91:
                out += self._fragments(devs)
            else:
                out.append(self._runt(devs))
        return out[:count] if len(out) > count + 2 else out

    def _tx(self, devs: list[dict[str, Any]]) -> dict[str, Any]:
        names = [d["name"] for d in devs] + ["lower"] + self.vlan_names
        sender = self.rng.choice(names)
        dev = next((d for d in devs if d["name"] == sender), None)
        src = dev.get("mac", LOWER_MAC) if dev else LOWER_MAC
        data = self.frame(self.dst(devs), src, tags=self.tags() if self.chance(0.2) else [])
        return {"inject": sender, "hex": data.hex(), "note": f"tx from {sender}"}

    def _special(self) -> dict[str, Any]:
        pause = _mac("01:80:c2:00:00:01") + _mac(self.rng.choice(EXTERNAL)) + b"\x88\x08"
        pause += b"\x00\x01\xff\xff" + self.payload()[2:42]
        return {"inject": "wire", "hex": pause.hex(), "note": "PAUSE"}

    def _runt(self, devs: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.rng
        base = _mac(self.dst(devs)) + _mac(self.src(devs))
        if self.chance(0.5):
            data = base + b"\x88\xb5" + bytes(r.randint(0, 5))  # 14-19 bytes
        else:
            data = base + b"\x81\x00" + bytes([0, 10, 0x88, 0xB5, 1, 2])[: r.randint(0, 6)]
        return {"inject": "wire", "hex": data.hex(), "note": f"runt {len(data)} bytes"}

    def _fragments(self, devs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An IPv4 datagram to a group (or a unicast MAC) in 2–3 fragments."""
        dst = self.rng.choice(["01:00:5e:00:00:fb", BROADCAST, self.dst(devs)])
        self.serial += 1
        ident = self.serial & 0xFFFF
        body = bytes((i * 7 + self.seed) & 0xFF for i in range(48))
        pieces = [body[0:16], body[16:32], body[32:48]]
        frames = []
        for n, piece in enumerate(pieces):
            more = n < len(pieces) - 1
            frag = (0x2000 if more else 0) | (n * 2)
            header = _ipv4(ident, frag, len(piece), 17)
            data = _mac(dst) + _mac(self.rng.choice(EXTERNAL)) + b"\x08\x00" + header + piece
            data += b"\0" * max(0, 60 - len(data))
            frames.append({"inject": "wire", "hex": data.hex(), "note": f"ipv4 fragment {n}"})
        if self.chance(0.3):
            frames.reverse()
        return frames


def _ipv4(ident: int, frag: int, payload: int, proto: int) -> bytes:
    header = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + payload,
            ident,
            frag,
            64,
            proto,
            0,
            bytes([192, 0, 2, 7]),
            bytes([224, 0, 0, 251]),
        )
    )
    total = sum(struct.unpack("!10H", bytes(header)))
    total = (total & 0xFFFF) + (total >> 16)
    struct.pack_into("!H", header, 10, ~total & 0xFFFF)
    return bytes(header)


class _VmGen(_Gen):
    """VLAN/NIC scenarios for a kernel with 8021q (the qemu oracle): VLAN devices on the lower,
    QinQ, VLAN devices on macvlans, never-up VLAN devices that carry macvlans, a filtering NIC
    lower, and frames aimed at every group any device holds (automatic ones included), sent from
    the wire, the lower, every macvlan and every VLAN device."""

    VIDS = (10, 20, 30)

    def vm_devices(self) -> list[dict[str, Any]]:
        # The qemu oracle refuses a source list outside source mode.
        devs = [d for d in self.devices() if not (d.get("macaddr") and d.get("mode") != "source")]
        return devs

    def vm_vlans(self, devs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = self.rng
        out: list[dict[str, Any]] = []
        for vid in r.sample(self.VIDS, r.randint(1, 2)):
            vlan: dict[str, Any] = {"name": f"lower.{vid}", "link": "lower", "id": vid}
            if self.chance(0.35):
                vlan["up"] = False  # never brought up: its macvlans sit on a down lower
            if self.chance(0.15):
                vlan["flags"] = []
            out.append(vlan)
        if self.chance(0.25):
            out.append({"name": "lower.100", "link": "lower", "id": 100, "protocol": "802.1ad"})
            out.append({"name": "lower.100.10", "link": "lower.100", "id": 10})
        carriers = [d["name"] for d in devs if d.get("mode") != "source"]
        if carriers and self.chance(0.6):
            vlan = {"name": "vl20", "link": r.choice(carriers), "id": 20}
            if self.chance(0.2):
                vlan["up"] = False
            out.append(vlan)
        return out

    def vm_vlan_macvlans(self, vlans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for n, vlan in enumerate(vlans):
            if self.chance(0.12):
                dev: dict[str, Any] = {"name": f"v{n}p", "link": vlan["name"], "mode": "passthru"}
                if self.chance(0.4):
                    dev["flags"] = ["nopromisc"]
                out.append(dev)
                continue
            for k in range(self.rng.randint(0, 2)):
                mode = self.rng.choice(["bridge", "bridge", "vepa", "private"])
                mac = f"02:00:00:00:{0x10 + n:02x}:{k:02x}"
                dev = {"name": f"v{n}m{k}", "link": vlan["name"], "mode": mode, "mac": mac}
                if self.chance(0.25):
                    dev["mc"] = self.rng.sample(GROUPS, 1)
                if self.chance(0.1):
                    dev["allmulti"] = True
                if self.chance(0.1):
                    dev["promisc"] = True
                if self.chance(0.1):
                    dev["up"] = False
                out.append(dev)
        return out

    def vm_dst(self, macs: list[str]) -> str:
        choices = [*macs, *macs, LOWER_MAC, "02:00:00:00:99:99", BROADCAST, BROADCAST]
        choices += [*GROUPS, *AUTO_GROUPS, *AUTO_GROUPS, *UNJOINED]
        return self.rng.choice(choices)

    def vm_tags(self, vlans: list[dict[str, Any]]) -> list[tuple[int, int]]:
        r = self.rng
        roll = r.random()
        vids = [v["id"] for v in vlans if v["link"] == "lower" and v.get("protocol") != "802.1ad"]
        if roll < 0.35:
            return []
        if roll < 0.70 and vids:
            return [(0x8100, r.choice(vids) | (r.randint(0, 7) << 13))]
        if roll < 0.78:
            return [(0x8100, r.choice([20, 4094, 0]))]
        if roll < 0.86:
            return [(0x88A8, 100), (0x8100, r.choice([10, 20]))]
        return [(0x8100, 0), (0x8100, r.choice([10, 20, 30]))]

    def vm_frames(
        self, devs: list[dict[str, Any]], vlans: list[dict[str, Any]], count: int
    ) -> list[dict[str, Any]]:
        macs = [d["mac"] for d in devs if "mac" in d]
        senders = [d["name"] for d in devs] + [v["name"] for v in vlans] + ["lower"]
        own = {d["name"]: d.get("mac", LOWER_MAC) for d in devs}
        out: list[dict[str, Any]] = []
        while len(out) < count:
            roll = self.rng.random()
            if roll < 0.5:
                src = self.rng.choice(EXTERNAL + macs)
                data = self.frame(self.vm_dst(macs), src, tags=self.vm_tags(vlans))
                out.append({"inject": "wire", "hex": data.hex(), "note": "rx"})
            elif roll < 0.95:
                sender = self.rng.choice(senders)
                dst = BROADCAST if self.chance(0.25) else self.vm_dst(macs)
                data = self.frame(dst, own.get(sender, LOWER_MAC))
                out.append({"inject": sender, "hex": data.hex(), "note": f"tx from {sender}"})
            else:
                out.append(self._special())
        return out


def held_groups(topology: dict[str, Any]) -> list[str]:
    """Every group any device of ``topology`` (a scenario without frames) holds once it is
    set up — automatic memberships and those VLAN devices or a NIC add included — as the
    emulator computes them; verify-kernel checks those lists against the kernel's."""
    from macvlan_sim.io.scenario import Scenario

    try:
        host, _log = Scenario(topology, "random topology").build()
    except SimError:
        return []
    held = {format_mac(g) for dev in host.devices.values() for g in dev.mc_addresses()}
    return sorted(held)


def random_vm_scenario(seed: int, *, frames: int = 45) -> dict[str, Any]:
    """A random VLAN/NIC scenario for a kernel with 8021q and a filtering NIC (the qemu
    oracle): half of them on a ``nic`` lower. Deterministic for a seed."""
    gen = _VmGen(seed)
    devs = gen.vm_devices()
    vlan_devs = gen.vm_vlans(devs)
    devs += gen.vm_vlan_macvlans(vlan_devs)
    lower: dict[str, Any] = {"mac": LOWER_MAC}
    if gen.chance(0.5):
        lower["kind"] = "nic"
    if gen.chance(0.05):
        lower["promisc"] = True
    return _assemble(gen, lower, devs, vlan_devs, lambda: gen.vm_frames(devs, vlan_devs, frames))


def _assemble(
    gen: _Gen,
    lower: dict[str, Any],
    devs: list[dict[str, Any]],
    vlan_devs: list[dict[str, Any]],
    frames: Callable[[], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The scenario object; the port, hairpin, order and frames are drawn in this order."""
    return {
        "lower": lower,
        "wire": {"mac": WIRE_MAC},
        "devices": devs,
        "vlans": vlan_devs,
        "port": gen.port(),
        "hairpin": gen.chance(0.3),
        "config_after_up": gen.chance(0.2),
        "frames": frames(),
        "seed": gen.seed,
    }


def random_scenario(seed: int, *, frames: int = 20, vlans: bool = False) -> dict[str, Any]:
    """One random scenario; the same seed always gives the same scenario. ``vlans`` adds VLAN
    sub-interfaces (on the lower, QinQ, on a macvlan) and macvlans on them: only for kernels
    with 8021q."""
    gen = _Gen(seed, mtus=True)
    devs = gen.devices()
    vlan_devs = gen.vlans(devs) if vlans else []
    devs += gen.vlan_macvlans(vlan_devs)
    gen.vlan_names = [v["name"] for v in vlan_devs]
    lower: dict[str, Any] = {"mac": LOWER_MAC}
    if gen.chance(0.06):
        lower["mtu"] = gen.rng.choice([1000, 1279])  # every device inherits MTU < 1280
    gen.held = held_groups({"lower": lower, "devices": devs, "vlans": vlan_devs})
    scenario = _assemble(gen, lower, devs, vlan_devs, lambda: gen.frames(devs, frames))
    if gen.chance(0.05):
        scenario["lower"]["promisc"] = True
    if not vlan_devs:
        del scenario["vlans"]
    return scenario
