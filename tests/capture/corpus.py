"""Where the shared capture corpus is, and its manifest, for the corpus tests.

The corpus is third-party data kept outside the repository (``../shared/pcaps`` from the repo
root, or ``$MACVLAN_SIM_SHARED``). When it is absent, tests that need it skip with a reason
that says where they looked, instead of failing on a missing file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _candidates() -> list[Path]:
    env = os.environ.get("MACVLAN_SIM_SHARED")
    if env:
        # Either the shared/ folder itself or its pcaps/ subfolder.
        return [Path(env) / "pcaps", Path(env)]
    return [REPO_ROOT.parent / "shared" / "pcaps"]


def find_corpus() -> Path | None:
    for candidate in _candidates():
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


CORPUS = find_corpus()
SKIP_REASON = (
    "shared pcap corpus not found (looked in "
    + ", ".join(str(c) for c in _candidates())
    + "; set MACVLAN_SIM_SHARED to the shared/ folder)"
)
MANIFEST: list[dict[str, Any]] = (
    json.loads((CORPUS / "manifest.json").read_text())["files"] if CORPUS else []
)
BY_NAME = {entry["file"]: entry for entry in MANIFEST}


def corpus_file(name: str) -> Path:
    """Path of one corpus file; skips the calling test if the corpus is absent."""
    if CORPUS is None:
        pytest.skip(SKIP_REASON)
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{name} not in the shared corpus at {CORPUS}")
    return path


def entry(name: str) -> dict[str, Any]:
    corpus_file(name)
    return BY_NAME[name]


def manifest_params(predicate: Any = None) -> list[Any]:
    """``pytest.param`` per manifest entry (id = file name), or one skipped param."""
    if CORPUS is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON), id="no-corpus")]
    return [pytest.param(e, id=e["file"]) for e in MANIFEST if predicate is None or predicate(e)]
