"""The engine's public surface: scapy in and out, callbacks in batches, drain modes."""

from __future__ import annotations

from scapy.layers.l2 import ARP, Dot1Q, Ether

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import Mode, PktType
from macvlan_sim.model.host import Host
from macvlan_sim.model.mac import parse_mac

LOWER, MV0, MV1 = "02:00:00:00:00:01", "02:00:00:00:01:00", "02:00:00:00:01:01"


def host() -> Host:
    h = Host(ipv6=False)
    h.add_lower("lower", parse_mac(LOWER))
    h.add_macvlan("mv0", "lower", mode=Mode.BRIDGE, mac=parse_mac(MV0))
    h.add_macvlan("mv1", "lower", mode=Mode.VEPA, mac=parse_mac(MV1))
    h.set_up("mv0")
    h.set_up("mv1")
    return h


def test_scapy_packets_in_and_out() -> None:
    eng = Engine(host())
    pkt = Ether(dst=MV0, src="0a:00:00:00:00:01") / Dot1Q(vlan=7) / ARP()
    out = eng.rx(pkt)
    at_mv0 = next(r for r in out.receptions if r.point == "mv0")
    assert at_mv0.vlan is not None and at_mv0.vlan.vid == 7
    back = at_mv0.as_scapy()
    assert back[Dot1Q].vlan == 7 and back[Ether].dst == MV0
    assert bytes(back) == bytes(pkt)


def test_batched_and_per_delivery_callbacks() -> None:
    eng = Engine(host(), batch_size=3)
    batches: list[int] = []
    each: list[str] = []
    eng.callbacks.register("*", lambda batch: batches.append(len(batch)))
    eng.callbacks.register_each("mv0", lambda r: each.append(r.pkttype.word))
    frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="0a:00:00:00:00:01") / ARP())
    total = sum(len(eng.rx(frame).receptions) for _ in range(4))
    eng.flush()
    assert sum(batches) == total
    assert max(batches) == 3
    assert each == ["broadcast"] * 4


def test_manual_drain_holds_broadcasts_until_the_workqueue_runs() -> None:
    eng = Engine(host(), drain="manual")
    frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="0a:00:00:00:00:01") / ARP())
    first = eng.rx(frame)
    assert first.pending == 1
    assert {r.point for r in first.receptions} == {"wire", "lower", "lower:stack"}
    unicast = eng.rx(bytes(Ether(dst=MV0, src="0a:00:00:00:00:01") / ARP()))
    assert [r.point for r in unicast.receptions if r.point.startswith("mv")] == ["mv0"]
    assert eng.pending_frames() == [first]
    eng.run_workqueue()
    queued = [r for r in first.receptions if r.queued]
    assert {r.point for r in queued} == {"mv0", "mv1"}
    assert all(r.pkttype == PktType.BROADCAST for r in queued)
    assert first.pending == 0 and not eng.pending_frames()
    assert first.counters["mv0"] == {"rx_packets": 1, "rx_bytes": 42, "multicast": 1}


def test_paths_name_the_rules() -> None:
    eng = Engine(host())
    out = eng.rx(bytes(Ether(dst=MV0, src="0a:00:00:00:00:01") / ARP()))
    mv0 = next(r for r in out.receptions if r.point == "mv0")
    steps = " | ".join(mv0.path)
    assert "macvlan_handle_frame(lower)" in steps and "U3" in steps and "U7" in steps


def test_manual_drain_runs_until_stacked_ports_are_empty() -> None:
    """§17: a VID 20 broadcast reaches mv0 and mv1 through the lower's queue, then mv0.20's
    own port queues it again for the macvlans on mv0.20; one workqueue run delivers it all."""
    from scapy.layers.l2 import Dot1Q

    from macvlan_sim.io.topology import parse_topology

    topo = parse_topology(
        "host ipv6 off\nlower eth0 address 02:00:00:00:00:01\n"
        "ip link add mv0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge\n"
        "ip link add mv1 link eth0 address 02:00:00:00:01:01 type macvlan mode bridge\n"
        "ip link add link mv0 name mv0.20 type vlan id 20\n"
        "ip link add a link mv0.20 address 02:00:00:00:20:00 type macvlan mode bridge\n"
        "ip link add b link mv0.20 address 02:00:00:00:20:01 type macvlan mode bridge\n"
        + "".join(f"ip link set {n} up\n" for n in ("mv0", "mv1", "mv0.20", "a", "b"))
    )
    eng = Engine(topo.host, drain="manual")
    out = eng.rx(Ether(dst="ff:ff:ff:ff:ff:ff", src="0a:00:00:00:00:09") / Dot1Q(vlan=20) / ARP())
    eng.run_workqueue()
    queued = {r.point for r in out.receptions if r.queued}
    assert queued == {"mv0", "mv1", "mv0.20", "mv0.20:stack", "a", "b"}
    assert out.pending == 0
