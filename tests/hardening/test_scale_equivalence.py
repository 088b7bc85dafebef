"""Issue 8 item 7: set-up is near-linear because address lists, synced counts and filter bits
are kept up to date instead of recomputed. These properties hold the kept state equal to the
definitions it replaced (recomputed from scratch, recursively, as the model used to), over
random sequences of configuration steps; and deep stacks work without recursion."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from macvlan_sim.io.scenario import Scenario
from macvlan_sim.model.constants import Mode
from macvlan_sim.model.devices import MacvlanDevice, NetDevice
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.filters import compute_device_filter, compute_port_filter
from macvlan_sim.model.host import Host
from macvlan_sim.model.mac import mc_hash
from tests.fuzz_budget import fuzz_settings

from ..conftest import data_path

GROUPS = [bytes([1, 0, 0x5E, 0, 0, n]) for n in range(1, 5)]


def ref_mc(dev: NetDevice) -> set[bytes]:
    """The old definition: own entries plus, recursively, every UP upper's list."""
    out = set(dev.mc.addresses())
    for upper in dev.uppers:
        if upper.up:
            out |= ref_mc(upper)
    return out


def ref_synced(dev: NetDevice, addr: bytes) -> int:
    return sum(1 for u in dev.uppers if u.up and addr in ref_mc(u))


def ref_uc(dev: NetDevice) -> set[bytes]:
    out = {a for a, n in dev.uc.items() if n > 0}
    for upper in dev.uppers:
        if upper.up:
            out |= ref_uc(upper)
    return out


def check(host: Host) -> None:
    for dev in host.devices.values():
        full = ref_mc(dev)
        assert dev.mc_addresses() == sorted(full), dev.name
        every = full | set(dev.mc_synced)
        assert {a: dev.mc_synced_count(a) for a in every} == {
            a: ref_synced(dev, a) for a in every
        }, dev.name
        assert dev.uc_addresses() == sorted(ref_uc(dev)) and dev.has_uc_addresses() == bool(
            ref_uc(dev)
        )
        if isinstance(dev, MacvlanDevice) and not (dev.promisc or dev.allmulti_flag):
            flt = compute_device_filter(dev)
            assert flt.addresses == frozenset(full | {dev.broadcast})
            assert flt.bits == frozenset(mc_hash(a, dev.filter_salt) for a in flt.addresses)
        if dev.rx_port is not None and not (dev.promisc or dev.allmulti_flag):
            for cutoff in (0, 1, 2):
                chosen = [a for a in full if ref_synced(dev, a) > cutoff] + [dev.broadcast]
                want = frozenset(mc_hash(a) for a in chosen)
                assert compute_port_filter(dev, cutoff).bits == want
        if dev.rx_port is not None:
            requests = [d.bc_queue_len_req for d in dev.rx_port.vlans]
            assert dev.rx_port.bc_queue_len_used == max(requests, default=0)


OPS = st.lists(st.tuples(st.integers(0, 10), st.integers(0, 50), st.integers(0, 50)), max_size=40)


@pytest.mark.fuzz
@fuzz_settings(60)
@given(OPS, st.booleans())
def test_kept_address_state_equals_the_recursive_definitions(ops, ipv6: bool) -> None:
    host = Host(ipv6=ipv6, seed=1)
    host.add_lower("lower", up=False)
    serial = 0
    for op, a, b in ops:
        names = sorted(host.devices)
        name = names[a % len(names)]
        other = names[b % len(names)]
        try:
            if op == 0:
                serial += 1
                host.add_vlan(f"v{serial}", name, b % 3 + 1)
            elif op == 1:
                serial += 1
                host.add_macvlan(
                    f"m{serial}", name, mode=[Mode.BRIDGE, Mode.VEPA][b % 2], bcqueuelen=b * 10
                )
            elif op in (2, 3):
                host.set_up(name)
            elif op == 4:
                host.set_down(name)
            elif op == 5:
                host.maddr_add(name, GROUPS[b % len(GROUPS)])
            elif op == 6:
                host.maddr_del(name, GROUPS[b % len(GROUPS)])
            elif op == 7:
                host.set_promisc(name, bool(b % 2))
            elif op == 8:
                host.set_allmulti(name, bool(b % 2))
            elif op == 9:
                host.set_address(name, bytes([2, 0, 0, 0, a, b]))
            elif op == 10 and name != other:
                host.delete(name)
        except (KernelError, SimError):
            pass
        check(host)


def test_stacks_nest_at_most_max_nest_dev_levels_as_on_the_kernel() -> None:
    """6.18 with 8021q (qemu, tests/data/kernel-results/vlan-nesting): VLANs v1..v7 stacked on
    a veth lower are created, v8 on v7 and a macvlan on v7 are refused with EMLINK, and
    nothing can be stacked on what was refused. The whole stack follows its lower up and
    down, and goes away with it."""
    folder = data_path("kernel-results")
    kernel = json.loads((folder / "vlan-nesting.result.json").read_text())
    scenario = Scenario.load(folder / "vlan-nesting.scenario.json")
    host, log = scenario.build()
    refused = {step["op"].split()[1]: step["errno"] for step in kernel["setup"] if not step["ok"]}
    assert refused["v8"] == refused["mv7"] == "EMLINK"
    for spec in [*scenario.vlans, *scenario.devices]:
        assert (spec["name"] in host.devices) == (spec["name"] not in refused), spec["name"]
    ours = {s["op"].split()[1]: s["errno"] for s in log.steps if not s["ok"]}
    assert ours == {"v8": "EMLINK", "mv7": "EMLINK"}
    host.set_down("lower")
    assert not any(d.up for d in host.vlan_devices())
    host.set_up("lower")
    assert all(d.up for d in host.vlan_devices())
    host.delete("v1")
    assert set(host.devices) == {"lower", "wire"} and not host.lower.mc_synced
