"""docs/rules.md documents every rule id the code can print, and only those."""

from __future__ import annotations

import re

from macvlan_sim.datapath.rules import RULES, UNREACHABLE
from tests.conftest import REPO

_ID = r"([A-Z][0-9]?)"
#: Where ids are printed: the first word of a step, the last argument of a drop, a WhyNot rule.
_PATTERNS = (
    re.compile(r"step\(\s*\"" + _ID + r" "),
    re.compile(r"\b(?:drop|held)\((?:[^()]|\([^()]*\))*?\"" + _ID + r"\"\s*,?\s*\)", re.S),
    re.compile(r"= \(\"" + _ID + r"\", "),
)


def _ids_in_code() -> set[str]:
    ids: set[str] = set()
    for path in (REPO / "macvlan_sim" / "datapath").glob("*.py"):
        if path.name == "rules.py":
            continue
        text = path.read_text()
        for pattern in _PATTERNS:
            ids |= set(pattern.findall(text))
    return ids


def _ids_in_doc() -> set[str]:
    text = (REPO / "docs" / "rules.md").read_text()
    return set(re.findall(r"^\| " + _ID + r" \|", text, re.M))


def test_the_grep_finds_the_rules() -> None:
    found = _ids_in_code()
    assert {"M4", "U7", "S", "B", "Q1", "T2", "V3", "L2", "P0", "H"} <= found


def test_every_printed_id_is_documented_and_every_documented_id_is_printed() -> None:
    code, doc = _ids_in_code(), _ids_in_doc()
    assert code - doc == set(), "printed by the code but missing from docs/rules.md"
    assert doc - code == set(UNREACHABLE) - code, "documented but never printed"


def test_the_table_explain_prints_matches_the_doc() -> None:
    assert set(RULES) == _ids_in_doc()
    assert set(UNREACHABLE) <= set(RULES)


def test_unreachable_ids_are_argued_in_the_doc() -> None:
    """An id explain can never show is listed in ``UNREACHABLE`` and its row says why."""
    text = (REPO / "docs" / "rules.md").read_text()
    for rule in UNREACHABLE:
        row = next(line for line in text.splitlines() if line.startswith(f"| {rule} |"))
        assert "Never printed through the public API" in row
