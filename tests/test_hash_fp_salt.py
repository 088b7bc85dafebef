"""The false-positive proof's compiled salt search against the model's own ``mc_hash``.

``verify/hash_fp.py`` restates the filter hash in a form numba compiles; this test pins it to
:func:`macvlan_sim.model.mac.mc_hash`, so the proof and the engine cannot hash differently.
"""

from __future__ import annotations

import random

import pytest

from macvlan_sim.model.mac import mc_hash
from macvlan_sim.verify.hash_fp import consistent_salt


def _mac(rng: random.Random) -> bytes:
    return bytes([0x01, 0x00]) + rng.randbytes(4)


def _first_salt(members, accepted, rejected, upto: int) -> int | None:
    """The first salt in ``range(upto)`` that explains the lists, by the model's hash."""
    for salt in range(upto):
        bits = {mc_hash(m, salt) for m in members}
        if all(mc_hash(g, salt) in bits for g in accepted) and not any(
            mc_hash(g, salt) in bits for g in rejected
        ):
            return salt
    return None


@pytest.mark.parametrize("seed", range(6))
def test_compiled_search_finds_the_models_first_salt(seed: int) -> None:
    rng = random.Random(seed)
    members = [_mac(rng) for _ in range(3)]
    target = rng.randrange(300)  # a salt that explains the lists by construction
    bits = {mc_hash(m, target) for m in members}
    accepted, rejected = [], []
    while len(accepted) < 2 or len(rejected) < 4:
        g = _mac(rng)
        (accepted if mc_hash(g, target) in bits else rejected).append(g)
    accepted, rejected = accepted[:2], rejected[:4]
    expected = _first_salt(members, accepted, rejected, target + 1)
    assert expected is not None and expected <= target
    assert consistent_salt(members, accepted, rejected) == expected
