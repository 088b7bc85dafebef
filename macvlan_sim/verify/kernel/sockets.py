"""AF_PACKET observers and injectors inside the private namespace.

Observer set (documented in docs/kernel-harness.md, and modelled by the emulator because it
changes the kernel's core ``rx_dropped`` counts):

* one ETH_P_ALL tap per device (wire, lower, every VLAN device, every macvlan), bound to that
  ifindex, with PACKET_AUXDATA so an out-of-band VLAN tag is visible;
* on the lower and on every VLAN device, one protocol socket per skb->protocol value the
  scenario's frames can take (:func:`frames.protocols_for`), bound to that device. Such a
  socket also gets frames that finished on a macvlan above it (the core delivers to handlers
  bound to ``orig_dev``); those copies carry the macvlan's ifindex and are discarded, so a
  ``NAME:stack`` reception means "the frame finished on NAME itself".

Nothing is bound on the macvlans except their taps. Sockets are created while the thread is
inside the namespace (they stay in the namespace they were created in) and then used from the
original namespace.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import netns as ns_mod

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
AUXDATA_STRUCT = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
SIOCADDMULTI = 0x8931

PKTTYPES = {
    socket.PACKET_HOST: "host",
    socket.PACKET_BROADCAST: "broadcast",
    socket.PACKET_MULTICAST: "multicast",
    socket.PACKET_OTHERHOST: "otherhost",
    socket.PACKET_OUTGOING: "outgoing",
    5: "loopback",  # PACKET_LOOPBACK: Python does not export it
}
PACKET_OUTGOING = socket.PACKET_OUTGOING

_RCVBUF = 4 << 20
#: Room for the largest frame a socket can be handed: a reassembled 65,535-byte IPv4 datagram
#: plus its Ethernet header and two tags (a smaller buffer silently truncates it).
_MAX_FRAME = 1 << 17


@dataclass
class Capture:
    """One copy of a frame seen by one observer socket."""

    label: str  #: reception ``dev``: a device name or ``NAME:stack``
    device: str  #: the device the observer is bound to
    ifname: str  #: sll_ifindex of the copy, as a name (the device it finished on)
    pkttype: int  #: sll_pkttype
    raw: bytes  #: bytes as captured (an out-of-band tag is *not* in here)
    vlan: tuple[int, int] | None  #: (TPID, TCI) from PACKET_AUXDATA, when valid
    ts: float = field(default_factory=time.monotonic)

    @property
    def effective(self) -> bytes:
        """The frame as it was on the wire: the aux tag put back in band."""
        if self.vlan is None:
            return self.raw
        tpid, tci = self.vlan
        return self.raw[:12] + struct.pack("!HH", tpid, tci) + self.raw[12:]


def parse_auxdata(ancdata: list[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    """(TPID, TCI) of the out-of-band tag, or None. TPID defaults to 802.1Q."""
    for level, kind, data in ancdata:
        if level != SOL_PACKET or kind != PACKET_AUXDATA or len(data) < AUXDATA_STRUCT.size:
            continue
        status, _len, _snap, _mac, _net, tci, tpid = AUXDATA_STRUCT.unpack_from(data)
        if status & TP_STATUS_VLAN_VALID:
            return (tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci)
    return None


class Observer:
    """All capture sockets of one run, polled together."""

    def __init__(self) -> None:
        self._socks: dict[int, tuple[socket.socket, str, str, bool]] = {}
        self._poll = select.poll()

    def _add(self, sock: socket.socket, label: str, device: str, stack: bool) -> None:
        self._socks[sock.fileno()] = (sock, label, device, stack)
        self._poll.register(sock.fileno(), select.POLLIN)

    @staticmethod
    def _open(device: str, proto: int) -> socket.socket:
        # Created with protocol 0 (not hooked into the stack yet), configured, then bound with
        # the real protocol: no frame from another device can sneak in before the bind.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind((device, proto))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def open(self, netns: str, taps: Iterable[str], stacks: dict[str, Iterable[int]]) -> None:
        """Create the taps and protocol sockets inside ``netns``.

        ``taps``: devices to tap. ``stacks``: device -> protocol numbers to bind there.
        """
        with ns_mod.entered(netns):
            for dev in taps:
                self._add(self._open(dev, ETH_P_ALL), dev, dev, False)
            for dev, protos in stacks.items():
                for proto in protos:
                    self._add(self._open(dev, proto), f"{dev}:stack", dev, True)

    def close(self) -> None:
        """Close every socket (they pin the namespace)."""
        for fd, (sock, *_rest) in list(self._socks.items()):
            with contextlib.suppress(KeyError):
                self._poll.unregister(fd)
            sock.close()
        self._socks.clear()

    def drain(self) -> list[Capture]:
        """Everything queued on every socket right now (non-blocking)."""
        out: list[Capture] = []
        for fd in list(self._socks):
            out.extend(self._drain_one(fd))
        return out

    def _drain_one(self, fd: int) -> list[Capture]:
        sock, label, device, stack = self._socks[fd]
        out: list[Capture] = []
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(
                    _MAX_FRAME, socket.CMSG_SPACE(AUXDATA_STRUCT.size)
                )
            except BlockingIOError:
                return out
            except OSError as exc:
                # A packet socket bound to a device that is (or goes) down gets a pending
                # ENETDOWN, reported once by the next recv; the binding itself survives.
                if exc.errno in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
                    continue
                raise
            ifname, _proto, pkttype = addr[0], addr[1], addr[2]
            if stack and ifname != device:
                # The orig_dev rule: a handler bound to the lower also gets frames that
                # finished on a macvlan. Not "the lower's stack", so not reported.
                continue
            out.append(Capture(label, device, ifname, pkttype, data, parse_auxdata(anc)))

    def collect(self, settle: float, max_wait: float) -> list[Capture]:
        """Read until every socket has been quiet for ``settle`` seconds.

        The quiet window restarts with each frame received, so a burst (inline copies, then
        the broadcast workqueue's copies, then backlog deliveries) is read as one unit; the
        minimum cost is one window. ``max_wait`` bounds the total in case of endless traffic.
        """
        out: list[Capture] = []
        start = last = time.monotonic()
        while True:
            ns_mod.raise_if_signalled()
            now = time.monotonic()
            remaining = min(settle - (now - last), max_wait - (now - start))
            if remaining <= 0:
                break
            events = self._poll.poll(max(1, int(remaining * 1000 + 0.999)))
            for fd, _ev in events:
                out.extend(self._drain_one(fd))
            if events:  # discarded orig_dev copies count as activity too
                last = time.monotonic()
        return out


class Injector:
    """Sends full frames on named devices and manages link-layer multicast joins.

    Uses its own unbound packet socket, distinct from the taps, because the kernel does not
    loop a transmitted frame back to the socket that sent it: the device's tap must see its
    own ``outgoing`` copy. The socket's protocol is 0, so the kernel derives skb->protocol
    from the frame's ethertype, as it does for any raw packet socket send.
    """

    def __init__(self, netns: str) -> None:
        with ns_mod.entered(netns):
            self._tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            # iproute2's `ip maddr` issues SIOCADDMULTI on an AF_INET datagram socket.
            self._ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 0)

    def close(self) -> None:
        """Close both sockets (they pin the namespace)."""
        self._tx.close()
        self._ctl.close()

    def send(self, device: str, frame: bytes) -> str:
        """Send ``frame`` out of ``device``: ``"ok"`` or the kernel's errno name.

        A missing device fails the name lookup with ENODEV, a down one is refused by the
        packet socket with ENETDOWN; both are results the format reports.
        """
        try:
            sent = self._tx.sendto(frame, (device, 0))
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc.errno))
        if sent != len(frame):  # pragma: no cover - packet sockets send all or nothing
            return "EMSGSIZE"
        return "ok"

    def add_multicast(self, device: str, mac: bytes) -> None:
        """``ip maddr add MAC dev DEVICE``: SIOCADDMULTI with an AF_UNSPEC hwaddr."""
        ifreq = struct.pack("16sH14s8x", device.encode(), socket.AF_UNSPEC, mac)
        fcntl.ioctl(self._ctl.fileno(), SIOCADDMULTI, ifreq)


def read_memberships(netns: str) -> dict[str, list[str]]:
    """Every device's real link-layer multicast list in ``netns`` (``/proc/net/dev_mcast``:
    ifindex, name, users, global use, address), as ``{name: ["33:33:00:00:00:01", ...]}``.

    ``/proc/thread-self/net`` resolves against the calling thread's namespace, hence the
    :func:`netns.entered` block."""
    found: dict[str, list[str]] = {}
    with ns_mod.entered(netns), open("/proc/thread-self/net/dev_mcast") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) >= 5 and len(fields[4]) == 12:
                mac = ":".join(fields[4][i : i + 2] for i in range(0, 12, 2))
                found.setdefault(fields[1], []).append(mac)
    return {name: sorted(macs) for name, macs in found.items()}


def write_sysctl(netns: str, values: dict[str, str]) -> dict[str, bool]:
    """Write per-namespace sysctls (relative paths under /proc/sys); missing ones are skipped.

    /proc/sys/net resolves against the *calling thread's* namespace at open time, hence the
    :func:`netns.entered` block.
    """
    done: dict[str, bool] = {}
    with ns_mod.entered(netns):
        for key, value in values.items():
            path = os.path.join("/proc/sys", key)
            try:
                with open(path, "w") as fh:
                    fh.write(value)
                done[key] = True
            except FileNotFoundError:
                done[key] = False
    return done
