"""Issue 8 item 5: topology files are read as bytes and split the way the format says."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from macvlan_sim.io.text import shorten, split_lines
from macvlan_sim.io.topology import TopologyError, load_topology, parse_topology, split_words

GOOD = "lower eth0\nip link add mv0 link eth0 type macvlan mode bridge\n"


def _load(tmp_path: Path, raw: bytes):
    path = tmp_path / "t.topo"
    path.write_bytes(raw)
    return load_topology(path)


def test_not_utf8_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as caught:
        _load(tmp_path, b"lower eth0\n# caf\xe9\n")
    assert str(caught.value).endswith(
        "t.topo:2: not UTF-8 text (byte 0xe9 at column 6); save the file as UTF-8"
    )


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    topo = _load(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())
    assert "mv0" in topo.host.devices


@pytest.mark.parametrize("odd", ["\f", "\x85", "\u2028", "\u2029", "\x0b", "\x1c"])
def test_odd_characters_in_comments_neither_end_them_nor_shift_lines(odd: str) -> None:
    text = f"lower eth0 # one {odd} bogus words\n# {odd} more {odd}\nfrobnicate\n"
    with pytest.raises(TopologyError, match=r"^<topology>:3: unknown command 'frobnicate'"):
        parse_topology(text)


def test_crlf_lines_are_accepted() -> None:
    assert "mv0" in parse_topology(GOOD.replace("\n", "\r\n")).host.devices


def test_a_million_character_token_is_fast_and_cut() -> None:
    name = "a" * 1_000_000
    with pytest.raises(TopologyError) as caught:
        parse_topology(f"lower eth0\nip link add {name} link eth0 type macvlan\n")
    message = str(caught.value)
    assert len(message) < 300 and "characters cut" in message and "invalid interface" in message


def test_split_lines_only_on_newline() -> None:
    assert split_lines("a\fb\x85c\u2028d\r\ne\n") == ["a\fb\x85c\u2028d", "e"]
    assert shorten("x" * 10) == "x" * 10


_LINE_CHARS = st.sampled_from(list(" \t\r'\"\\#abc\f\x85\u2028"))


@given(st.lists(_LINE_CHARS, max_size=16).map("".join))
def test_word_splitting_is_shlex_posix_with_comments(line: str) -> None:
    def outcome(split):
        try:
            return split(line)
        except ValueError as exc:
            return str(exc)

    assert outcome(split_words) == outcome(lambda s: shlex.split(s, comments=True))
