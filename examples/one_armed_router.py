"""A one-armed router as a callback on two VLAN sub-interfaces.

Host A (192.168.0.10, VLAN-A = VID 100) pings host B (192.168.1.20, VLAN-B = VID 200). Both
sit on the switch; the only way between the VLANs is the router on this host: it answers ARP
for its own addresses, and routes IPv4 by rewriting the MACs, decrementing the TTL and sending
on the other sub-interface (which re-tags the frame). A frame A sends straight to B's MAC goes
nowhere: the router only routes what is addressed to it.

The router never calls the engine from inside its callback (the engine is not re-entrant): it
queues what it wants to send, and the loop below injects the queue once each call returns.

    python examples/one_armed_router.py
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from macvlan_sim.datapath.outcome import Reception
from macvlan_sim.teach.story import engine_for, on_wire

TOPOLOGY = Path(__file__).with_name("one_armed_router.topo")
HOST_A = {"mac": "0a:00:00:00:00:0a", "ip": "192.168.0.10", "vid": 100}
HOST_B = {"mac": "0a:00:00:00:00:0b", "ip": "192.168.1.20", "vid": 200}


class Router:
    """Interfaces by name: (MAC, address, prefix). Neighbours are learnt from ARP."""

    def __init__(self) -> None:
        self.ifaces = {
            "eth0.100": ("02:00:00:00:01:00", "192.168.0.1", "192.168.0."),
            "eth0.200": ("02:00:00:00:02:00", "192.168.1.1", "192.168.1."),
        }
        self.neighbours: dict[str, str] = {}
        self.outbox: deque[tuple[str, bytes]] = deque()
        self.log: list[str] = []

    def receive(self, rec: Reception) -> None:
        iface = rec.point.removesuffix(":stack")
        mac, addr, _ = self.ifaces[iface]
        pkt = Ether(rec.data)
        if ARP in pkt:
            arp = pkt[ARP]
            self.neighbours[arp.psrc] = arp.hwsrc
            if arp.op == 1 and arp.pdst == addr:
                reply = Ether(src=mac, dst=arp.hwsrc) / ARP(
                    op=2, hwsrc=mac, psrc=addr, hwdst=arp.hwsrc, pdst=arp.psrc
                )
                self.log.append(f"{iface}: ARP reply {addr} is-at {mac}")
                self.outbox.append((iface, bytes(reply)))
        elif IP in pkt and pkt.dst == mac and pkt[IP].dst != addr:
            self.route(iface, pkt)

    def route(self, came_in: str, pkt: Ether) -> None:
        ip = pkt[IP]
        out = next(n for n, (_, _, prefix) in self.ifaces.items() if ip.dst.startswith(prefix))
        if out == came_in or ip.ttl <= 1:
            return
        next_hop = self.neighbours.get(ip.dst)
        mac, addr, _ = self.ifaces[out]
        if next_hop is None:  # ask first, keep the packet simple: drop it (like a real router)
            ask = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=mac, psrc=addr, pdst=ip.dst)
            self.log.append(f"{out}: ARP who-has {ip.dst}")
            self.outbox.append((out, bytes(ask)))
            return
        ip.ttl -= 1
        del ip.chksum
        routed = Ether(src=mac, dst=next_hop) / ip
        self.log.append(f"{came_in} -> {out}: {ip.src} > {ip.dst} ttl {ip.ttl}")
        self.outbox.append((out, bytes(routed)))


class Switch:
    """The far end of the trunk: hands each tagged frame to the host on that VLAN."""

    def __init__(self) -> None:
        self.inbox: dict[int, list[Ether]] = {100: [], 200: []}

    def take(self, recs: list[Reception]) -> None:
        for rec in recs:
            pkt = Ether(rec.wire_bytes)
            if Dot1Q in pkt and pkt[Dot1Q].vlan in self.inbox:
                self.inbox[pkt[Dot1Q].vlan].append(pkt)


def run() -> dict[str, object]:
    eng = engine_for(TOPOLOGY, batch_size=1)
    router, switch = Router(), Switch()
    for iface in router.ifaces:
        eng.callbacks.register_each(f"{iface}:stack", router.receive)

    def send_from(host: dict, frame: Ether) -> None:
        """A host on the switch sends: the trunk carries it tagged into the router host."""
        tagged = Ether(src=host["mac"], dst=frame.dst) / Dot1Q(vlan=host["vid"]) / frame.payload
        switch.take(on_wire(eng.rx(bytes(tagged))))
        while router.outbox:  # what the router's callback queued, sent once rx has returned
            iface, data = router.outbox.popleft()
            switch.take(on_wire(eng.tx(iface, data)))

    def arp_for(host: dict, target: str) -> None:
        send_from(
            host,
            Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=host["mac"], psrc=host["ip"], pdst=target),
        )

    # Each host learns its gateway's MAC; the router learns each host's.
    arp_for(HOST_A, "192.168.0.1")
    arp_for(HOST_B, "192.168.1.1")
    gw_a = switch.inbox[100][-1][ARP].hwsrc
    gw_b = switch.inbox[200][-1][ARP].hwsrc
    # A pings B through the router; B answers through the router.
    send_from(HOST_A, Ether(dst=gw_a) / IP(src=HOST_A["ip"], dst=HOST_B["ip"], ttl=64) / ICMP())
    at_b = [p for p in switch.inbox[200] if ICMP in p]
    send_from(
        HOST_B, Ether(dst=gw_b) / IP(src=HOST_B["ip"], dst=HOST_A["ip"], ttl=64) / ICMP(type=0)
    )
    at_a = [p for p in switch.inbox[100] if ICMP in p]
    # A tries B's MAC directly on VLAN-A: nothing reaches VLAN-B.
    before = len(switch.inbox[200])
    send_from(HOST_A, Ether(dst=HOST_B["mac"]) / IP(src=HOST_A["ip"], dst=HOST_B["ip"]) / ICMP())
    return {
        "gateway macs": [gw_a, gw_b],
        "B got echo": [(p[IP].src, p[IP].dst, p[IP].ttl, p.src) for p in at_b],
        "A got reply": [(p[IP].src, p[IP].dst, p[IP].ttl, p.src) for p in at_a],
        "direct to B's MAC reached VLAN-B": len(switch.inbox[200]) > before,
        "router log": router.log,
    }


def main() -> None:
    result = run()
    for line in result.pop("router log"):  # type: ignore[union-attr]
        print("router", line)
    for what, answer in result.items():
        print(f"{what}: {answer}")


if __name__ == "__main__":
    main()
