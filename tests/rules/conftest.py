"""Shared set-up for the rule tests (helpers live in rulekit.py).

The worktree root goes on sys.path so that ``macvlan_sim`` imports from this checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
