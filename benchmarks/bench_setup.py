"""Topology set-up at scale: 10,000 bridge macvlans created and brought up on one lower,
against a baseline of building a dict of 10,000 entries (the least any per-device table
costs). The summary prints both as items per second and the set-up as a ratio to the
baseline; a quadratic step anywhere shows up as a ratio that falls with N (issue 8 item 7:
it was 2.2 / 7.3 / 25.4 s for 1,000 / 2,000 / 4,000 devices).

Run: ``python -m pytest benchmarks/bench_setup.py --benchmark-only``
"""

from __future__ import annotations

import pytest

from macvlan_sim.model.constants import Mode
from macvlan_sim.model.host import Host

N = 10_000


@pytest.mark.benchmark(group="setup")
def test_baseline_dict_of_10000(benchmark) -> None:
    def run() -> dict[str, bytes]:
        return {f"m{i}": i.to_bytes(6, "big") for i in range(N)}

    benchmark.extra_info["frames"] = N  # items, for the summary's per-second column
    benchmark(run)


@pytest.mark.parametrize("lower", ["veth", "nic"])
@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.benchmark(group="setup")
def test_setup_10000_bridge_macvlans_up(benchmark, lower: str, ipv6: bool) -> None:
    def run() -> Host:
        host = Host(ipv6=ipv6)
        host.add_lower("lower", filter_slots=64 if lower == "nic" else None)
        for i in range(N):
            name = f"m{i}"
            host.add_macvlan(name, "lower", mode=Mode.BRIDGE)
            host.set_up(name)
        return host

    benchmark.extra_info["frames"] = N
    host = benchmark.pedantic(run, rounds=3, iterations=1)
    assert sum(d.up for d in host.macvlans()) == N


@pytest.mark.benchmark(group="setup")
def test_setup_10000_maddr_add_on_one_device(benchmark) -> None:
    def run() -> Host:
        host = Host(ipv6=False)
        host.add_lower("lower")
        host.add_macvlan("m", "lower", mode=Mode.BRIDGE)
        host.set_up("m")
        for i in range(N):
            host.maddr_add("m", bytes([1, 0, 0x5E, (i >> 16) & 0x7F, (i >> 8) & 0xFF, i & 0xFF]))
        return host

    benchmark.extra_info["frames"] = N
    host = benchmark.pedantic(run, rounds=3, iterations=1)
    assert len(host.devices["m"].mc_addresses()) == N
