"""``struct sk_buff`` reduced to what dispatch reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from macvlan_sim.datapath.frame import VlanTag
from macvlan_sim.model.constants import ETH_HLEN, PktType

if TYPE_CHECKING:
    from macvlan_sim.model.devices import NetDevice


@dataclass(slots=True)
class Skb:
    """A packet in flight.

    ``data`` starts at the MAC header and holds any tags still in band; ``vlan`` is the tag
    held out of band. ``pulled`` is True once ``eth_type_trans`` ran (receive side), which is
    what makes ``skb->len`` exclude the Ethernet header — several counters depend on it.
    ``trail`` is the decision path so far (spec rule ids and kernel function names).

    ``missing`` is how many bytes of the frame the capture did not keep (a record cut by its
    snaplen: ``len - caplen``). They sit past the end of ``data``, so tag pushes and pulls at
    the front never touch them. This is the one place the rule for truncated records lives:
    every length the kernel would see — MTU checks (:func:`frame_len`), ``skb->len``
    (:attr:`klen`) and the byte counters built on it — includes the missing tail; decisions
    that read header bytes use ``data``. The fast path must apply the same rule.
    """

    data: bytes
    dev: NetDevice
    pkt_type: PktType = PktType.HOST
    protocol: int = 0
    vlan: VlanTag | None = None
    pulled: bool = False
    orig_dev: NetDevice | None = None
    pass_: int = 0
    queued: bool = False
    frame_index: int = 0
    missing: int = 0
    #: (format, args) pairs, formatted only when someone reads a path; None: not kept.
    trail: list[tuple[str, tuple[object, ...]]] | None = None

    @property
    def klen(self) -> int:
        """``skb->len``: the Ethernet header is excluded once pulled; an out-of-band tag never
        counts."""
        n = len(self.data) + self.missing  # frame_len, inlined: this is on every counter
        return n - ETH_HLEN if self.pulled else n

    @property
    def frame_len(self) -> int:
        """The frame's length in band as it was on the wire (captured bytes + missing tail)."""
        return len(self.data) + self.missing

    @property
    def dst(self) -> bytes:
        return self.data[0:6]

    @property
    def src(self) -> bytes:
        return self.data[6:12]

    def clone(self) -> Skb:
        """``skb_clone``: same bytes and metadata, its own trail from here on."""
        return Skb(
            self.data,
            self.dev,
            self.pkt_type,
            self.protocol,
            self.vlan,
            self.pulled,
            self.orig_dev,
            self.pass_,
            self.queued,
            self.frame_index,
            self.missing,
            None if self.trail is None else list(self.trail),
        )

    def step(self, fmt: str, *args: object) -> None:
        """Record a decision step (``%``-style format, formatted lazily)."""
        if self.trail is not None:
            self.trail.append((fmt, args))


class Lazy:
    """An argument of a step that is only computed if the path is rendered."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: object, *args: object) -> None:
        self.fn = fn
        self.args = args

    def __str__(self) -> str:
        return str(self.fn(*self.args))  # type: ignore[operator]


def render_trail(trail: tuple[tuple[str, tuple[object, ...]], ...]) -> tuple[str, ...]:
    return tuple(fmt % args if args else fmt for fmt, args in trail)
