"""Reading the project's text inputs (topology files, scenario JSON) the same careful way.

Files are read as bytes and decoded as UTF-8 here, once, so that a file in another encoding
is one clear line naming the file and where the first bad byte is (not a UnicodeDecodeError),
and a leading byte-order mark (which some Windows editors write) is accepted and dropped.

Lines are split on ``\\n`` only (a ``\\r`` before it is dropped too): form feed, U+0085,
U+2028 and U+2029, which :meth:`str.splitlines` would also treat as line ends, are ordinary
characters here, so they neither shift line numbers nor end a ``#`` comment early.
"""

from __future__ import annotations

from pathlib import Path

from macvlan_sim.model.errors import SimError

#: Longest value echoed whole in an error message; longer ones are cut in the middle.
ECHO_LIMIT = 60
_BOM = b"\xef\xbb\xbf"


def read_text(path: str | Path, error: type[SimError] = SimError) -> str:
    """The file's text; ``error`` (a one-line message naming ``path``) when it cannot be read
    or is not UTF-8."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode_text(raw, str(path), error)


def decode_text(raw: bytes, source: str, error: type[SimError] = SimError) -> str:
    """UTF-8 (a BOM allowed) to text, or ``error`` saying where the first bad byte is."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise error(
            f"{source}:{line}: not UTF-8 text (byte 0x{bad} at column {column}); "
            "save the file as UTF-8"
        ) from None


def split_lines(text: str) -> list[str]:
    """The format's lines: ``\\n`` (or ``\\r\\n``) ends a line, nothing else does."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` itself, or its head and tail around a note of how much was cut."""
    if len(text) <= limit:
        return text
    keep = max(limit // 2 - 8, 4)
    return f"{text[:keep]}…[{len(text) - 2 * keep} characters cut]…{text[-keep:]}"
