"""The reason a frame is sent to the exact engine names what the classifier actually saw: a
fragment to a group, IPv4 to a group too short to show its fragment field, or a deeper tag
stack (tags counted as the classifier counts them: a TPID with no room for its tag counts)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from macvlan_sim.fast import replay
from macvlan_sim.io.capture import CaptureWriter
from macvlan_sim.io.topology import parse_topology

SRC = bytes.fromhex("0a0000000009")


def test_exact_reasons_say_what_flagged_the_frame(tmp_path: Path) -> None:
    fragment = Ether(dst="01:00:5e:00:00:fb", src="0a:00:00:00:00:09") / IP(
        dst="224.0.0.251", flags="MF"
    ) / UDP() / Raw(bytes(40))
    short_ipv4 = bytes.fromhex("01005e0000fc") + SRC + b"\x08\x00" + bytes(4)
    three_tpids = b"\xff" * 6 + SRC + bytes.fromhex("8100 0005 8100 0006 8100")
    trace = tmp_path / "t.pcap"
    with CaptureWriter(trace) as writer:
        for i, frame in enumerate((bytes(fragment), short_ipv4, three_tpids)):
            writer.write(i * 1000, frame)
    result = replay(trace, parse_topology("lower eth0 address 02:00:00:00:00:01 veth\n"))
    assert result.exact_reasons == {
        "IPv4 group fragment (reassembly)": 1,
        "IPv4 to a group, too short to show its fragment field (reassembly)": 1,
        "more than 2 VLAN tags": 1,
    }
