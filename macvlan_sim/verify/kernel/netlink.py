"""rtnetlink device setup inside the private namespace, via pyroute2.

pyroute2 0.9.7 knows the macvlan attributes only up to MACADDR_COUNT (6): it cannot encode
BC_QUEUE_LEN (7) or BC_CUTOFF (9) and decodes them as UNKNOWN. Instead of patching the
library's global tables we send macvlan create/change requests with a small message class of
our own (same wire format as ``struct ifinfomsg``) and decode macvlan read-backs with it too.
Everything else uses the stock ``IPRoute`` API.

All sockets are opened with ``IPRoute(netns=name, flags=0)``: flags=0 means pyroute2 must not
create the namespace if it has disappeared, so a stale name can never resurrect one.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, nla, nlmsg
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_GETLINK, RTM_NEWLINK

IFF_UP = 0x1
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200

MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
MACVLAN_FLAGS = {"nopromisc": 1, "nodst": 2}
MACVLAN_MACADDR_SET = 3
#: The kernel omits IFLA_MACVLAN_BC_CUTOFF from dumps when it has its default value.
DEFAULT_BC_CUTOFF = 1

VLAN_PROTOCOLS = {"802.1Q": 0x8100, "802.1ad": 0x88A8}

#: rtnl_link_stats64 fields the result format reports, in struct order.
STAT_FIELDS = (
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
)


def errno_name(exc: BaseException) -> str:
    """Symbolic errno (``"EADDRINUSE"``) of a NetlinkError/OSError, for the setup log."""
    code = getattr(exc, "code", None)
    if code is None:
        code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return errno.errorcode.get(abs(code), str(code))
    return type(exc).__name__


class _MacvlanData(nla):
    """IFLA_INFO_DATA for kind macvlan, complete up to IFLA_MACVLAN_BC_CUTOFF (uapi if_link.h)."""

    nla_map = (
        (1, "IFLA_MACVLAN_MODE", "uint32"),
        (2, "IFLA_MACVLAN_FLAGS", "uint16"),
        (3, "IFLA_MACVLAN_MACADDR_MODE", "uint32"),
        (4, "IFLA_MACVLAN_MACADDR", "l2addr"),
        (5, "IFLA_MACVLAN_MACADDR_DATA", "macaddr_data"),
        (6, "IFLA_MACVLAN_MACADDR_COUNT", "uint32"),
        (7, "IFLA_MACVLAN_BC_QUEUE_LEN", "uint32"),
        (8, "IFLA_MACVLAN_BC_QUEUE_LEN_USED", "uint32"),
        (9, "IFLA_MACVLAN_BC_CUTOFF", "int32"),
    )

    # pyroute2 resolves the nla class named in nla_map as an attribute of this class.
    class macaddr_data(nla):
        nla_map = ((4, "IFLA_MACVLAN_MACADDR", "l2addr"),)


class _MacvlanLinkInfo(nla):
    nla_map = (
        (1, "IFLA_INFO_KIND", "asciiz"),
        (2, "IFLA_INFO_DATA", "macvlan_data"),
    )

    class macvlan_data(_MacvlanData):
        pass


class MacvlanLinkMsg(nlmsg):
    """``struct ifinfomsg`` + the few IFLA attributes a macvlan request needs."""

    fields = (
        ("family", "B"),
        ("__align", "x"),
        ("ifi_type", "H"),
        ("index", "i"),
        ("flags", "I"),
        ("change", "I"),
    )
    nla_map = (
        (1, "IFLA_ADDRESS", "l2addr"),
        (3, "IFLA_IFNAME", "asciiz"),
        (4, "IFLA_MTU", "uint32"),
        (5, "IFLA_LINK", "uint32"),
        (18, "IFLA_LINKINFO", "linkinfo"),
    )

    class linkinfo(_MacvlanLinkInfo):
        pass


class Rtnl:
    """The namespace's rtnetlink socket plus the handful of operations the harness needs.

    Methods raise ``NetlinkError``/``OSError`` unchanged: the harness turns them into setup
    log entries, because a refused operation is a result, not a harness failure.
    """

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.ipr = IPRoute(netns=netns, flags=0, groups=0)

    def close(self) -> None:
        """Release the socket (it pins the namespace until closed)."""
        self.ipr.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups -------------------------------------------------------------------------------

    def index(self, name: str) -> int | None:
        """ifindex of ``name`` in the namespace, or None when it does not exist."""
        found = self.ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def require_index(self, name: str) -> int:
        """ifindex of ``name``; ENODEV like the kernel would answer for a missing device."""
        idx = self.index(name)
        if idx is None:
            raise OSError(errno.ENODEV, f"no device {name}")
        return idx

    def link_flags(self, name: str) -> int:
        """Current IFF_* flags of ``name``."""
        return int(self.ipr.get_links(self.require_index(name))[0]["flags"])

    def stats(self) -> dict[str, dict[str, int]]:
        """IFLA_STATS64 of every link, keyed by name, restricted to :data:`STAT_FIELDS`.

        rx_dropped here already includes the core's per-device drop counter (the one bumped
        when no protocol handler takes a frame), which is what the result format wants.
        """
        out: dict[str, dict[str, int]] = {}
        for link in self.ipr.get_links():
            st = link.get_attr("IFLA_STATS64") or {}
            out[link.get_attr("IFLA_IFNAME")] = {f: int(st.get(f, 0)) for f in STAT_FIELDS}
        return out

    # -- generic links -------------------------------------------------------------------------

    def add_veth(self, name: str, mac: str, peer: str, peer_mac: str) -> None:
        """Create the lower/wire pair directly in the namespace (never in the root one)."""
        self.ipr.link(
            "add",
            ifname=name,
            address=mac,
            kind="veth",
            peer={"ifname": peer, "address": peer_mac},
        )

    def set_up(self, name: str) -> None:
        """``ip link set NAME up``; EADDRINUSE etc. propagate."""
        self.ipr.link("set", index=self.require_index(name), state="up")

    def set_flag(self, name: str, flag: int, on: bool = True) -> None:
        """Set or clear one IFF_* flag (PROMISC, ALLMULTI) with a change mask."""
        self.ipr.link("set", index=self.require_index(name), flags=flag if on else 0, change=flag)

    def set_mtu(self, name: str, mtu: int) -> None:
        """``ip link set NAME mtu N``."""
        self.ipr.link("set", index=self.require_index(name), mtu=int(mtu))

    def flag_counts(self) -> dict[str, dict[str, int]]:
        """Effective ``promiscuity`` and ``allmulti`` reference counts of every link (what
        decides a macvlan's filter, unlike the user-level IFF flags)."""
        out = {}
        for link in self.ipr.get_links():
            out[link.get_attr("IFLA_IFNAME")] = {
                "promiscuity": int(link.get_attr("IFLA_PROMISCUITY") or 0),
                "allmulti": int(link.get_attr("IFLA_ALLMULTI") or 0),
            }
        return out

    def add_vlan(
        self, name: str, link: str, vid: int, protocol: str, mtu: int | None = None
    ) -> None:
        """802.1Q/802.1ad device; EOPNOTSUPP when the kernel has no 8021q."""
        extra = {"mtu": int(mtu)} if mtu is not None else {}
        self.ipr.link(
            "add",
            ifname=name,
            kind="vlan",
            link=self.require_index(link),
            vlan_id=vid,
            vlan_protocol=VLAN_PROTOCOLS[protocol],
            **extra,
        )

    # -- macvlan -------------------------------------------------------------------------------

    def _newlink(self, msg: MacvlanLinkMsg, create: bool) -> None:
        msg["header"]["type"] = RTM_NEWLINK
        msg["header"]["flags"] = (
            NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if create else 0)
        )
        # nlm_request_batch: the sync IPRoute.nlm_request of pyroute2 0.9.7 is broken
        # (KeyError 'nlm_generator'); the batch call is the same request with the ACK read.
        self.ipr.nlm_request_batch([msg])

    def add_macvlan(
        self,
        name: str,
        link: str,
        *,
        mode: str | None = None,
        mac: str | None = None,
        flags: Iterable[str] = (),
        macaddr: Iterable[str] | None = None,
        bcqueuelen: int | None = None,
        bclim: int | None = None,
        mtu: int | None = None,
    ) -> None:
        """One RTM_NEWLINK creating a macvlan with everything it needs at creation time.

        Attributes are only sent when the scenario gives them, so omitted settings take the
        kernel's defaults (mode vepa, bcqueuelen 1000, port cutoff 1). A source list is sent as
        MACADDR_MODE=SET plus MACADDR_DATA; the kernel rejects it (EINVAL) for other modes,
        which is the kernel's answer and is reported as such.
        """
        data: list[tuple[str, Any]] = []
        if mode is not None:
            data.append(("IFLA_MACVLAN_MODE", MACVLAN_MODES[mode]))
        flag_bits = 0
        for f in flags:
            flag_bits |= MACVLAN_FLAGS[f]
        if flags:
            data.append(("IFLA_MACVLAN_FLAGS", flag_bits))
        if macaddr is not None:
            data.append(("IFLA_MACVLAN_MACADDR_MODE", MACVLAN_MACADDR_SET))
            entries = [("IFLA_MACVLAN_MACADDR", m) for m in macaddr]
            if entries:
                data.append(("IFLA_MACVLAN_MACADDR_DATA", {"attrs": entries}))
        if bcqueuelen is not None:
            data.append(("IFLA_MACVLAN_BC_QUEUE_LEN", int(bcqueuelen)))
        if bclim is not None:
            data.append(("IFLA_MACVLAN_BC_CUTOFF", int(bclim)))
        attrs: list[tuple[str, Any]] = [
            ("IFLA_IFNAME", name),
            ("IFLA_LINK", self.require_index(link)),
        ]
        if mac is not None:
            attrs.append(("IFLA_ADDRESS", mac))
        if mtu is not None:
            attrs.append(("IFLA_MTU", int(mtu)))
        info: list[tuple[str, Any]] = [("IFLA_INFO_KIND", "macvlan")]
        if data:
            info.append(("IFLA_INFO_DATA", {"attrs": data}))
        attrs.append(("IFLA_LINKINFO", {"attrs": info}))
        msg = MacvlanLinkMsg()
        msg["family"] = 0
        msg["index"] = 0
        msg["attrs"] = attrs
        self._newlink(msg, create=True)

    def change_macvlan(self, name: str, data: list[tuple[str, Any]]) -> None:
        """changelink with raw macvlan attributes (e.g. IFLA_MACVLAN_BC_CUTOFF)."""
        msg = MacvlanLinkMsg()
        msg["family"] = 0
        msg["index"] = self.require_index(name)
        msg["attrs"] = [
            (
                "IFLA_LINKINFO",
                {"attrs": [("IFLA_INFO_KIND", "macvlan"), ("IFLA_INFO_DATA", {"attrs": data})]},
            ),
        ]
        self._newlink(msg, create=False)

    def macvlan_info(self, name: str) -> dict[str, Any]:
        """Decoded IFLA_INFO_DATA of a macvlan, with BC_* attributes pyroute2 cannot decode.

        Returns e.g. ``{"IFLA_MACVLAN_MODE": 4, "IFLA_MACVLAN_BC_CUTOFF": -1, ...}``. The
        cutoff is absent when it is the default (1); :meth:`bc_cutoff` fills that in.
        """
        query = MacvlanLinkMsg()
        query["family"] = 0
        query["index"] = self.require_index(name)
        query["header"]["type"] = RTM_GETLINK
        query["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
        for reply in self.ipr.nlm_request_batch([query]):
            start = getattr(reply, "offset", 0)
            raw = reply.data[start : start + reply["header"]["length"]]
            msg = MacvlanLinkMsg(raw)
            msg.decode()
            linkinfo = msg.get_attr("IFLA_LINKINFO")
            if linkinfo is None or linkinfo.get_attr("IFLA_INFO_KIND") != "macvlan":
                raise NetlinkError(errno.EINVAL, f"{name} is not a macvlan")
            data = linkinfo.get_attr("IFLA_INFO_DATA")
            if data is None:
                return {}
            return {key: value for key, value in data["attrs"]}
        raise NetlinkError(errno.ENODEV, f"no reply for {name}")

    def bc_cutoff(self, name: str) -> int:
        """The port's broadcast cutoff as seen through macvlan ``name`` (default 1)."""
        return int(self.macvlan_info(name).get("IFLA_MACVLAN_BC_CUTOFF", DEFAULT_BC_CUTOFF))
