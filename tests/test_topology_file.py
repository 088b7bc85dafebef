"""Topology files: iproute2 lines applied in order, errors naming file:line and the problem."""

from __future__ import annotations

import pytest

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.io.topology import TopologyError, load_topology, parse_topology
from macvlan_sim.model.constants import MacvlanFlag, Mode
from macvlan_sim.model.devices import MacvlanDevice, VlanDevice
from macvlan_sim.model.mac import parse_mac

BASE = "host ipv6 off\nlower eth0 address 02:00:00:00:00:01\n"


def build(body: str):
    return parse_topology(BASE + body, "t.topo")


def test_lines_build_the_devices_a_user_would_get() -> None:
    topo = build(
        "ip link add mv0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge\n"
        "link add link eth0 name mvs type macvlan mode source nodst macaddr add 0a:00:00:00:00:01\n"
        "ip link add link eth0 name eth0.10 type vlan id 10 protocol 802.1ad reorder_hdr off\n"
        "ip link set mv0 up\n"
        "ip maddr add 01:00:5e:00:00:fb dev mv0\n"
    )
    mv0 = topo.host.get("mv0")
    assert isinstance(mv0, MacvlanDevice) and mv0.mode == Mode.BRIDGE and mv0.up
    mvs = topo.host.get("mvs")
    assert isinstance(mvs, MacvlanDevice) and mvs.flags == MacvlanFlag.NODST
    assert mvs.port is not None
    assert mvs.port.source_list(mvs) == [parse_mac("0a:00:00:00:00:01")]
    vlan = topo.host.get("eth0.10")
    assert isinstance(vlan, VlanDevice) and vlan.tpid == 0x88A8 and not vlan.reorder_hdr
    assert parse_mac("01:00:5e:00:00:fb") in mv0.mc.addresses()


def test_mac_conflict_is_found_at_up_not_at_add() -> None:
    body = (
        "ip link add a link eth0 address 02:00:00:00:01:00 type macvlan\n"
        "ip link add b link eth0 address 02:00:00:00:01:00 type macvlan\n"
        "ip link set a up\n"
        "ip link set b up\n"
    )
    with pytest.raises(TopologyError, match=r"^t\.topo:6: ip link set b up: EADDRINUSE"):
        build(body)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ip link add mv0 link eth0 address 02:00:00:00:01 type macvlan", "invalid MAC"),
        ("ip link add mv0 link eth0 type macvlan mode hub", "unknown macvlan mode 'hub'"),
        ("ip link add mv0 link eth0 type macvlan mode bridge nopromisc", "mode passthru"),
        ("ip link add mv0 link eth9 type macvlan", "ENODEV"),
        ("ip link add mv0 link eth0 type macvlan macaddr add 0a:00:00:00:00:01", "EINVAL"),
        ("ip link add mv0 link eth0 type bond", "not modelled"),
        ("ip link set mv9 up", "ENODEV"),
        ("ip link frobnicate mv0", "unknown ip link verb"),
        ("teleport mv0", "unknown command 'teleport'"),
        ("ip maddr add 02:00:00:00:00:09 dev eth0", "not a multicast address"),
        ("ip link add mv0 link eth0 type macvlan bcqueuelen lots", "must be a number"),
        ('ip link add "mv0 link eth0', "No closing quotation"),
    ],
)
def test_bad_lines_name_file_line_and_problem(line: str, message: str) -> None:
    with pytest.raises(TopologyError) as err:
        build(line + "\n")
    text = str(err.value)
    assert text.startswith("t.topo:3: ")
    assert message in text
    assert "\n" not in text


def test_lower_must_be_declared_first() -> None:
    with pytest.raises(TopologyError, match="declare the lower device first"):
        parse_topology("ip link add mv0 link eth0 type macvlan\n", "x.topo")
    with pytest.raises(TopologyError, match="no 'lower' line"):
        parse_topology("# nothing\n", "x.topo")


def test_host_options_reach_the_engine() -> None:
    topo = parse_topology(
        "host ipv6 on\nhost hairpin on\nhost drain manual\nlower eth0 nic 4\n", "o.topo"
    )
    assert topo.hairpin and topo.drain == "manual"
    assert topo.host.ipv6 and topo.host.lower is not None
    assert topo.host.lower.filter_slots == 4
    engine = topo.engine()
    assert engine.hairpin and engine.drain == "manual"
    assert topo.engine(drain="frame").drain == "frame"


HAIRPIN_VEPA = """\
host hairpin {onoff}
lower eth0 address 02:00:00:00:00:01 veth
ip link add a link eth0 address 02:00:00:00:0a:01 type macvlan mode vepa
ip link add b link eth0 address 02:00:00:00:0a:02 type macvlan mode vepa
ip link set a up
ip link set b up
"""


@pytest.mark.parametrize("hairpin", [True, False])
def test_topology_engine_keeps_the_hairpin_option(tmp_path, hairpin: bool) -> None:
    """The README's way (``load_topology(path).engine()``) keeps ``host hairpin``: a VEPA
    sibling's frame comes back from the wire only when the switch reflects it."""
    path = tmp_path / "vepa.topo"
    path.write_text(HAIRPIN_VEPA.format(onoff="on" if hairpin else "off"))
    engine = load_topology(path).engine()
    frame = bytes.fromhex("02000000 0a02 02000000 0a01 0800".replace(" ", "")) + bytes(46)
    out = engine.tx("a", frame)
    assert ("b" in {r.point for r in out.receptions}) is hairpin


def test_passthru_beside_another_device_is_refused_with_einval() -> None:
    with pytest.raises(TopologyError, match="EINVAL"):
        build(
            "ip link add a link eth0 type macvlan mode bridge\n"
            "ip link add p link eth0 type macvlan mode passthru\n"
        )


def test_changelink_mode_and_source_list() -> None:
    topo = build(
        "ip link add mv0 link eth0 type macvlan mode bridge\n"
        "ip link set mv0 type macvlan mode source macaddr set 0a:00:00:00:00:01 0a:00:00:00:00:02\n"
        "ip link set mv0 type macvlan macaddr del 0a:00:00:00:00:01\n"
    )
    mv0 = topo.host.get("mv0")
    assert isinstance(mv0, MacvlanDevice) and mv0.port is not None
    assert mv0.mode == Mode.SOURCE
    assert mv0.port.source_list(mv0) == [parse_mac("0a:00:00:00:00:02")]


def test_same_setup_as_a_scenario_gives_the_same_answers() -> None:
    """A topology file and a scenario describing one host must dispatch identically."""
    from macvlan_sim.io.scenario import Scenario

    topo = build(
        "ip link add mv0 link eth0 address 02:00:00:00:01:00 type macvlan mode bridge\n"
        "ip link add mv1 link eth0 address 02:00:00:00:01:01 type macvlan mode vepa\n"
        "ip link set mv0 up\nip link set mv1 up\n"
    )
    host, _ = Scenario(
        {
            "lower": {"name": "eth0", "mac": "02:00:00:00:00:01"},
            "devices": [
                {"name": "mv0", "mode": "bridge", "mac": "02:00:00:00:01:00"},
                {"name": "mv1", "mode": "vepa", "mac": "02:00:00:00:01:01"},
            ],
        }
    ).build()
    frames = [
        bytes.fromhex(dst + "0a0000000001" + "88b5") + b"\0" * 46
        for dst in ("020000000100", "020000000101", "ffffffffffff", "0200000099aa")
    ]
    a, b = Engine(topo.host), Engine(host)
    for frame in frames:
        ra, rb = a.rx(frame), b.rx(frame)
        assert [(r.point, r.pkttype) for r in ra.receptions] == [
            (r.point, r.pkttype) for r in rb.receptions
        ]


def test_mtu_decides_the_all_nodes_membership() -> None:
    """``mtu`` on ``ip link add`` and ``ip link set`` is applied, not ignored: below 1280 a
    device holds no 33:33:00:00:00:01 (spec §8)."""
    topo = build(
        "ip link add small link eth0 mtu 1200 type macvlan mode bridge\n"
        "ip link add big link eth0 type macvlan mode bridge\n"
        "ip link set big mtu 1000\n"
        "ip link add eth0.10 link eth0 mtu 1279 type vlan id 10\n"
    )
    all_nodes = parse_mac("33:33:00:00:00:01")
    for name, mtu in (("small", 1200), ("big", 1000), ("eth0.10", 1279)):
        dev = topo.host.devices[name]
        assert dev.mtu == mtu and all_nodes not in dev.mc, name
