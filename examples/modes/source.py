"""Source mode: a device that receives by *sender*, with and without `nodst`.

A source-mode macvlan gets a copy of every frame whose source MAC it lists (S) — a monitor.
Without `nodst` the frame also goes on to its real destination; with `nodst` the frame is
consumed after the copies (U1): the destination never gets it, a black hole that looks like
a network fault.

    python examples/modes/source.py
"""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from macvlan_sim.teach.story import engine_for, got, one_line

TOPOLOGY = """host ipv6 off
lower eth0 address 02:00:00:00:00:01
ip link add web link eth0 address 02:00:00:00:05:01 type macvlan mode bridge
ip link add mon link eth0 address 02:00:00:00:05:02 type macvlan mode source {flags}\
 macaddr add 0a:00:00:00:00:01
ip link set web up
ip link set mon up
"""
FRAME = Ether(src="0a:00:00:00:00:01", dst="02:00:00:00:05:01") / IP() / UDP()


def run() -> dict[str, list[str]]:
    result = {}
    for flags in ("", "nodst"):
        out = engine_for(TOPOLOGY.format(flags=flags), text=True).rx(bytes(FRAME))
        title = f"listed sender to web, {flags or 'without nodst'}"
        print(one_line(title, out, only={"web", "mon"}))
        result[title] = sorted(got(out) & {"web", "mon"})
    return result


if __name__ == "__main__":
    run()
