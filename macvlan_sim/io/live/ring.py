"""The real interface: an AF_PACKET socket with a TPACKET_V3 receive ring, also used to send.

Why a V3 ring: the kernel fills whole blocks of frames in shared memory and wakes us once per
block (or after ``retire_ms`` for a partly filled one), so one ``epoll`` wake-up and one pass
over a memory block replace a ``recvmsg`` per frame. Each frame header carries what
``PACKET_AUXDATA`` would put in a control message — the VLAN tag the receive path took out of
band (``tp_vlan_tci``/``tp_vlan_tpid``, valid when ``TP_STATUS_VLAN_VALID`` says so) — and we put
it back in band, so the engine sees the frame as it was on the wire.

What the socket does to the interface: nothing a user could see. Promiscuity comes from a
``PACKET_MR_PROMISC`` membership on the socket (the kernel counts it and drops it when the
socket closes); the interface's own flags, addresses and MTU are never touched. Frames the host
itself sends on the interface (including ours) are not captured (``PACKET_IGNORE_OUTGOING``).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import socket
import struct
from dataclasses import dataclass
from typing import Final

from macvlan_sim.io.live.errors import LiveError

ETH_P_ALL: Final = 0x0003
SOL_PACKET: Final = 263
PACKET_ADD_MEMBERSHIP: Final = 1
PACKET_RX_RING: Final = 5
PACKET_STATISTICS: Final = 6
PACKET_AUXDATA: Final = 8
PACKET_VERSION: Final = 10
PACKET_IGNORE_OUTGOING: Final = 23
TPACKET_V3: Final = 2
PACKET_MR_PROMISC: Final = 1
PACKET_OUTGOING: Final = 4

TP_STATUS_KERNEL: Final = 0
TP_STATUS_USER: Final = 1
TP_STATUS_VLAN_VALID: Final = 1 << 4
TP_STATUS_VLAN_TPID_VALID: Final = 1 << 6
ETH_P_8021Q: Final = 0x8100

SIOCGIFFLAGS: Final = 0x8913
IFF_UP: Final = 0x1

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1 (block_status,
# num_pkts, offset_to_first_pkt, ...).
_BLOCK_HDR: Final = struct.Struct("=III")
_BLOCK_STATUS_OFF: Final = 8
# struct tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac, net, rxhash,
# vlan_tci, vlan_tpid; sockaddr_ll follows at TPACKET_ALIGN(48) (its pkttype at +10).
_PKT_HDR: Final = struct.Struct("=IIIIIIHHIIH")
_SLL_PKTTYPE_OFF: Final = 48 + 10
_STATS: Final = struct.Struct("=III")


@dataclass(frozen=True)
class RingGeometry:
    """Ring size: ``blocks`` × ``block_size`` bytes of shared memory (16 MiB by default).

    Many small blocks rather than a few big ones: the kernel hands a block over when it is
    full *or* after ``retire_ms``, so at moderate rates every block leaves part-filled, and
    the number of blocks, not their size, is what bounds the frames the ring can hold while
    the engine catches up. A frame bigger than a block (a GRO aggregate on a NIC) cannot be
    captured whole: it is counted as ``ring-truncated``, never fed cut short."""

    block_size: int = 1 << 16
    blocks: int = 256
    frame_size: int = 2048
    retire_ms: int = 2


class PacketRing:
    """Capture every frame arriving on ``ifname`` into a V3 ring; send frames out of it."""

    def __init__(self, ifname: str, geometry: RingGeometry | None = None) -> None:
        self.ifname = ifname
        self.geometry = geometry or RingGeometry()
        self.kernel_packets = 0
        self.kernel_drops = 0
        #: Frames the ring could only hold cut short (never fed to the engine).
        self.truncated = 0
        self._block = 0
        self.sock = _packet_socket(ifname)
        try:
            self.ifindex = _ifindex(ifname)
            self._check_up()
            self._setup()
        except BaseException:
            self.sock.close()
            raise

    # ------------------------------------------------------------------ setup
    def _check_up(self) -> None:
        if not self.flags() & IFF_UP:
            raise LiveError(f"interface {self.ifname} is down (bring it up first)")

    def flags(self) -> int:
        req = struct.pack("16sH14x", self.ifname.encode(), 0)
        res = fcntl.ioctl(self.sock.fileno(), SIOCGIFFLAGS, req)
        return int(struct.unpack_from("H", res, 16)[0])

    def _setup(self) -> None:
        g = self.geometry
        opt = self.sock.setsockopt
        opt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        opt(SOL_PACKET, PACKET_AUXDATA, 1)
        opt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        frames = g.block_size * g.blocks // g.frame_size
        req = struct.pack("=7I", g.block_size, g.blocks, g.frame_size, frames, g.retire_ms, 0, 0)
        opt(SOL_PACKET, PACKET_RX_RING, req)
        self.map = mmap.mmap(self.sock.fileno(), g.block_size * g.blocks)
        mreq = struct.pack("=iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
        opt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        self.sock.bind((self.ifname, ETH_P_ALL))
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    # ------------------------------------------------------------------ receive
    def read_blocks(self, limit: int | None = None) -> list[tuple[int, bytes]]:
        """Every frame in the blocks the kernel has handed over (at most ``limit`` blocks),
        oldest first, as ``(timestamp_ns, frame with its tag in band)``; blocks go straight
        back to the kernel."""
        out: list[tuple[int, bytes]] = []
        g, buf, taken = self.geometry, self.map, 0
        while limit is None or taken < limit:
            base = self._block * g.block_size
            _, _, status = _BLOCK_HDR.unpack_from(buf, base)
            if not status & TP_STATUS_USER:
                break
            self.truncated += _parse_block(buf, base, out)
            struct.pack_into("=I", buf, base + _BLOCK_STATUS_OFF, TP_STATUS_KERNEL)
            self._block = (self._block + 1) % g.blocks
            taken += 1
        return out

    def read_open_block(self) -> list[tuple[int, bytes]]:
        """The frames in the block the kernel is still filling — only once the socket is
        detached from the interface (it went down or away), so nothing writes there any more
        and no frame that reached the ring is lost waiting for a block timeout."""
        out: list[tuple[int, bytes]] = []
        base = self._block * self.geometry.block_size
        _, _, status = _BLOCK_HDR.unpack_from(self.map, base)
        if not status & TP_STATUS_USER:
            self.truncated += _parse_block(self.map, base, out)
        return out

    def statistics(self) -> tuple[int, int]:
        """``PACKET_STATISTICS`` (the kernel resets it on each read): totals so far of frames
        the ring took and frames it had to drop because every block was full."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
        packets, drops, _freeze = _STATS.unpack(raw)
        self.kernel_packets += packets
        self.kernel_drops += drops
        return self.kernel_packets, self.kernel_drops

    def pending_error(self) -> int:
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    # ------------------------------------------------------------------ send
    def send(self, frame: bytes) -> str | None:
        """Put ``frame`` on the interface; a drop reason when the kernel refuses it."""
        try:
            self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            return "wire-busy"
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return "wire-busy"
            if exc.errno == errno.EMSGSIZE:
                return "wire-too-big"
            if exc.errno in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
                return "wire-down"
            raise
        return None

    def close(self) -> None:
        """Unmap the ring and close the socket (its promiscuous membership goes with it)."""
        if getattr(self, "map", None) is not None:
            self.map.close()
            self.map = None  # type: ignore[assignment]
        self.sock.close()


def _parse_block(buf: mmap.mmap, base: int, out: list[tuple[int, bytes]]) -> int:
    """Append the block's frames to ``out``; return how many were truncated (left out)."""
    _, _, _, npkts, first = struct.unpack_from("=IIIII", buf, base)
    off = base + first
    unpack = _PKT_HDR.unpack_from
    truncated = 0
    for _ in range(npkts):
        nxt, sec, nsec, snap, length, status, mac, _net, _hash, tci, tpid = unpack(buf, off)
        if snap < length:
            truncated += 1
        elif buf[off + _SLL_PKTTYPE_OFF] != PACKET_OUTGOING:
            start = off + mac
            data = buf[start : start + snap]
            if status & TP_STATUS_VLAN_VALID:
                if not status & TP_STATUS_VLAN_TPID_VALID:
                    tpid = ETH_P_8021Q
                data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            out.append((sec * 1_000_000_000 + nsec, data))
        off += nxt
    return truncated


def _packet_socket(ifname: str) -> socket.socket:
    # Protocol 0 until bound: nothing lands in the ring from other interfaces meanwhile.
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise LiveError(
            f"cannot capture on {ifname}: a packet socket needs root or CAP_NET_RAW"
        ) from None


def _ifindex(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise LiveError(f"interface {ifname} does not exist") from None
