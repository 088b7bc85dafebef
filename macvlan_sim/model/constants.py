"""Numbers the kernel uses, named as the kernel names them (see spec §2).

They live in one module so the engine, the netlink layer of the kernel harness and the
topology parser can never disagree about what ``mode bridge`` or ``PACKET_OTHERHOST`` means.
"""

from __future__ import annotations

import enum


class Mode(enum.IntFlag):
    """``MACVLAN_MODE_*``: bit values, because the broadcast path selects devices by mask."""

    PRIVATE = 1
    VEPA = 2
    BRIDGE = 4
    PASSTHRU = 8
    SOURCE = 16

    @classmethod
    def parse(cls, word: str) -> Mode:
        """The iproute2 keyword (``bridge``) to the mode; ``ValueError`` for anything else."""
        try:
            return cls[word.upper()]
        except KeyError:
            raise ValueError(f"unknown macvlan mode {word!r}") from None

    @property
    def word(self) -> str:
        return (self.name or str(int(self))).lower()

    def __str__(self) -> str:
        return self.word


class MacvlanFlag(enum.IntFlag):
    """``MACVLAN_FLAG_*``: any other bit makes the kernel answer EINVAL."""

    NONE = 0
    NOPROMISC = 1
    NODST = 2


class PktType(enum.IntEnum):
    """``PACKET_*`` values of ``skb->pkt_type`` (and of ``sll_pkttype`` on AF_PACKET)."""

    HOST = 0
    BROADCAST = 1
    MULTICAST = 2
    OTHERHOST = 3
    OUTGOING = 4
    LOOPBACK = 5

    @property
    def word(self) -> str:
        return self.name.lower()

    def __str__(self) -> str:
        return self.word


class RxHandlerResult(enum.Enum):
    """``RX_HANDLER_*``: what an rx_handler tells ``__netif_receive_skb_core`` to do next."""

    CONSUMED = 0
    ANOTHER = 1
    EXACT = 2
    PASS = 3


class MacaddrOp(enum.IntEnum):
    """``MACVLAN_MACADDR_*``: operations on a source-mode device's list."""

    ADD = 0
    DEL = 1
    FLUSH = 2
    SET = 3


ETH_HLEN = 14
VLAN_HLEN = 4
ETH_ALEN = 6

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_PAUSE = 0x8808
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
ETH_P_802_3_MIN = 0x0600
VLAN_TPIDS = (ETH_P_8021Q, ETH_P_8021AD)

MACVLAN_HASH_BITS = 8
MACVLAN_HASH_SIZE = 1 << MACVLAN_HASH_BITS
MACVLAN_MC_FILTER_BITS = 8
MACVLAN_MC_FILTER_SZ = 1 << MACVLAN_MC_FILTER_BITS
MACVLAN_DEFAULT_BC_QUEUE_LEN = 1000
MACVLAN_DEFAULT_BC_CUTOFF = 1

GOLDEN_RATIO_32 = 0x61C88647
GOLDEN_RATIO_64 = 0x61C8864680B583EB

DEFAULT_MTU = 1500
#: ``IPV6_MIN_MTU``: below it addrconf gives a device no inet6_dev, hence no all-nodes join.
IPV6_MIN_MTU = 1280
#: ``MAX_NEST_DEV``: a device may sit at most this many levels above the bottom of its stack
#: (the lower is level 1); linking one more level is EMLINK (checked on 6.18: v1..v7 on a veth
#: lower are created, v8 and a macvlan on v7 are refused).
MAX_NEST_DEV = 8
#: ``ETH_MIN_MTU``.
ETH_MIN_MTU = 68
#: The IPv4 all-hosts group every device with an in_device joins when it comes up.
IPV4_ALL_HOSTS = bytes.fromhex("01005e000001")
#: The IPv6 all-nodes group addrconf joins on every device that has IPv6 enabled.
IPV6_ALL_NODES = bytes.fromhex("333300000001")
#: GVRP/MVRP group the 8021q module joins on a device when its first VLAN is created.
GVRP_GROUP = bytes.fromhex("0180c2000021")
BROADCAST_MAC = b"\xff" * 6
