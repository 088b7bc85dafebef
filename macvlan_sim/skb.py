"""``struct sk_buff`` reduced to what dispatch reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .constants import ETH_HLEN, PktType
from .frame import VlanTag

if TYPE_CHECKING:
    from .devices import NetDevice


@dataclass(slots=True)
class Skb:
    """A packet in flight.

    ``data`` starts at the MAC header and holds any tags still in band; ``vlan`` is the tag
    held out of band. ``pulled`` is True once ``eth_type_trans`` ran (receive side), which is
    what makes ``skb->len`` exclude the Ethernet header — several counters depend on it.
    ``trail`` is the decision path so far (spec rule ids and kernel function names).
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
    trail: list[str] = field(default_factory=list)

    @property
    def klen(self) -> int:
        """``skb->len``: the Ethernet header is excluded once pulled; an out-of-band tag never
        counts."""
        return len(self.data) - ETH_HLEN if self.pulled else len(self.data)

    @property
    def dst(self) -> bytes:
        return self.data[0:6]

    @property
    def src(self) -> bytes:
        return self.data[6:12]

    def clone(self) -> Skb:
        """``skb_clone``: same bytes and metadata, its own trail from here on."""
        return replace(self, trail=list(self.trail))

    def step(self, text: str) -> None:
        self.trail.append(text)
