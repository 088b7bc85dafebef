"""Where a frame to explain comes from: hex, a scapy expression, or a record of a trace."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from macvlan_sim.io.capture import CaptureRecord, ethernet_frames, open_capture
from macvlan_sim.model.errors import SimError


def frame_from_hex(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "")
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise SimError(f"--hex: not hexadecimal: {text[:40]!r}") from None
    if len(data) < 14:
        raise SimError(f"--hex: {len(data)} bytes is shorter than an Ethernet header")
    return data


@cache
def _scapy_names() -> dict[str, Any]:
    import scapy.all as scapy_all

    return {k: v for k, v in vars(scapy_all).items() if not k.startswith("_")}


def frame_from_scapy(expr: str) -> bytes:
    """Evaluate ``expr`` with scapy's names only and no builtins (a guard against accidents,
    not a sandbox: only evaluate expressions you would type yourself)."""
    if "__" in expr:
        raise SimError("--scapy: dunder names are not allowed")
    namespace = dict(_scapy_names())
    namespace["__builtins__"] = {}
    try:
        value = eval(expr, namespace)  # restricted namespace: scapy layers only
        data = bytes(value)
    except Exception as exc:  # any error in the user's expression is one line
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SimError(f"--scapy: {type(exc).__name__}: {message}") from None
    if len(data) < 14:
        raise SimError(f"--scapy: {len(data)} bytes is shorter than an Ethernet header")
    return data


def trace_records(path: str | Path) -> Iterator[CaptureRecord]:
    """The Ethernet records of a trace, in order, read as a stream (one record in memory at
    a time, whatever the size of the file); the file is closed when the stream ends or is
    closed."""
    with open_capture(path) as reader:
        yield from ethernet_frames(reader)
