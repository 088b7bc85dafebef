"""Where a frame to explain comes from: hex, a scapy expression, or a record of a trace."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from macvlan_sim.io.capture import ethernet_frames, open_capture
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


def trace_frames(path: str | Path) -> list[tuple[int | None, bytes]]:
    """Every Ethernet frame of a trace, with its timestamp (ns), in order."""
    with open_capture(path) as reader:
        return [(rec.timestamp_ns, rec.data) for rec in ethernet_frames(reader)]


def frame_from_trace(path: str | Path, index: int) -> tuple[list[bytes], bytes]:
    """(the frames before ``index``, frame ``index``) of a trace."""
    frames = [data for _, data in trace_frames(path)]
    if not 0 <= index < len(frames):
        raise SimError(f"{path}: no frame {index} (the trace has {len(frames)} frames)")
    return frames[:index], frames[index]
