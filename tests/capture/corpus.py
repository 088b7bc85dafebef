"""The capture corpus shipped in ``tests/data/pcaps`` and its manifest, for the corpus tests.

The corpus is third-party data copied byte for byte, with its sources and licences
(``tests/data/pcaps/MANIFEST.md``, ``LICENSES/``). It ships with the repository, so every
corpus test runs on a fresh clone; a missing file is a failure, not a skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "data" / "pcaps"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text())["files"]
BY_NAME = {entry["file"]: entry for entry in MANIFEST}


def corpus_file(name: str) -> Path:
    """Path of one corpus file (it must exist: the corpus ships with the repository)."""
    path = CORPUS / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} missing from {CORPUS}")
    return path


def entry(name: str) -> dict[str, Any]:
    corpus_file(name)
    return BY_NAME[name]


def manifest_params(predicate: Any = None) -> list[Any]:
    """``pytest.param`` per manifest entry (id = file name)."""
    return [pytest.param(e, id=e["file"]) for e in MANIFEST if predicate is None or predicate(e)]
