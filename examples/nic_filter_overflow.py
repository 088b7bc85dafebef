"""NIC unicast-filter overflow: why did my NIC go promiscuous?

Each macvlan adds its MAC to the lower's unicast list. A NIC with a hardware filter keeps
those MACs in its exact-match slots (here 4, shared with multicast; virtio-net has 64). One
MAC too many and the NIC gives up filtering unicast: it accepts every unicast frame, and the
host's CPU sees all the traffic on the segment. A veth-like lower with no filter at all is
promiscuous as soon as the first macvlan is up.

    python examples/nic_filter_overflow.py
"""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from macvlan_sim.teach.story import engine_for

TOPOLOGY = "host ipv6 off\nlower eth0 address 02:00:00:00:00:01 nic 4\n"
VETH = "host ipv6 off\nlower eth0 address 02:00:00:00:00:01\n"
STRANGER = bytes(Ether(dst="0a:00:00:00:99:99", src="0a:00:00:00:00:01") / IP() / UDP())


def with_macvlans(n: int, lower_line: str = TOPOLOGY) -> dict[str, object]:
    text = lower_line + "".join(
        f"ip link add m{i} link eth0 address 02:00:00:00:07:{i:02x} type macvlan mode bridge\n"
        f"ip link set m{i} up\n"
        for i in range(n)
    )
    eng = engine_for(text, text=True)
    lower = eng.host.lower
    out = eng.rx(STRANGER)
    return {
        "unicast MACs": len(lower.uc_addresses()),
        "eth0 promiscuous": lower.promisc,
        "stranger's frame": "rejected by the NIC" if out.drops else "accepted",
    }


def run() -> dict[str, dict[str, object]]:
    result = {f"{n} macvlans on a NIC with 4 slots": with_macvlans(n) for n in (3, 4, 5)}
    result["1 macvlan on a veth (no filter)"] = with_macvlans(1, VETH)
    for title, facts in result.items():
        print(f"{title:34} " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    return result


if __name__ == "__main__":
    run()
