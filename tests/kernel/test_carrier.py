"""Carrier, checked live: a macvlan whose lower has no carrier drops what it sends at its noop
qdisc — no tap sees the frame, the sender counts ``tx_dropped`` — and the engine says the same.

This corrects §9 of the spec ("dropped silently if L is down" with the send counted as sent):
with L down the frame never reaches ``macvlan_queue_xmit`` (docs/kernel-notes.md).
"""

from __future__ import annotations

import subprocess

import pytest

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.topology import parse_topology
from macvlan_sim.verify.kernel.harness import SYSCTLS
from macvlan_sim.verify.kernel.netns import private_netns
from macvlan_sim.verify.kernel.sockets import Injector, Observer, write_sysctl

from ..conftest import require_kernel

pytestmark = pytest.mark.kernel

SETUP = [
    "link add lower address 02:00:00:00:00:01 type veth peer name wire address 02:00:00:00:ff:fe",
    "link set wire up",
    "link set lower up",
    "link add mv0 link lower address 02:00:00:00:01:00 type macvlan mode bridge",
    "link add mv1 link lower address 02:00:00:00:01:01 type macvlan mode bridge",
    "link set mv0 up",
    "link set mv1 up",
]
FRAMES = [
    bytes.fromhex(dst + "020000000100" + "88b5") + b"MVO-carrier".ljust(46, b"\0")
    for dst in ("ffffffffffff", "020000000101", "0a0000000009")
]


def _counter(ns: str, dev: str, name: str) -> int:
    path = f"/sys/class/net/{dev}/statistics/{name}"
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", path], capture_output=True, text=True)
    return int(out.stdout.strip())


@pytest.mark.parametrize("down", ["lower", "wire"])
def test_no_carrier_means_noop_qdisc_drops(down: str) -> None:
    require_kernel()
    with private_netns() as ns:
        write_sysctl(ns, SYSCTLS)  # IPv6 off: no autoconf traffic of the devices' own
        for line in [*SETUP, f"link set {down} down"]:
            subprocess.run(["ip", "-n", ns, *line.split()], check=True)
        observer, injector = Observer(), Injector(ns)
        try:
            observer.open(ns, ["mv0", "mv1", "lower", "wire"], {})
            observer.collect(0.05, 1.0)
            before = _counter(ns, "mv0", "tx_dropped")
            sends = [injector.send("mv0", f) for f in FRAMES]
            seen = [c for c in observer.collect(0.1, 2.0) if b"MVO-carrier" in c.raw]
            dropped = _counter(ns, "mv0", "tx_dropped") - before
            mv1_rx = _counter(ns, "mv1", "rx_packets")
        finally:
            observer.close()
            injector.close()
    assert sends == ["ok"] * len(FRAMES)
    assert seen == []
    assert dropped == len(FRAMES) and mv1_rx == 0

    topo = parse_topology(
        "host ipv6 off\nlower lower address 02:00:00:00:00:01\n"
        "ip link add mv0 link lower address 02:00:00:00:01:00 type macvlan mode bridge\n"
        "ip link add mv1 link lower address 02:00:00:00:01:01 type macvlan mode bridge\n"
        f"ip link set mv0 up\nip link set mv1 up\nip link set {down} down\n",
        "carrier.topo",
    )
    engine = Engine(topo.host)
    outcomes = [engine.tx("mv0", f) for f in FRAMES]
    assert [o.send for o in outcomes] == sends
    assert [r for o in outcomes for r in o.receptions] == []
    assert engine.counters.totals["mv0"]["tx_dropped"] == dropped
    assert engine.counters.totals["mv1"]["rx_packets"] == mv1_rx
