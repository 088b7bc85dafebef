"""Bridge mode: siblings switch locally — and the host cannot reach its own children.

Two bridge macvlans on eth0 talk to each other without the frame ever touching the wire. But
a frame from a child to the *lower's* MAC (the host's own address) does not go up to the host:
macvlan_queue_xmit only switches between bridge siblings (T2), so it leaves on the wire (T3)
and the host never sees it unless a switch sends it back. The usual fix is a macvlan for the
host itself (here `host0`), whose address the children can reach.

    python examples/modes/bridge.py
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from macvlan_sim.teach.story import engine_for, got, one_line

TOPOLOGY = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add a link eth0 address 02:00:00:00:01:0a type macvlan mode bridge
ip link add b link eth0 address 02:00:00:00:01:0b type macvlan mode bridge
ip link add host0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge
ip link set a up
ip link set b up
ip link set host0 up
"""


def run() -> dict[str, list[str]]:
    eng = engine_for(TOPOLOGY, text=True)
    ping = IP(dst="192.0.2.1") / ICMP()
    cases = {
        "a to b": eng.tx(
            "a", bytes(Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:01:0b") / ping)
        ),
        "a to the host (eth0)": eng.tx(
            "a", bytes(Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:00:01") / ping)
        ),
        "a to the host's macvlan host0": eng.tx(
            "a", bytes(Ether(src="02:00:00:00:01:0a", dst="02:00:00:00:01:00") / ping)
        ),
    }
    for title, out in cases.items():
        print(one_line(title, out))
    return {title: sorted(got(out) - {"eth0"}) for title, out in cases.items()}


if __name__ == "__main__":
    run()
