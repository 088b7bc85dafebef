"""A small network lab for the live tests: namespaces, a veth cable, programs that talk.

Layout (every namespace is ours, made with the kernel harness's ``private_netns`` and deleted
on the way out, failures included)::

    A (mv1) ─┐                      ┌─ W: far0 (plain, or a bridge port with hairpin on)
             ├─ H: up0 ══ veth ═════┘
    B (mv2) ─┘

``up0`` is the lower: the live emulator captures on it (its TAPs ``mv1``/``mv2`` are moved into
A and B), or kernel macvlans are stacked on it and moved the same way. The same programs run
in both: an ICMP echo from A, and a capture on the wire side in W.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from macvlan_sim.io.live import LiveEmulator
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.verify.kernel.netns import entered, private_netns

SUBNET = "10.9.0"
ADDRS = {"mv1": f"{SUBNET}.1", "mv2": f"{SUBNET}.2"}
LOWER_ADDR = f"{SUBNET}.254"
MACS = {"mv1": "02:00:00:00:0a:01", "mv2": "02:00:00:00:0a:02"}
ETH_P_ALL = 0x0003


def ip(*args: str) -> None:
    """One ``ip`` command; a failure shows iproute2's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def quiet(ns: str) -> None:
    """No IPv6 in ``ns`` (its autoconf chatter would muddy the wire-side capture)."""
    with entered(ns):
        for key in ("all", "default"):
            with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
                f.write("1")


@dataclass
class Lab:
    host: str
    wire: str
    a: str
    b: str


@contextlib.contextmanager
def lab(*, hairpin: bool = False) -> Iterator[Lab]:
    """Four namespaces and the cable; ``hairpin`` puts far0 in a bridge that reflects."""
    with (
        private_netns() as h,
        private_netns() as w,
        private_netns() as a,
        private_netns() as b,
    ):
        for ns in (h, w, a, b):
            quiet(ns)
        ip("-n", h, "link", "add", "up0", "type", "veth", "peer", "far0", "netns", w)
        ip("-n", h, "link", "set", "up0", "up")
        if hairpin:
            ip("-n", w, "link", "add", "br0", "type", "bridge", "stp_state", "0")
            ip("-n", w, "link", "set", "far0", "master", "br0")
            ip("-n", w, "link", "set", "dev", "far0", "type", "bridge_slave", "hairpin", "on")
            ip("-n", w, "link", "set", "br0", "up")
        ip("-n", w, "link", "set", "far0", "up")
        yield Lab(h, w, a, b)


def topology(mode: str, extra: str = "") -> str:
    lines = ["host ipv6 off", "lower up0 veth"]
    for dev in ("mv1", "mv2"):
        lines += [
            f"ip link add {dev} link up0 address {MACS[dev]} type macvlan mode {mode}",
            f"ip link set {dev} up",
        ]
    return "\n".join(lines) + "\n" + extra


def place(lab: Lab, dev: str, ns: str, addr: str | None) -> None:
    """Move ``dev`` (a TAP or a kernel macvlan) from H into ``ns``, address it, bring it up."""
    ip("-n", lab.host, "link", "set", dev, "netns", ns)
    if addr is not None:
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
    ip("-n", ns, "link", "set", dev, "up")


def place_pair(lab: Lab) -> None:
    place(lab, "mv1", lab.a, ADDRS["mv1"])
    place(lab, "mv2", lab.b, ADDRS["mv2"])


def kernel_macvlans_here(lab: Lab, mode: str) -> None:
    """The same two devices as the topology, made by the kernel's macvlan driver, up in H."""
    for dev in ("mv1", "mv2"):
        ip("-n", lab.host, "link", "add", dev, "link", "up0", "address", MACS[dev],
           "type", "macvlan", "mode", mode)  # fmt: skip
        ip("-n", lab.host, "link", "set", dev, "up")


def kernel_macvlans(lab: Lab, mode: str) -> None:
    """Kernel macvlans mv1/mv2, moved into A and B like the emulator's TAPs."""
    kernel_macvlans_here(lab, mode)
    place_pair(lab)


@contextlib.contextmanager
def emulator(lab: Lab, topo_text: str, **kwargs: object) -> Iterator[LiveEmulator]:
    """The live emulator on up0 in H, running in a thread; stopped and closed on the way out
    (its TAPs disappear with it, before the namespaces are deleted)."""
    topo = parse_topology(topo_text, "<test topology>")
    with entered(lab.host):
        emu = LiveEmulator(topo.host, "up0", **kwargs)  # type: ignore[arg-type]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            emu.run()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="live-emulator", daemon=True)
    thread.start()
    try:
        yield emu
    finally:
        emu.stop()
        thread.join(10)
        emu.close()
    assert not thread.is_alive(), "the live loop did not stop"
    if errors:
        raise errors[0]


def echo(ns: str, dst: str, *, timeout: float) -> bool:
    """An ICMP echo from ``ns`` to ``dst`` (a raw socket; there is no ping binary)."""
    with entered(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    deadline = time.monotonic() + timeout
    seq = 0
    with sock:
        while time.monotonic() < deadline:
            seq += 1
            sock.sendto(_echo_request(ident, seq), (dst, 0))
            until = min(deadline, time.monotonic() + 0.25)
            while (left := until - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                packet, (src, _) = sock.recvfrom(2048)
                ihl = (packet[0] & 0x0F) * 4
                kind, _, _, got_id = struct.unpack_from("!BBHH", packet, ihl)
                if kind == 0 and got_id == ident and src == dst:
                    return True
    return False


def _echo_request(ident: int, seq: int) -> bytes:
    body = b"macvlan-sim live"
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = _checksum(header + body)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + body


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Capture:
    """Everything a device sees (AF_PACKET in its namespace), tags put back in band."""

    def __init__(self, ns: str, dev: str) -> None:
        with entered(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((dev, ETH_P_ALL))
        self.sock.setsockopt(263, 8, 1)  # PACKET_AUXDATA
        self.sock.setblocking(False)

    def frames(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(20))
            except BlockingIOError:
                return out
            for level, kind, value in anc:
                if level == 263 and kind == 8:  # tpacket_auxdata
                    status, _, _, _, _, tci, tpid = struct.unpack_from("=IIIHHHH", value)
                    if status & (1 << 4):
                        tpid = tpid if status & (1 << 6) else 0x8100
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            out.append(data)

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        self.sock.close()


def is_echo_traffic(frame: bytes) -> bool:
    """An IPv4 ICMP packet (possibly behind one VLAN tag), or ARP for our subnet."""
    off = 12
    if frame[off : off + 2] == b"\x81\x00":
        off += 4
    kind = frame[off : off + 2]
    if kind == b"\x08\x00":
        return frame[off + 2 + 9] == 1
    return kind == b"\x08\x06"
