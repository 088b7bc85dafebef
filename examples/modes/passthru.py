"""Passthru mode: one device takes the whole lower — every unicast, whatever its MAC.

A passthru port has a single macvlan, and the rx_handler hands it every unicast frame without
looking at the destination (U2). A second macvlan on the same lower is refused (EINVAL). And
when the passthru device is down, unicast frames are freed: a black hole (U5).

    python examples/modes/passthru.py
"""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from macvlan_sim.io.topology import TopologyError
from macvlan_sim.teach.story import engine_for, got, one_line

TOPOLOGY = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add pt link eth0 address 02:00:00:00:04:01 type macvlan mode passthru
ip link set pt up
"""


def run() -> dict[str, object]:
    eng = engine_for(TOPOLOGY, text=True)
    stranger = Ether(dst="0a:00:00:00:99:99", src="0a:00:00:00:00:01") / IP() / UDP()
    out = eng.rx(bytes(stranger))
    print(one_line("unicast to a stranger's MAC", out))
    result: dict[str, object] = {"stranger's unicast": sorted(got(out, wire=False) - {"eth0"})}
    try:
        engine_for(TOPOLOGY + "ip link add pt2 link eth0 type macvlan mode bridge\n", text=True)
        result["second macvlan"] = "accepted"
    except TopologyError as exc:
        result["second macvlan"] = str(exc).split(": ", 2)[-1]
    print("a second macvlan on eth0:", result["second macvlan"])
    down = engine_for(TOPOLOGY + "ip link set pt down\n", text=True).rx(bytes(stranger))
    print(one_line("the same frame, pt down", down))
    result["pt down"] = [d.rule for d in down.drops]
    return result


if __name__ == "__main__":
    run()
