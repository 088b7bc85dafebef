"""§12 counters, row by row (per-frame deltas), plus the drops counted elsewhere."""

from __future__ import annotations

from rulekit import (
    BCAST,
    EXT,
    L_MAC,
    add,
    delta,
    frame,
    group,
    mac,
    new_host,
    tagged,
)

from macvlan_sim.datapath.engine import Engine
from macvlan_sim.model.constants import ETH_P_8021AD, ETH_P_8021Q, MacaddrOp, MacvlanFlag, Mode
from macvlan_sim.model.host import MacaddrChange

Q, AD = ETH_P_8021Q, ETH_P_8021AD


def test_counters_U7_unicast_another():
    """+1 packet, +frame − 4 per stripped tag (verified 60→60, tagged 60→56)."""
    h = new_host()
    add(h, "a", Mode.VEPA, mac(1))
    eng = Engine(h)
    assert delta(eng.rx(frame(mac(1), EXT)), "a") == {"rx_packets": 1, "rx_bytes": 60}
    assert delta(eng.rx(tagged(mac(1), EXT)), "a") == {"rx_packets": 1, "rx_bytes": 56}
    out = eng.rx(tagged(mac(1), EXT, ((AD, 20), (Q, 10))))
    assert delta(out, "a") == {"rx_packets": 1, "rx_bytes": 56}


def test_counters_broadcast_copy_rx_and_queue():
    """+1 packet, +len incl. header, +1 multicast, on the queued and the inline path."""
    for bclim in (1, -1):
        h = new_host()
        add(h, "a", Mode.BRIDGE, mac(1), bclim=bclim)
        h.maddr_add("a", group(0x42))
        eng = Engine(h)
        for dst in (BCAST, group(0x42)):
            out = eng.rx(frame(dst, EXT, size=100))
            assert delta(out, "a") == {"rx_packets": 1, "rx_bytes": 100, "multicast": 1}


def test_counters_broadcast_copy_tagged():
    """Tagged broadcast (no sub-interface): 56 bytes per copy (tags-pause-runts frame 1), and
    the copy ends OTHERHOST with no protocol handler: core rx_dropped +1 on the macvlan."""
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    out = Engine(h).rx(tagged(BCAST, EXT))
    assert delta(out, "a") == {"rx_packets": 1, "rx_bytes": 56, "multicast": 1, "rx_dropped": 1}


def test_counters_bridge_local_copy_frame_plus_14():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2))
    out = Engine(h).tx("a", frame(BCAST, mac(1)))
    assert delta(out, "b") == {"rx_packets": 1, "rx_bytes": 74, "multicast": 1}
    out = Engine(h).tx("a", frame(group(0x42), mac(1), size=100))
    assert delta(out, "b") == {}  # b did not join 01:00:5e:00:00:42


def test_counters_return_to_sender_zero_bytes():
    h = new_host()
    add(h, "p", Mode.PRIVATE, mac(1))
    eng = Engine(h)
    out = eng.rx(frame(BCAST, mac(1), size=200))
    assert delta(out, "p") == {"rx_packets": 1}
    assert eng.counters.totals["p"]["rx_bytes"] == 0


def test_counters_source_match_copy():
    h = new_host()
    add(h, "s", Mode.SOURCE, mac(1), macaddr=MacaddrChange(MacaddrOp.ADD, (EXT,)))
    eng = Engine(h)
    for dst in (BCAST, group(0x42), mac(9), mac(1)):
        out = eng.rx(frame(dst, EXT, size=90))
        assert delta(out, "s") == {"rx_packets": 1, "rx_bytes": 90}


def test_counters_tx():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "v", Mode.VEPA, mac(2))
    eng = Engine(h)
    assert delta(eng.tx("v", frame(EXT, mac(2), size=80)), "v") == {
        "tx_packets": 1,
        "tx_bytes": 80,
    }
    assert delta(eng.tx("a", frame(mac(1), mac(1), size=80)), "a") == {
        "tx_packets": 1,
        "tx_bytes": 80,
        "rx_packets": 1,
        "rx_bytes": 80,
    }


def test_counters_queue_overflow_on_lower():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1), bcqueuelen=0)
    out = Engine(h).rx(frame(BCAST, EXT))
    assert delta(out, "lower") == {"rx_packets": 1, "rx_bytes": 60, "rx_dropped": 1}
    assert delta(out, "a") == {}


def test_counters_down_passthru_and_nodst_drops_counted_nowhere():
    h = new_host()
    add(h, "pt", Mode.PASSTHRU, up=False)
    out = Engine(h).rx(frame(L_MAC, EXT))
    assert set(out.counters) <= {"lower", "wire"}
    assert delta(out, "lower") == {"rx_packets": 1, "rx_bytes": 60}

    h = new_host()
    add(
        h,
        "s",
        Mode.SOURCE,
        mac(1),
        flags=MacvlanFlag.NODST,
        macaddr=MacaddrChange(MacaddrOp.ADD, (EXT,)),
        up=False,
    )
    add(h, "b", Mode.BRIDGE, mac(2))
    eng = Engine(h)
    for dst in (mac(2), BCAST):
        out = eng.rx(frame(dst, EXT))
        assert set(out.counters) <= {"lower", "wire"}
        assert delta(out, "lower") == {"rx_packets": 1, "rx_bytes": 60}


def test_counters_running_totals_are_sums_of_deltas():
    h = new_host()
    add(h, "a", Mode.BRIDGE, mac(1))
    add(h, "b", Mode.BRIDGE, mac(2))
    add(h, "p", Mode.PRIVATE, mac(3))
    eng = Engine(h)
    outs = [
        eng.rx(frame(BCAST, EXT)),
        eng.rx(frame(mac(1), EXT)),
        eng.tx("a", frame(BCAST, mac(1))),
        eng.tx("a", frame(mac(2), mac(1))),
        eng.rx(frame(BCAST, mac(3))),
        eng.rx(tagged(BCAST, EXT)),
    ]
    summed: dict[str, dict[str, int]] = {}
    for out in outs:
        for dev, fields in out.counters.items():
            for fld, n in fields.items():
                summed.setdefault(dev, {}).setdefault(fld, 0)
                summed[dev][fld] += n
    totals = {d: c for d, c in eng.counters.nonzero_totals().items() if c}
    assert totals == summed
