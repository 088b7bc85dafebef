"""Small helpers for the replay output tests: run the CLI in-process, validate its JSON."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from macvlan_sim.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "docs" / "replay-json.schema.json"

BRIDGE0 = bytes.fromhex("020000000100")  # mv-bridge0 of the bundled default topology
SENDER = bytes.fromhex("0a0000000099")


def frame(dst: bytes = BRIDGE0, size: int = 60, tags: tuple[int, ...] = ()) -> bytes:
    """An Ethernet frame of ``size`` bytes to ``dst``, with 802.1Q/802.1ad ``tags`` in band."""
    head = dst + SENDER
    for i, vid in enumerate(tags):
        tpid = 0x88A8 if i == 0 and len(tags) > 1 else 0x8100
        head += tpid.to_bytes(2, "big") + vid.to_bytes(2, "big")
    head += b"\x08\x00"
    return head + bytes(size - len(head))


@cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def replay_json(capsys: Any, *args: str) -> dict[str, Any]:
    """``replay ARGS --json`` in-process; the output must pass the published schema."""
    code = main(["replay", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    validator().validate(doc)
    return doc


def replay_fails(capsys: Any, *args: str) -> str:
    """``replay ARGS`` must fail with exit 2 and exactly one line on stderr; returns it."""
    code = main(["replay", *args, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err
