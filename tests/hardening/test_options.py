"""Issue 8 item 9: every numeric option is range-checked at parse time, in one line."""

from __future__ import annotations

import math

import pytest

from macvlan_sim.cli.main import main
from macvlan_sim.verify.kernel import run_scenario_on_kernel


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["verify-kernel", "--settle", "nan", "x.json"], "--settle: must be a number of seconds"),
        (["verify-kernel", "--settle", "-1", "x.json"], "above 0"),
        (["verify-kernel", "--settle", "0", "x.json"], "above 0"),
        (["verify-kernel", "--settle", "inf", "x.json"], "at most 60"),
        (["verify-kernel", "--random", "1", "--frames", "-2"], "--frames: must be from 1"),
        (["verify-kernel", "--random", "0"], "--random: must be 1 or more, not 0"),
        (["verify-kernel", "--random", "1", "--seed", "-3"], "--seed: must be from 0"),
        (["verify-kernel", "--max-frames", "-1", "--trace", "t", "--topology", "t"], "1 or more"),
        (["verify-kernel", "--max-frames", "ten"], "whole number"),
        (["scenario", "run", "--seed", "1.5", "x.json"], "--seed: must be a whole number"),
        (["scenario", "run", "--seed", "9" * 1000, "x.json"], "characters cut"),
        (["explain", "--trace", "t.pcap", "--index", "-1"], "--index: must be 0 or more"),
        (["diagnose", "--service-every", "0"], "--service-every: must be 1 or more"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(capsys, argv: list[str], words: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err
    assert err.startswith("macvlan-sim ") and "Traceback" not in err


@pytest.mark.parametrize("settle", [math.nan, -1.0, 0, "0.1"])
def test_the_harness_api_refuses_a_bad_settle_before_doing_anything(settle) -> None:
    with pytest.raises(ValueError, match="settle must be"):
        run_scenario_on_kernel({}, settle=settle)
