"""The trunk host: frames from the trunk land in the right container; traffic between
containers of different VLANs leaves the host tagged (the router is elsewhere).

    python examples/trunk_host.py
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from macvlan_sim.teach.story import engine_for, got, wire_vids

TOPOLOGY = Path(__file__).with_name("trunk_host.topo")
CONTAINERS = {f"c{v}{x}" for v in (10, 20, 30) for x in "ab"}


def mac(vid: int, n: int) -> str:
    return f"02:00:00:00:{vid}:0{n}"


def run() -> dict[str, object]:
    eng = engine_for(TOPOLOGY)
    result: dict[str, object] = {}
    # A ping from the trunk to each container: only that container gets it.
    for vid in (10, 20, 30):
        for n, name in ((1, f"c{vid}a"), (2, f"c{vid}b")):
            frame = Ether(dst=mac(vid, n)) / Dot1Q(vlan=vid) / IP(dst=f"10.0.{vid}.{n}") / ICMP()
            out = eng.rx(bytes(frame))
            result[f"ping {name}"] = sorted(got(out) & CONTAINERS)
    # A broadcast (ARP) on VLAN 20 reaches the two VLAN-20 containers and no one else.
    arp = Ether(dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=20) / ARP(pdst="10.0.20.1")
    result["arp on vlan 20"] = sorted(got(eng.rx(bytes(arp))) & CONTAINERS)
    # c10a talks to c20a: different VLANs, different ports: it leaves tagged 10.
    cross = Ether(src=mac(10, 1), dst=mac(20, 1)) / IP(dst="10.0.20.1") / ICMP()
    out = eng.tx("c10a", bytes(cross))
    result["c10a to c20a"] = {"containers": sorted(got(out) & CONTAINERS), "wire": wire_vids(out)}
    # c10a talks to c10b: same VLAN device, bridge siblings: switched locally, never on the wire.
    local = Ether(src=mac(10, 1), dst=mac(10, 2)) / IP(dst="10.0.10.2") / ICMP()
    out = eng.tx("c10a", bytes(local))
    result["c10a to c10b"] = {"containers": sorted(got(out) & CONTAINERS), "wire": wire_vids(out)}
    return result


def main() -> None:
    for what, answer in run().items():
        print(f"{what:16} {answer}")


if __name__ == "__main__":
    main()
