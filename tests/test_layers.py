"""The layer contract (pyproject's ``[tool.importlinter]``): imports only go downwards."""

from __future__ import annotations

import os
from pathlib import Path

from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parent.parent


def test_layers_contract_is_kept(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert lint_imports(config_filename=os.fspath(REPO / "pyproject.toml")) == 0


def test_public_names_come_from_the_package_root() -> None:
    import macvlan_sim

    for name in ("Engine", "load_topology", "open_capture", "Scenario", "FrameOutcome"):
        assert hasattr(macvlan_sim, name), name
