"""VEPA mode: siblings cannot talk unless the switch sends their frames back (hairpin).

A VEPA macvlan sends everything out the lower (T4). Without a reflective-relay ("hairpin")
switch port, a frame for a sibling VEPA device is simply gone; with one, the switch reflects it
and the sibling receives it on the second pass.

    python examples/modes/vepa.py
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from macvlan_sim.teach.story import engine_for, got, one_line

TOPOLOGY = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add a link eth0 address 02:00:00:00:02:0a type macvlan mode vepa
ip link add b link eth0 address 02:00:00:00:02:0b type macvlan mode vepa
ip link set a up
ip link set b up
"""
FRAME = Ether(src="02:00:00:00:02:0a", dst="02:00:00:00:02:0b") / IP(dst="192.0.2.2") / ICMP()


def run() -> dict[str, list[str]]:
    result = {}
    for hairpin in (False, True):
        out = engine_for(TOPOLOGY, text=True, hairpin=hairpin).tx("a", bytes(FRAME))
        title = f"a to b, hairpin {'on' if hairpin else 'off'}"
        print(one_line(title, out))
        result[title] = sorted(got(out) - {"eth0", "wire"})
    return result


if __name__ == "__main__":
    run()
