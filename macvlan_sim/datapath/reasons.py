"""Why a device did *not* get a copy of a frame: the reasons the datapath records, as data.

The receive and transmit paths record a :class:`Skip` at the point where they pass a device
over (a flood that masks its mode out, a unicast lookup that picks another device, a VLAN
demultiplexer whose tag names another sub-interface, a NIC filter that rejects the frame …).
Each reason carries its rule id (see ``docs/rules.md``) and an English template, kept here in
one table so that ``explain``, a fast path and the docs read the same words — the way the flood
masks live in :func:`macvlan_sim.datapath.broadcast.flood_mask`.

Skips are recorded only while decision paths are kept (``Engine(keep_paths=True)``), so
replaying a trace pays nothing for them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class WhyNot(enum.Enum):
    """A reason a device got no copy. The value is (rule id, template); ``{}`` fields are
    filled from :attr:`Skip.detail`."""

    #: The flood's mode mask (§6) leaves the device's mode out.
    MODE_MASK = ("B", "its mode {0} is not in the flood mask {1}")
    #: The device sent the frame: a flood never returns it to its sender.
    SENDER = ("B", "it sent the frame (a flood skips the sender)")
    #: The device's own multicast filter does not pass the destination.
    DEVICE_FILTER = ("B", "its own multicast filter does not pass {0}")
    #: A PAUSE frame: macvlan_broadcast does nothing with it.
    PAUSE = ("B", "PAUSE frames are never flooded")
    #: The device is down, so it is not in the port's hash table.
    DOWN = ("-", "it is down (not in the port's vlan_hash)")
    #: The port's mc_filter and bc_filter both have the destination's bit clear (M6).
    PORT_FILTER = ("M6", "the port's filters have bit {0} clear: no macvlan is offered the frame")
    #: A looped-back frame (M0) is passed to the lower untouched.
    LOOPBACK = ("M0", "looped-back frames are passed to the lower")
    #: An IPv4 fragment held for reassembly (M1).
    FRAGMENT_HELD = ("M1", "the fragment is held for reassembly")
    #: A nodst source device consumed the group frame (M2) or the unicast frame (U1).
    NODST_GROUP = ("M2", "a nodst source device ({0}) consumed the frame")
    NODST_UNICAST = ("U1", "a nodst source device ({0}) consumed the frame")
    #: A group frame sent by a private/passthru/source macvlan, reflected: back to it alone (M3).
    RETURN_TO_SENDER = ("M3", "the frame came back to its {0} sender {1}, which alone gets it")
    #: The broadcast queue was full (Q1).
    QUEUE_FULL = ("Q1", "the broadcast queue of {0} was full ({1})")
    #: Unicast: the hash lookup (or passthru) picked another device, or none (U3/U4).
    NOT_ITS_MAC = ("U3", "unicast to {0} is not for its MAC")
    #: Unicast to a source-mode device's own MAC goes to the lower (U4).
    SOURCE_MODE = ("U4", "a source-mode device gets only frames from its listed sources")
    #: The unicast target is down (a down passthru device, U5).
    TARGET_DOWN = ("U5", "it is the target but down: the frame is freed")
    #: A VEPA/private/passthru/source macvlan sends everything out the lower (T4), or a
    #: bridge sends to a MAC that is no bridge sibling (T3): only a hairpin brings it back.
    SENT_OUT = ("T4", "{0} is {1}: everything goes out the lower (only a hairpin returns it)")
    NOT_SIBLING = ("T3", "bridge {0} sends to {1}, no bridge sibling: out the lower")
    #: A bridge macvlan switched the frame to a bridge sibling locally (T2).
    LOCAL_SWITCH = ("T2", "{0} switched it locally to bridge sibling {1}")
    #: A tagged frame whose (TPID, VID) names another VLAN device, or none (V1).
    OTHER_VLAN = ("V1", "the frame is tagged {0}, not its {1}")
    #: An untagged frame never reaches a VLAN sub-interface.
    UNTAGGED = ("-", "the frame carries no tag; it is {0}'s")
    #: The VLAN device for the frame's tag is down (V2).
    VLAN_DOWN = ("V2", "it is down: vlan_do_receive drops the frame")
    #: The NIC's hardware filter rejected the frame (L2).
    NIC_FILTER = ("L2", "the NIC filter of {0} rejected it: {1}")
    #: The far end of the cable could not take the frame (L1).
    PEER_REFUSED = ("L1", "it cannot receive the frame: {0}")
    #: dev_forward_skb into this device failed (T5).
    FORWARD_REFUSED = ("T5", "dev_forward_skb into it failed: {0}")
    # --- derived by readers from the record, not recorded by the datapath ------------------
    #: The device's link got no copy, so nothing stacked on it can.
    LINK_MISSED = ("-", "its link {0} did not get the frame")
    #: The device's link only transmitted the frame; rx_handlers and VLAN demux see received
    #: frames only.
    LINK_ONLY_SENT = ("-", "its link {0} only sent the frame (receive handlers see rx only)")
    #: The device's tap saw it send the frame; nothing came back to it.
    ONLY_SENT = ("-", "it sent the frame and received no copy of it")
    #: The send itself failed (ENETDOWN, ENODEV, …).
    SEND_FAILED = ("-", "the send failed: {0}")
    #: The frame died before any step reached the device.
    DROPPED_EARLIER = ("{0}", "the frame was dropped first: {1}")
    #: Nothing in the record explains it (a test keeps this from happening).
    NOT_REACHED = ("-", "no step of the frame's path reached it")

    @property
    def rule(self) -> str:
        return self.value[0]

    @property
    def template(self) -> str:
        return self.value[1]


@dataclass(frozen=True, slots=True)
class Skip:
    """One device passed over at one decision point (``detail`` fills the template)."""

    device: str
    why: WhyNot
    detail: tuple[object, ...] = ()
    frame_index: int = 0
    pass_: int = 0

    @property
    def rule(self) -> str:
        rule = self.why.rule
        return rule.format(*self.detail) if "{" in rule else rule

    @property
    def reason(self) -> str:
        return self.why.template.format(*self.detail)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"device": self.device, "reason": self.reason, "rule": self.rule}
        out["why"] = self.why.name.lower()
        if self.pass_:
            out["pass"] = self.pass_
        return out
