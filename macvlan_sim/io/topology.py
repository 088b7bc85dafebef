"""Topology files: the ``ip`` commands a user types on a real host, applied in order.

A file declares the lower device with a ``lower`` line, then uses iproute2 syntax::

    host ipv6 off                      # options: ipv6 on|off, filters exact|hash, seed N,
                                       #          hairpin on|off, drain frame|manual|rate N
    lower eth0 address 02:00:00:00:00:01 nic 64 mtu 1500
    wire address 02:00:00:00:ff:fe
    ip link add mv0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge
    ip link add mvs link eth0 type macvlan mode source macaddr add 0a:00:00:00:00:01
    ip link add link eth0 name eth0.10 type vlan id 10 protocol 802.1ad
    ip link set mv0 up
    ip maddr add 01:00:5e:00:00:fb dev mv0

``mtu N`` on ``ip link add``/``ip link set`` is applied: it decides whether a device holds
IPv6 all-nodes (from 1280 up, spec §8; ``host ipv6 off`` is ``disable_ipv6=1``, which keeps
that membership). The leading ``ip`` is optional; ``#`` starts a comment. Because every line
is applied as the kernel would apply it, order-dependent behaviour (a MAC conflict found at
``up``, stale port filters, bucket order) comes out as on the real host. Any error names the
file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.text import ECHO_LIMIT, read_text, shorten, split_lines
from macvlan_sim.model.constants import ETH_P_8021AD, ETH_P_8021Q, MacaddrOp, MacvlanFlag, Mode
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.host import DEFAULT_WIRE_MAC, Host, MacaddrChange
from macvlan_sim.model.mac import MacError, parse_mac


class TopologyError(SimError):
    """A line that cannot be applied; ``str()`` is ``FILE:LINE: problem``."""


@dataclass
class Topology:
    """A built host plus the run options the file set.

    ``filters`` and ``seed`` are already applied to :attr:`host` (they shape it as it is built);
    ``hairpin``, ``drain`` and ``service_rate`` describe how frames are run, so they live here and
    :meth:`engine` hands them on. Build engines with :meth:`engine` so that no file option is
    silently dropped.
    """

    host: Host
    hairpin: bool = False
    drain: str = "frame"
    commands: list[str] = field(default_factory=list)
    source: str = "<topology>"
    #: Broadcast workqueue service rate (frames/s of trace time) with ``drain rate N``.
    service_rate: int | None = None

    def engine(self, **overrides: Any) -> Engine:
        """An :class:`Engine` on this host with every option the file set.

        Keyword arguments override the file (``drain="manual"``) or add engine-only settings
        (``keep_paths=False``).
        """
        options: dict[str, Any] = {
            "hairpin": self.hairpin,
            "drain": self.drain,
            "service_rate": self.service_rate,
        }
        options.update(overrides)
        return Engine(self.host, **options)


@dataclass
class _Options:
    ipv6: bool = True
    hash_filters: bool = False
    seed: int = 0
    hairpin: bool = False
    drain: str = "frame"
    service_rate: int | None = None
    wire_mac: bytes = DEFAULT_WIRE_MAC


class _Words:
    """A cursor over one command's words, with errors that say what was expected."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.pos = 0

    def __bool__(self) -> bool:
        return self.pos < len(self.words)

    def peek(self) -> str | None:
        return self.words[self.pos] if self else None

    def take(self, what: str) -> str:
        if not self:
            raise SimError(f"missing {what}")
        word = self.words[self.pos]
        self.pos += 1
        return word

    def take_int(self, what: str) -> int:
        word = self.take(what)
        try:
            return int(word, 0)
        except ValueError:
            raise SimError(f"{what} must be a number, not {word!r}") from None

    def take_mac(self, what: str) -> bytes:
        word = self.take(what)
        try:
            return parse_mac(word)
        except MacError as exc:
            raise SimError(str(exc)) from None

    def take_onoff(self, what: str) -> bool:
        word = self.take(f"on|off after {what}")
        if word not in ("on", "off"):
            raise SimError(f"{what} takes on|off, not {word!r}")
        return word == "on"


def load_topology(path: str | Path) -> Topology:
    """Read a topology file (UTF-8, a BOM allowed) and apply it."""
    return parse_topology(read_text(path, TopologyError), str(path))


def parse_topology(text: str, source: str = "<topology>") -> Topology:
    """Apply every line of ``text``; the first failing line raises :class:`TopologyError`.

    Lines end at ``\\n`` only (see :func:`macvlan_sim.io.text.split_lines`); words are split
    as a POSIX shell does (quotes, backslash escapes, ``#`` to the end of the line). Values
    echoed in an error are cut when long."""
    builder = _Builder(source)
    for lineno, line, words in _lines(text, source):
        try:
            builder.apply(words)
        except KernelError as exc:
            command = line.split("#")[0].strip()
            message = f"{command}: {exc}"
            raise TopologyError(f"{source}:{lineno}: {_cut(message, words)}") from None
        except SimError as exc:
            raise TopologyError(f"{source}:{lineno}: {_cut(str(exc), words)}") from None
    return builder.finish()


def _cut(message: str, words: list[str]) -> str:
    """Long words cut where they appear in ``message``, and the whole kept to a few lines."""
    for word in {w for w in words if len(w) > ECHO_LIMIT}:
        message = message.replace(word, shorten(word))
    return shorten(message, 8 * ECHO_LIMIT)


def _lines(text: str, source: str) -> Iterator[tuple[int, str, list[str]]]:
    for lineno, line in enumerate(split_lines(text), 1):
        try:
            words = split_words(line)
        except ValueError as exc:
            raise TopologyError(f"{source}:{lineno}: {exc}") from None
        if words and words[0] == "ip":
            words = words[1:]
        if words:
            yield lineno, line, words


#: One piece of a shell word, or what separates words. Same rules as ``shlex.split(line,
#: comments=True)`` (POSIX mode) but linear in the line's length: shlex grows each token one
#: character at a time, which takes ~25 s for a 1 M-character word.
_PIECES = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | (?P<comment>\#.*)
      | '(?P<single>[^']*)'
      | "(?P<double>(?:[^"\\]|\\.)*)"
      | \\(?P<escaped>.)
      | (?P<plain>[^ \t\r\n'"\\\#]+)
      | (?P<open>['"])
      | (?P<trailing>\\)""",
    re.VERBOSE | re.DOTALL,
)
_ENDS_ESCAPING = re.compile(r'(?:[^"\\]|\\.)*\\', re.DOTALL)
_DOUBLE_ESCAPES = re.compile(r'\\([\\"])')


def split_words(line: str) -> list[str]:
    """The words of one line, as a POSIX shell splits them; ValueError as shlex raises it."""
    words: list[str] = []
    word: list[str] | None = None
    for match in _PIECES.finditer(line):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            if word is not None:
                words.append("".join(word))
                word = None
            if kind == "comment":
                break
            continue
        if kind == "open":
            rest = line[match.end() :]
            if match.group(kind) == '"' and _ENDS_ESCAPING.fullmatch(rest):
                raise ValueError("No escaped character")
            raise ValueError("No closing quotation")
        if kind == "trailing":
            raise ValueError("No escaped character")
        text = match.group(kind)
        if kind == "double":
            text = _DOUBLE_ESCAPES.sub(r"\1", text)
        word = [*word, text] if word is not None else [text]
    if word is not None:
        words.append("".join(word))
    return words


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.options = _Options()
        self.host: Host | None = None
        self.commands: list[str] = []

    def apply(self, words: list[str]) -> None:
        w = _Words(words)
        head = w.take("a command")
        handlers: dict[str, Callable[[_Words], None]] = {
            "host": self._host_option,
            "lower": self._lower,
            "wire": self._wire,
            "link": self._link,
            "l": self._link,
            "maddr": self._maddr,
            "m": self._maddr,
        }
        if head not in handlers:
            raise SimError(f"unknown command {head!r} (expected ip link, ip maddr, lower, host)")
        handlers[head](w)
        self.commands.append(" ".join(words))

    def finish(self) -> Topology:
        if self.host is None:
            raise TopologyError(f"{self.source}: no 'lower' line declares the lower device")
        o = self.options
        return Topology(
            self.host, o.hairpin, o.drain, self.commands, self.source, o.service_rate
        )

    @property
    def h(self) -> Host:
        if self.host is None:
            raise SimError("declare the lower device first: lower NAME [address MAC] [veth|nic N]")
        return self.host

    # ------------------------------------------------------------------ directives
    def _host_option(self, w: _Words) -> None:
        key = w.take("a host option")
        o = self.options
        before_lower = {"ipv6", "filters", "seed"}
        if key in before_lower and self.host is not None:
            raise SimError(f"host {key} must come before the lower line")
        if key == "ipv6":
            o.ipv6 = w.take_onoff("ipv6")
        elif key == "filters":
            mode = w.take("exact|hash")
            if mode not in ("exact", "hash"):
                raise SimError(f"filters takes exact|hash, not {mode!r}")
            o.hash_filters = mode == "hash"
        elif key == "seed":
            o.seed = w.take_int("seed")
        elif key == "hairpin":
            o.hairpin = w.take_onoff("hairpin")
        elif key == "drain":
            o.drain = w.take("frame|manual|rate")
            if o.drain not in ("frame", "manual", "rate"):
                raise SimError(f"drain takes frame|manual|rate N, not {o.drain!r}")
            if o.drain == "rate":
                o.service_rate = w.take_int("rate (broadcasts per second)")
                if o.service_rate < 1:
                    raise SimError("drain rate needs at least 1 broadcast per second")
        else:
            raise SimError(f"unknown host option {key!r}")
        self._no_more(w)

    def _lower(self, w: _Words) -> None:
        if self.host is not None:
            raise SimError("the lower device is already declared")
        name = w.take("the lower's name")
        mac, slots, mtu, promisc = None, None, 1500, False
        while w:
            word = w.take("a lower option")
            if word == "address":
                mac = w.take_mac("address")
            elif word == "veth":
                slots = None
            elif word == "nic":
                nxt = w.peek()
                slots = w.take_int("slots") if nxt is not None and nxt.isdigit() else 64
            elif word == "mtu":
                mtu = w.take_int("mtu")
            elif word == "promisc":
                promisc = True
            else:
                raise SimError(f"unknown lower option {word!r}")
        o = self.options
        self.host = Host(ipv6=o.ipv6, hash_filters=o.hash_filters, seed=o.seed)
        self.host.add_lower(
            name, mac, filter_slots=slots, mtu=mtu, promisc=promisc, wire_mac=o.wire_mac
        )

    def _wire(self, w: _Words) -> None:
        if w.take("address") != "address":
            raise SimError("wire takes: wire address MAC")
        mac = w.take_mac("address")
        self._no_more(w)
        if self.host is None:
            self.options.wire_mac = mac
        else:
            assert self.h.wire is not None
            self.h.wire.mac = mac

    # ------------------------------------------------------------------ ip link
    def _link(self, w: _Words) -> None:
        verb = w.take("add|set|del")
        if verb in ("add", "a"):
            self._link_add(w)
        elif verb in ("set", "s"):
            self._link_set(w)
        elif verb in ("del", "delete", "d"):
            if w.peek() == "dev":
                w.take("dev")
            self.h.delete(w.take("a device name"))
            self._no_more(w)
        else:
            raise SimError(f"unknown ip link verb {verb!r}")

    def _link_add(self, w: _Words) -> None:
        name = link = None
        mac: bytes | None = None
        mtu: int | None = None
        while w and w.peek() != "type":
            word = w.take("an option")
            if word == "link":
                link = w.take("the link device")
            elif word == "name":
                name = w.take("a name")
            elif word == "address":
                mac = w.take_mac("address")
            elif word == "mtu":  # decides the all-nodes membership (below 1280: none)
                mtu = w.take_int("mtu")
            elif word in ("txqueuelen", "numtxqueues", "numrxqueues"):
                w.take(word)
            elif name is None:
                name = word
            else:
                raise SimError(f"unexpected {word!r} in ip link add")
        if name is None or link is None:
            raise SimError("ip link add needs a name and 'link DEV'")
        w.take("type")
        kind = w.take("a link type")
        if kind == "macvlan":
            args = _parse_macvlan_args(w)
            self.h.add_macvlan(name, link, mac=mac, mtu=mtu, **args)
        elif kind == "vlan":
            self._vlan_add(name, link, mac, w, mtu)
        else:
            raise SimError(f"link type {kind!r} is not modelled (macvlan, vlan)")

    def _vlan_add(
        self, name: str, link: str, mac: bytes | None, w: _Words, mtu: int | None = None
    ) -> None:
        vid, proto = None, ETH_P_8021Q
        flags = {"reorder_hdr": True, "gvrp": False, "mvrp": False, "loose_binding": False}
        while w:
            word = w.take("a vlan option")
            if word == "id":
                vid = w.take_int("id")
            elif word == "protocol":
                text = w.take("802.1Q|802.1ad").lower()
                if text not in ("802.1q", "802.1ad"):
                    raise SimError(f"vlan protocol must be 802.1Q or 802.1ad, not {text!r}")
                proto = ETH_P_8021AD if text == "802.1ad" else ETH_P_8021Q
            elif word in flags:
                flags[word] = w.take_onoff(word)
            else:
                raise SimError(f"unknown vlan option {word!r}")
        if vid is None:
            raise SimError("type vlan needs 'id N'")
        self.h.add_vlan(name, link, vid, protocol=proto, mac=mac, mtu=mtu, **flags)

    def _link_set(self, w: _Words) -> None:
        if w.peek() == "dev":
            w.take("dev")
        name = w.take("a device name")
        self.h.get(name)
        if not w:
            raise SimError(f"ip link set {name}: nothing to set")
        while w:
            word = w.take("an option")
            if word == "up":
                self.h.set_up(name)
            elif word == "down":
                self.h.set_down(name)
            elif word == "address":
                self.h.set_address(name, w.take_mac("address"))
            elif word == "promisc":
                self.h.set_promisc(name, w.take_onoff("promisc"))
            elif word == "allmulti":
                self.h.set_allmulti(name, w.take_onoff("allmulti"))
            elif word == "mtu":
                self.h.set_mtu(name, w.take_int("mtu"))
            elif word == "type":
                if w.take("macvlan") != "macvlan":
                    raise SimError("only 'type macvlan' options can be changed")
                self.h.change_macvlan(name, **_parse_macvlan_args(w))
            else:
                raise SimError(f"unknown ip link set option {word!r}")

    # ------------------------------------------------------------------ ip maddr
    def _maddr(self, w: _Words) -> None:
        verb = w.take("add|del")
        group = w.take_mac("a multicast address")
        if w.take("dev") != "dev":
            raise SimError("ip maddr takes: add|del MAC dev NAME")
        name = w.take("a device name")
        self._no_more(w)
        if verb in ("add", "a"):
            self.h.maddr_add(name, group)
        elif verb in ("del", "delete", "d"):
            self.h.maddr_del(name, group)
        else:
            raise SimError(f"unknown ip maddr verb {verb!r}")

    @staticmethod
    def _no_more(w: _Words) -> None:
        if w:
            raise SimError(f"unexpected {w.peek()!r}")


def _parse_macvlan_args(w: _Words) -> dict[str, object]:
    """``iplink_macvlan.c``'s arguments, including its client-side rule that ``nopromisc``
    needs ``mode passthru`` in the same command."""
    out: dict[str, object] = {}
    flags = MacvlanFlag.NONE
    flags_given = False
    while w:
        word = w.take("a macvlan option")
        if word == "mode":
            out["mode"] = _mode(w.take("a mode"))
        elif word == "flag":
            value = w.take("nopromisc|nodst|null")
            if value not in ("nopromisc", "nodst", "null"):
                raise SimError(f"unknown macvlan flag {value!r}")
            flags |= {"nopromisc": MacvlanFlag.NOPROMISC, "nodst": MacvlanFlag.NODST}.get(
                value, MacvlanFlag.NONE
            )
            flags_given = True
        elif word in ("nopromisc", "nodst"):
            flags |= MacvlanFlag.NOPROMISC if word == "nopromisc" else MacvlanFlag.NODST
            flags_given = True
        elif word == "macaddr":
            out["macaddr"] = _macaddr(w)
        elif word == "bcqueuelen":
            out["bcqueuelen"] = w.take_int("bcqueuelen")
        elif word == "bclim":
            out["bclim"] = w.take_int("bclim")
        else:
            raise SimError(f"unknown macvlan option {word!r}")
    if flags & MacvlanFlag.NOPROMISC and out.get("mode") != Mode.PASSTHRU:
        raise SimError("nopromisc is only accepted together with mode passthru (iproute2)")
    if flags_given:
        out["flags"] = flags
    return out


def _mode(word: str) -> Mode:
    try:
        return Mode.parse(word)
    except ValueError as exc:
        raise SimError(str(exc)) from None


def _macaddr(w: _Words) -> MacaddrChange:
    op = w.take("add|del|set|flush")
    if op == "flush":
        return MacaddrChange(MacaddrOp.FLUSH)
    if op in ("add", "del"):
        return MacaddrChange(MacaddrOp[op.upper()], (w.take_mac(f"macaddr {op}"),))
    if op == "set":
        addrs = []
        while w and _looks_like_mac(w.peek()):
            addrs.append(w.take_mac("macaddr set"))
        return MacaddrChange(MacaddrOp.SET if addrs else MacaddrOp.FLUSH, tuple(addrs))
    raise SimError(f"macaddr takes add|del|set|flush, not {op!r}")


def _looks_like_mac(word: str | None) -> bool:
    return word is not None and word.count(":") == 5
