"""Private mode does not isolate unicast.

Behind a hairpin switch, a broadcast from a private macvlan comes back to that sender alone
(M3): its siblings never see it. But a unicast frame from one private device to another is
reflected and delivered like any other unicast (U7): private mode blocks only group frames.

    python examples/modes/private.py
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether

from macvlan_sim.teach.story import engine_for, got, one_line

TOPOLOGY = """host ipv6 off
host hairpin on
lower eth0 address 02:00:00:00:00:01
ip link add p1 link eth0 address 02:00:00:00:03:01 type macvlan mode private
ip link add p2 link eth0 address 02:00:00:00:03:02 type macvlan mode private
ip link set p1 up
ip link set p2 up
"""


def run() -> dict[str, list[str]]:
    eng = engine_for(TOPOLOGY, text=True)
    cases = {
        "p1 broadcasts (ARP)": eng.tx(
            "p1", bytes(Ether(src="02:00:00:00:03:01", dst="ff:ff:ff:ff:ff:ff") / ARP())
        ),
        "p1 unicasts to p2": eng.tx(
            "p1",
            bytes(Ether(src="02:00:00:00:03:01", dst="02:00:00:00:03:02") / IP() / ICMP()),
        ),
    }
    for title, out in cases.items():
        print(one_line(title, out, only={"p1", "p2"}))
    return {title: sorted(got(out) & {"p1", "p2"}) for title, out in cases.items()}


if __name__ == "__main__":
    run()
