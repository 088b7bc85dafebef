"""Offline parts of the kernel harness (pure helpers, input checks); no kernel needed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from macvlan_sim.verify.kernel import Unsupported, parse_scenario
from macvlan_sim.verify.kernel import frames as fr
from macvlan_sim.verify.kernel.sockets import (
    AUXDATA_STRUCT,
    TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
    parse_auxdata,
)

DST = bytes.fromhex("ffffffffffff")
SRC = bytes.fromhex("0a0000000001")
PAYLOAD = bytes.fromhex("88b5") + b"MVO-selftest".ljust(46, b"\0")
PLAIN = DST + SRC + PAYLOAD
TAG10 = bytes.fromhex("8100000a")
PRIO = bytes.fromhex("81006000")


def test_leading_tags_need_a_full_tag_and_ethertype() -> None:
    assert fr.leading_tags(DST + SRC + TAG10 + PAYLOAD) == [(0x8100, 10)]
    assert fr.leading_tags(DST + SRC + PRIO + TAG10 + PAYLOAD) == [(0x8100, 0x6000), (0x8100, 10)]
    # The 14-byte "ethertype 0x8100, no tag" runt is not a tagged frame (the core drops it).
    assert fr.leading_tags(DST + SRC + bytes.fromhex("8100")) == []
    assert fr.leading_tags(DST + SRC + bytes.fromhex("8100000a")) == []
    assert fr.leading_tags(DST + SRC + bytes.fromhex("88a8000a88b5")) == [(0x88A8, 10)]


def test_kernel_protocols_follow_the_tag_chain_and_8023_rules() -> None:
    assert fr.kernel_protocols(PLAIN) == {0x88B5}
    assert fr.kernel_protocols(DST + SRC + PRIO + TAG10 + PAYLOAD) == {0x8100, 0x88B5}
    assert fr.kernel_protocols(DST + SRC + bytes.fromhex("88a8000a") + PAYLOAD) == {
        0x88A8,
        0x88B5,
    }
    llc = DST + SRC + bytes.fromhex("002e424203") + bytes(43)
    ipx = DST + SRC + bytes.fromhex("002effff") + bytes(44)
    assert fr.kernel_protocols(llc) == {fr.ETH_P_802_2}
    assert fr.kernel_protocols(ipx) == {fr.ETH_P_802_3}
    # A length field with no payload at all: eth_type_trans cannot see 0xFFFF -> 802.2.
    assert fr.kernel_protocols(DST + SRC + bytes.fromhex("0000")) == {fr.ETH_P_802_2}
    assert fr.protocols_for([PLAIN, llc]) == [fr.ETH_P_802_2, 0x88B5]


def test_vlan_dict_splits_the_tci() -> None:
    assert fr.vlan_dict(0x8100, 0x6000) == {"tpid": "0x8100", "vid": 0, "pcp": 3, "dei": 0}
    assert fr.vlan_dict(0x88A8, 0x1FFF) == {"tpid": "0x88a8", "vid": 0xFFF, "pcp": 0, "dei": 1}


def test_diff_fields_like_the_examples() -> None:
    tagged = DST + SRC + TAG10 + PAYLOAD[:-4]
    # Tag moved out of band only: no hex.
    assert fr.diff_fields(tagged, DST + SRC + PAYLOAD[:-4], (0x8100, 10)) == {}
    # Tag removed and discarded (the lower's stack of a VID 10 frame).
    assert fr.diff_fields(tagged, DST + SRC + PAYLOAD[:-4], None) == {
        "hex": (DST + SRC + PAYLOAD[:-4]).hex(),
        "untagged": 1,
    }
    # Tag added on transmit: hex is the raw capture, without the aux tag.
    assert fr.diff_fields(PLAIN, PLAIN, (0x8100, 10)) == {"hex": PLAIN.hex(), "tagged": 1}
    qinq = DST + SRC + PRIO + TAG10 + PAYLOAD[:-8]
    assert fr.diff_fields(qinq, DST + SRC + PAYLOAD[:-8], None)["untagged"] == 2


def test_matches_tolerates_kernel_rewrites_only() -> None:
    tagged = DST + SRC + TAG10 + PAYLOAD
    assert fr.matches(tagged, PLAIN)
    assert fr.matches(PLAIN, tagged)
    assert fr.matches(PLAIN, PLAIN + bytes(4))  # padding
    runt14 = bytes.fromhex("0200000001000a000000000188b5")
    runt15 = runt14 + b"\x01"
    assert not fr.matches(runt15, runt14)  # a late 14-byte copy is not the 15-byte frame
    assert not fr.matches(PLAIN, bytes.fromhex("0a00000099990a0000000001") + PAYLOAD)
    other = PLAIN[:-1] + b"\x01"
    assert not fr.matches(PLAIN, other)


def test_matches_accepts_a_reassembled_ipv4_datagram() -> None:
    ip_hdr = bytes.fromhex("450000801092000040117edf0a000001e00000fb")
    frag_hdr = bytes.fromhex("4500001c1092000840117edf0a000001e00000fb")
    eth = bytes.fromhex("01005e0000fb0a0000000001") + b"\x08\x00"
    assert fr.matches(eth + frag_hdr + bytes(8), eth + ip_hdr + bytes(108))


@given(st.binary(min_size=14, max_size=80), st.integers(0, 0xFFFF))
def test_insert_then_strip_round_trips(frame: bytes, tci: int) -> None:
    tagged = fr.insert_tag(frame, 0x8100, tci)
    assert fr.leading_tags(tagged)[0] == (0x8100, tci)
    assert fr.strip_tags(tagged) == fr.strip_tags(frame)
    assert fr.matches(frame, tagged)
    assert fr.diff_fields(frame, frame, None) == {}


def test_auxdata_parsing() -> None:
    def anc(status: int, tci: int, tpid: int) -> list[tuple[int, int, bytes]]:
        return [(263, 8, AUXDATA_STRUCT.pack(status, 60, 60, 0, 14, tci, tpid))]

    assert parse_auxdata(anc(0, 10, 0x8100)) is None
    assert parse_auxdata(anc(TP_STATUS_VLAN_VALID, 10, 0)) == (0x8100, 10)
    valid = TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID
    assert parse_auxdata(anc(valid, 10, 0x88A8)) == (0x88A8, 10)


def test_parse_scenario_defaults_and_refusals() -> None:
    spec = parse_scenario({"devices": [{"name": "mv0"}], "frames": [{"hex": "00 11:22"}]})
    assert spec.lower_mac == "02:00:00:00:00:01"
    assert spec.wire_mac == "02:00:00:00:ff:fe"
    assert spec.devices[0].mode == "vepa" and not spec.devices[0].mode_given
    assert spec.frames[0].inject == "wire" and spec.frames[0].data == b"\x00\x11\x22"
    with pytest.raises(Unsupported, match="nic"):
        parse_scenario({"lower": {"kind": "nic"}})
    with pytest.raises(ValueError, match="reserved"):
        parse_scenario({"devices": [{"name": "wire"}]})
    with pytest.raises(ValueError, match="mode"):
        parse_scenario({"devices": [{"name": "mv0", "mode": "bogus"}]})


def test_kernel_unavailable_is_raised_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from macvlan_sim.verify.kernel import KernelUnavailable, harness

    monkeypatch.setattr(harness, "kernel_available", lambda: (False, "not root (euid 1000)"))
    with pytest.raises(KernelUnavailable, match="not root"):
        harness.run_scenario_on_kernel({"frames": []})
