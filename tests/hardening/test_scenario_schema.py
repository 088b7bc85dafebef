"""Issue 8 item 6 / issue 7 §3: one JSON Schema checks every scenario, in ``scenario run``
and in the kernel harness's parser alike; errors name the file and the JSON path."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import jsonschema
import pytest

from macvlan_sim.io.scenario import Scenario, write_result
from macvlan_sim.io.scenario_schema import (
    FORMAT_VERSION,
    ScenarioError,
    load_scenario_file,
    schema,
    validate_scenario,
)
from macvlan_sim.verify.kernel import parse_scenario
from macvlan_sim.verify.randomize import random_scenario, random_vm_scenario

from ..conftest import REPO, data_path

BASE = {"devices": [{"name": "mv0", "mode": "bridge"}], "frames": [{"hex": "ff" * 14}]}

#: (what to change, the JSON path the error must name, words it must contain)
BAD = [
    ({"lower": {"mtu": "abc"}}, "$.lower.mtu", "not an integer"),
    ({"lower": {"mtu": True}}, "$.lower.mtu", "not an integer"),
    ({"vlans": [{"name": "v", "id": "x"}]}, "$.vlans[0].id", "not an integer"),
    ({"port": {"bcqueuelen": "5"}}, "$.port.bcqueuelen", "not an integer"),
    ({"port": {"bcqueuelen": [5]}}, "$.port.bcqueuelen", "not an integer"),
    ({"port": {"bcqueuelen": -1}}, "$.port.bcqueuelen", "below the minimum 0"),
    ({"port": {"bcqueuelen": 2**40}}, "$.port.bcqueuelen", "above the maximum"),
    ({"port": {"bclim": 2**31}}, "$.port.bclim", "above the maximum"),
    ({"devices": [{"name": 7}]}, "$.devices[0].name", "not a string"),
    ({"devices": [{"name": "a", "link": {}}]}, "$.devices[0].link", "not a string"),
    ({"devices": [{"name": "a", "flags": "nodst"}]}, "$.devices[0].flags", "not a list"),
    ({"devices": [{"name": "a", "mc": "01:00:5e:00:00:01"}]}, "$.devices[0].mc", "not a list"),
    ({"devices": [{"name": "a", "macaddr": 5}]}, "$.devices[0].macaddr", "not a list"),
    ({"devices": [{"name": "a", "bcqueuelen": True}]}, "$.devices[0].bcqueuelen", "integer"),
    ({"devices": [{"name": "a", "upp": False}]}, "$.devices[0]", "unknown key 'upp'"),
    ({"devices": [{"name": "a", "up": 1}]}, "$.devices[0].up", "not true or false"),
    ({"device": []}, "$", "unknown key 'device' (did you mean 'devices'?)"),
    ({"frames": [{"hex": 33554432}]}, "$.frames[0].hex", "not a string"),
    ({"frames": [{"hex": "0"}]}, "$.frames[0].hex", "odd number of hex digits"),
    ({"frames": [{"inject": "wire"}]}, "$.frames[0]", "'hex' is required"),
    ({"lower": {"mac": "zz:00:00:00:00:01"}}, "$.lower.mac", "not a MAC address"),
    ({"hairpin": "yes"}, "$.hairpin", "not true or false"),
    ({"devices": [{"name": "a", "mtu": "1500"}]}, "$.devices[0].mtu", "not an integer"),
    ({"vlans": [{"name": "v", "id": 1, "mtu": 0}]}, "$.vlans[0].mtu", "below the minimum 1"),
]


def _with(change: dict) -> dict:
    scenario = copy.deepcopy(BASE)
    scenario.update(change)
    return scenario


def test_the_schema_is_a_valid_json_schema_of_format_1_1() -> None:
    jsonschema.validators.validator_for(schema()).check_schema(schema())
    assert schema()["x-format-version"] == FORMAT_VERSION == "1.1"
    docs = (REPO / "docs" / "scenario-format.md").read_text()
    assert "macvlan_sim/io/scenario.schema.json" in docs and "1.1" in docs


def test_every_shipped_example_and_generated_scenario_validates() -> None:
    examples = sorted(data_path("scenario-examples").glob("*.scenario.json"))
    assert len(examples) >= 4
    for path in examples:
        load_scenario_file(path)
    for seed in range(40):
        validate_scenario(random_scenario(seed, vlans=seed % 2 == 0))
        validate_scenario(random_vm_scenario(seed))


@pytest.mark.parametrize(("change", "path", "words"), BAD)
def test_wrong_input_names_file_and_json_path_in_both_parsers(change, path, words) -> None:
    scenario = _with(change)
    for parse in (lambda s: Scenario(s, "x.json"), lambda s: parse_scenario(s, "x.json")):
        with pytest.raises(ScenarioError) as caught:
            parse(scenario)
        message = str(caught.value)
        assert message.startswith(f"x.json: {path}: ") and words in message
        assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"lower": {"mtu": NaN}}', "NaN is not a JSON number"),
        ('{"lower": {"mtu": Infinity}}', "Infinity is not a JSON number"),
        ('{"hairpin": true, "hairpin": false}', "appears twice"),
        ("[" * 1000 + "]" * 1000, "nested too deeply"),
        ('{"frames": [{"note": ' + "[" * 40 + "]" * 40 + "}]}", "nested more than"),
        ("\ufeff" + json.dumps(BASE), None),
    ],
)
def test_strict_json(tmp_path: Path, text: str, words: str | None) -> None:
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    if words is None:
        assert load_scenario_file(path) == BASE  # a UTF-8 BOM is accepted
        return
    with pytest.raises(ScenarioError, match=words) as caught:
        load_scenario_file(path)
    assert str(caught.value).startswith(str(path))


def test_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b'{"frames": [{"note": "caf\xe9", "hex": ""}]}')
    with pytest.raises(
        ScenarioError, match=r"s\.json:1: not UTF-8 text \(byte 0xe9 at column 26\)"
    ):
        load_scenario_file(path)


def test_a_long_value_is_cut_in_the_message() -> None:
    with pytest.raises(ScenarioError) as caught:
        validate_scenario({"frames": [{"hex": "z" * 1_000_000}]}, "x.json")
    assert len(str(caught.value)) < 200 and "characters cut" in str(caught.value)


def test_results_stream_and_parse_to_the_same_object() -> None:
    scenario = Scenario.load(data_path("scenario-examples", "bridge-basics.scenario.json"))
    out = io.StringIO()
    write_result(scenario, out)
    assert json.loads(out.getvalue()) == scenario.run()
    seen: list[dict] = []
    rest = scenario.stream(seen.append)
    assert set(rest) == {"counters", "setup"} and len(seen) == len(scenario.frames)


def test_a_scenario_without_frames_streams_valid_json() -> None:
    out = io.StringIO()
    write_result(Scenario({"devices": [{"name": "a"}]}), out)
    assert json.loads(out.getvalue())["frames"] == []
