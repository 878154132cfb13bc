"""Settings the autopilot changed, kept as a small JSON file beside the store.

Each change is an autopilot action with its own before/after in the store, so the file
only holds the values in force.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_ROUTER_THRESHOLD", "read_overrides", "router_threshold", "set_override"]

DEFAULT_ROUTER_THRESHOLD = 0.35


def read_overrides(path: Path) -> dict[str, Any]:
    """The overrides in force; empty when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def set_override(path: Path, key: str, value: Any) -> None:
    """Set one override, atomically: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**read_overrides(path), key: value}, indent=2))
    tmp.replace(path)


def router_threshold(path: Path) -> float:
    """The neural router's confidence threshold in force (override or default)."""
    value = read_overrides(path).get("router_threshold", DEFAULT_ROUTER_THRESHOLD)
    return float(value) if isinstance(value, int | float) else DEFAULT_ROUTER_THRESHOLD
