"""The scenario format's one JSON Schema (``scenario.schema.json``), and the checks every
scenario passes before anything uses it: ``scenario run``, ``verify-kernel`` and the kernel
harness's own parser all call :func:`validate_scenario`, so they accept and refuse the same
inputs with the same messages.

An error names the file and the JSON path (``$.devices[1].bcqueuelen``) of the offending
value, and cuts long values; unknown keys are errors, with the closest known key suggested.
"""

from __future__ import annotations

import difflib
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from macvlan_sim.io.text import read_text, shorten
from macvlan_sim.model.errors import SimError

#: The version of the format the schema describes (docs/scenario-format.md).
FORMAT_VERSION = "1.1"
#: No valid scenario is deeper than 4 levels; anything past this is refused before the JSON
#: Schema walk (which, like any recursive walker, would otherwise hit the recursion limit).
MAX_DEPTH = 16


class ScenarioError(SimError, ValueError):
    """A scenario that does not follow the format; ``str()`` is ``SOURCE: $.path: problem``.
    A ValueError too, for callers of the kernel harness that catch that."""


@functools.cache
def schema() -> dict[str, Any]:
    """The published schema (package data ``macvlan_sim/io/scenario.schema.json``)."""
    text = resources.files("macvlan_sim.io").joinpath("scenario.schema.json").read_text()
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    """The schema's validator, with "integer" meaning a JSON number written without a
    fraction or exponent: JSON Schema would take 5.0, which netlink cannot carry as a u32."""
    base = jsonschema.validators.validator_for(schema())
    base.check_schema(schema())
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=checker)(schema())


def load_scenario_file(path: str | Path) -> Any:
    """Read, decode and parse a scenario file, then validate it; returns the JSON data."""
    source = str(path)
    text = read_text(path, ScenarioError)
    data = parse_json(text, source)
    validate_scenario(data, source)
    return data


def parse_json(text: str, source: str) -> Any:
    """Strict JSON: NaN and Infinity (which Python's json accepts) and duplicate keys are
    errors, and so is nesting the parser cannot follow."""
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: invalid JSON: nested too deeply") from None
    except _BadJson as exc:
        raise ScenarioError(f"{source}: invalid JSON: {exc}") from None


class _BadJson(ValueError):
    pass


def _no_constant(word: str) -> Any:
    raise _BadJson(f"{word} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _BadJson(f"key {shorten(key)!r} appears twice in one object")
        out[key] = value
    return out


def validate_scenario(data: Any, source: str = "scenario") -> None:
    """Raise :class:`ScenarioError` naming ``source`` and the JSON path of the first problem."""
    deep = _too_deep(data)
    if deep is not None:
        raise ScenarioError(f"{source}: {deep}: nested more than {MAX_DEPTH} levels deep")
    error = best_match(_validator().iter_errors(data), key=_relevance)
    if error is not None:
        raise ScenarioError(f"{source}: {json_path(error.absolute_path)}: {_describe(error)}")


def _relevance(error: ValidationError) -> tuple[int, int]:
    """Prefer the deepest error, and a precise one over a wrong type of the container."""
    return (len(error.absolute_path), error.validator != "type")


def _too_deep(data: Any) -> str | None:
    """The path of a value nested past :data:`MAX_DEPTH`, found without recursion."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return json_path(path)
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return None


def json_path(parts: Any) -> str:
    """``$.devices[1].mac`` from the path's keys and indexes."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{shorten(str(part))}"
    return out


_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "number": "a number",
}


def _describe(error: ValidationError) -> str:
    """One short sentence; the value is shown cut, never whole."""
    value = shorten(json.dumps(error.instance, default=str))
    kind = error.validator
    if kind == "additionalProperties":
        return _unknown_keys(error)
    if kind == "required":
        return error.message.replace(" is a required property", " is required")
    if kind == "type":
        want = error.validator_value
        words = [want] if isinstance(want, str) else want
        return f"{value} is not {' or '.join(_TYPE_WORDS.get(w, w) for w in words)}"
    if kind == "enum":
        return f"{value} is not one of {', '.join(map(json.dumps, error.validator_value))}"
    if kind == "minimum":
        return f"{value} is below the minimum {error.validator_value}"
    if kind == "maximum":
        return f"{value} is above the maximum {error.validator_value}"
    if kind == "pattern":
        return f"{value} is not {_pattern_word(error)}"
    if kind in ("minLength", "maxLength"):
        return f"{value} must have {kind[:3]}imum length {error.validator_value}"
    return shorten(error.message, 200)


def _pattern_word(error: ValidationError) -> str:
    field = error.absolute_path[-1] if error.absolute_path else ""
    if field == "hex":
        return "hexadecimal (digits, spaces and ':' only)"
    return "a MAC address like 02:00:00:00:00:01"


def _unknown_keys(error: ValidationError) -> str:
    known = sorted(error.schema.get("properties", {}))
    extra = [k for k in error.instance if k not in known]
    key = extra[0]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    return f"unknown key {shorten(key)!r}{hint}"


def frame_bytes(text: str, source: str, index: int) -> bytes:
    """``frames[index].hex`` to bytes (whitespace and ':' between bytes ignored)."""
    digits = "".join(text.split()).replace(":", "")
    if len(digits) % 2:
        raise ScenarioError(
            f"{source}: {json_path(('frames', index, 'hex'))}: an odd number of hex digits"
        )
    return bytes.fromhex(digits)
