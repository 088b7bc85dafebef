"""A broadcast storm against the broadcast queue: why broadcasts are dropped while unicast is
fine.

Broadcasts to macvlans do not go inline: the rx_handler queues them (M4) for a workqueue,
whose queue holds ``bcqueuelen`` frames (default 1000). A burst faster than the workqueue runs
overflows it, and every extra broadcast is dropped (Q1) — counted in the *lower's* rx_dropped,
not on any macvlan. Unicast in the same burst is delivered inline (U7) and never dropped.
Raising ``bcqueuelen`` absorbs the burst. ``bclim`` decides which multicast groups take the
queue at all: a group with more subscribers than ``bclim`` is queued, otherwise it is inline.

    python examples/broadcast_storm.py
"""

from __future__ import annotations

from scapy.layers.l2 import ARP, Ether

from macvlan_sim.teach.story import engine_for

TOPOLOGY = """host ipv6 off
host drain manual
lower eth0 address 02:00:00:00:00:01 nic 64
ip link add a link eth0 address 02:00:00:00:06:0a type macvlan mode bridge {opts}
ip link add b link eth0 address 02:00:00:00:06:0b type macvlan mode bridge {opts}
ip maddr add 01:00:5e:00:00:fb dev a
ip maddr add 01:00:5e:00:00:fb dev b
ip link set a up
ip link set b up
"""
BURST = 1500


def storm(opts: str, dst: str) -> dict[str, int]:
    """A burst of ``BURST`` frames to ``dst`` with no workqueue run until it ends, then one."""
    eng = engine_for(TOPOLOGY.format(opts=opts), text=True, keep_paths=False)
    frame = bytes(Ether(dst=dst, src="0a:00:00:00:00:01") / ARP())
    outs = [eng.rx(frame) for _ in range(BURST)]
    eng.run_workqueue()
    delivered = sum(1 for o in outs for r in o.receptions if r.point == "a")
    return {
        "delivered to a": delivered,
        "dropped (Q1)": sum(1 for o in outs for d in o.drops if d.rule == "Q1"),
        "eth0 rx_dropped": eng.counters.totals["eth0"].get("rx_dropped", 0),
    }


def run() -> dict[str, dict[str, int]]:
    cases = {
        "broadcast, bcqueuelen 1000": ("", "ff:ff:ff:ff:ff:ff"),
        "broadcast, bcqueuelen 2000": ("bcqueuelen 2000", "ff:ff:ff:ff:ff:ff"),
        "unicast to a": ("", "02:00:00:00:06:0a"),
        "mDNS group (2 members), bclim 1": ("", "01:00:5e:00:00:fb"),
        "mDNS group (2 members), bclim 2": ("bclim 2", "01:00:5e:00:00:fb"),
    }
    result = {title: storm(opts, dst) for title, (opts, dst) in cases.items()}
    for title, numbers in result.items():
        print(f"{BURST} x {title:34} " + ", ".join(f"{k} {v}" for k, v in numbers.items()))
    return result


if __name__ == "__main__":
    run()
