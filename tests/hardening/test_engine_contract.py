"""Issue 8 item 10: a callback that raises never leaves a frame half-decided; re-entry and
bad registrations are refused at once."""

from __future__ import annotations

import pytest
from scapy.layers.l2 import ARP, Ether

from macvlan_sim import CallbackError, ReentryError, SimError
from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import Mode
from macvlan_sim.model.host import Host

BCAST = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="0a:00:00:00:00:01") / ARP())


def host() -> Host:
    h = Host(ipv6=False)
    h.add_lower("lower")
    for name in ("a", "b", "c"):
        h.add_macvlan(name, "lower", mode=Mode.BRIDGE)
        h.set_up(name)
    return h


def summary(out) -> tuple:
    return (
        sorted((r.point, r.pkttype, r.queued) for r in out.receptions),
        sorted((d.point, d.reason) for d in out.drops),
        sorted((k, tuple(sorted(v.items()))) for k, v in out.counters.items()),
        out.pending,
    )


def boom(batch) -> None:
    raise RuntimeError("consumer failed")


def test_a_raising_callback_leaves_the_frame_whole_and_raises_after() -> None:
    reference = Engine(host())
    expected = summary(reference.rx(BCAST))
    eng = Engine(host(), batch_size=1)
    seen: list[str] = []
    eng.callbacks.register("lower", boom)
    eng.callbacks.register_each("*", lambda r: seen.append(r.point))
    with pytest.raises(CallbackError) as caught:
        eng.rx(BCAST)
    assert isinstance(caught.value.__cause__, RuntimeError) and caught.value.point == "lower"
    assert summary(caught.value.outcome) == expected
    assert sorted(seen) == sorted(r.point for r in caught.value.outcome.receptions)
    assert eng.counters.nonzero_totals() == reference.counters.nonzero_totals()
    with pytest.raises(CallbackError) as again:  # the next frame has only its own copies
        eng.rx(bytes(Ether(dst="02:00:00:00:00:09", src="0a:00:00:00:00:01") / ARP()))
    nxt = again.value.outcome
    assert nxt.index == 1 and all(r.frame_index == 1 for r in nxt.receptions)


def test_manual_drain_a_raising_callback_still_empties_the_queues() -> None:
    unicast = bytes(Ether(dst="02:00:00:00:00:09", src="0a:00:00:00:00:01") / ARP())
    reference = Engine(host(), drain="manual")
    first = reference.rx(BCAST)
    reference.run_workqueue()
    reference.rx(unicast)
    eng = Engine(host(), drain="manual", batch_size=1)
    eng.callbacks.register("a", boom)  # "a" gets its copy from the broadcast queue
    held = eng.rx(BCAST)
    assert held.pending == 1
    with pytest.raises(CallbackError) as caught:
        eng.run_workqueue()
    assert caught.value.outcome is None and held.pending == 0
    assert summary(held) == summary(first) and eng.pending_frames() == []
    nxt = eng.rx(unicast)
    assert all(r.frame_index == nxt.index for r in nxt.receptions)
    eng.run_workqueue()  # nothing left over: no assertion, no error
    assert eng.counters.nonzero_totals() == reference.counters.nonzero_totals()


def test_keyboard_interrupt_in_a_callback_comes_after_the_frame() -> None:
    eng = Engine(host(), batch_size=1)

    def interrupt(batch) -> None:
        raise KeyboardInterrupt

    eng.callbacks.register("wire", interrupt)
    with pytest.raises(KeyboardInterrupt):
        eng.rx(BCAST)
    reference = Engine(host())
    reference.rx(BCAST)
    assert eng.counters.nonzero_totals() == reference.counters.nonzero_totals()


def test_reentry_from_a_callback_is_refused_and_steals_nothing() -> None:
    eng = Engine(host(), batch_size=1)
    expected = summary(Engine(host()).rx(BCAST))

    def reenter(batch) -> None:
        eng.rx(BCAST)

    eng.callbacks.register("a", reenter)
    with pytest.raises(CallbackError) as caught:
        eng.rx(BCAST)
    assert isinstance(caught.value.__cause__, ReentryError)
    assert summary(caught.value.outcome) == expected


def test_bad_registrations_and_arguments_fail_at_once() -> None:
    eng = Engine(host())
    with pytest.raises(SimError, match="no observation point 'nosuch'"):
        eng.callbacks.register("nosuch", print)
    with pytest.raises(TypeError, match="callable"):
        eng.callbacks.register("a", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        eng.callbacks.register_each("a", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timestamp_ns must be an int"):
        eng.rx(BCAST, timestamp_ns="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timestamp_ns must be an int"):
        eng.rx(BCAST, timestamp_ns=True)
    with pytest.raises(ValueError, match="batch_size"):
        Engine(host(), batch_size=0)
    eng.callbacks.register("lower:stack", print)
    eng.callbacks.register("*", print)
