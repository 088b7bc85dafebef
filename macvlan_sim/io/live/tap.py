"""TAP devices: one per emulated device, the way real programs reach the emulator.

A TAP is made with the ``TUNSETIFF`` ioctl on ``/dev/net/tun`` (``IFF_TAP | IFF_NO_PI``: whole
Ethernet frames, no packet-information prefix). It is never made persistent, so the kernel
removes it the moment its file descriptor closes — whatever happens to the emulator, no TAP is
left behind. The descriptor keeps working after ``ip link set NAME netns X``: the device moves,
the queue stays attached to our fd, which is how each emulated macvlan can sit in its own
namespace like a container's interface.

Address, MTU and link state are set over rtnetlink with pyroute2, on the TAP only (it is the
one interface the emulator created).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import Final

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from macvlan_sim.io.live.errors import LiveError
from macvlan_sim.model.mac import format_mac

TUN_PATH: Final = "/dev/net/tun"
TUNSETIFF: Final = 0x400454CA
TUNSETPERSIST: Final = 0x400454CB
IFF_TAP: Final = 0x0002
IFF_NO_PI: Final = 0x1000
IFNAMSIZ: Final = 16
#: Largest frame a TAP hands over (64 KiB payload plus an Ethernet header and two tags).
READ_SIZE: Final = 65536 + 22


class TapGone(Exception):
    """The TAP vanished under us (its namespace was deleted): the fd is dead."""


def link_exists(ipr: IPRoute, name: str) -> bool:
    return bool(ipr.link_lookup(ifname=name))


class TapDevice:
    """One TAP named ``name``, carrying ``mac``; frames in and out through a non-blocking fd."""

    def __init__(self, ipr: IPRoute, name: str, mac: bytes, mtu: int) -> None:
        if len(name.encode()) >= IFNAMSIZ:
            raise LiveError(f"TAP name {name!r} is longer than {IFNAMSIZ - 1} characters")
        if link_exists(ipr, name):
            raise LiveError(f"cannot create TAP {name}: an interface with that name exists")
        self.name = name
        self.fd = _open_tap(name)
        self.closed = False
        try:
            self.ifindex = ipr.link_lookup(ifname=name)[0]
            ipr.link("set", index=self.ifindex, address=format_mac(mac), mtu=mtu)
            ipr.link("set", index=self.ifindex, state="up")
        except (NetlinkError, IndexError, OSError) as exc:
            self.close()
            raise LiveError(f"cannot configure TAP {name}: {exc}") from None

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bytes | None:
        """One frame a program sent through the TAP, or None when none is waiting."""
        try:
            return os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise TapGone(self.name) from exc

    def write(self, frame: bytes) -> str | None:
        """Hand ``frame`` to the TAP's stack; a drop reason when the TAP cannot take it.

        A TAP that is down (moved to a namespace and not brought up yet) refuses with EIO, a
        full queue with EAGAIN; both are counted, never fatal.
        """
        try:
            os.write(self.fd, frame)
        except BlockingIOError:
            return "tap-queue-full"
        except OSError as exc:
            if exc.errno == errno.EIO:
                return "tap-down"
            if exc.errno in (errno.EBADFD, errno.ENODEV, errno.EINVAL):
                return "tap-gone"
            raise
        return None

    def close(self) -> None:
        """Close the fd: the kernel deletes the (non-persistent) TAP, wherever it now lives."""
        if not self.closed:
            self.closed = True
            os.close(self.fd)


def _open_tap(name: str) -> int:
    try:
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LiveError(f"{TUN_PATH} is missing: the kernel has no TUN/TAP support") from None
    except PermissionError:
        raise LiveError(f"{TUN_PATH}: permission denied (needs root or CAP_NET_ADMIN)") from None
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        fcntl.ioctl(fd, TUNSETPERSIST, 0)
    except OSError as exc:
        os.close(fd)
        if exc.errno == errno.EPERM:
            raise LiveError(f"cannot create TAP {name}: needs root or CAP_NET_ADMIN") from None
        if exc.errno in (errno.EBUSY, errno.EINVAL, errno.EEXIST):
            raise LiveError(f"cannot create TAP {name}: the name is taken") from None
        raise LiveError(f"cannot create TAP {name}: {exc.strerror}") from None
    return fd
