"""Where the shared evaluation data lives (``../shared/data`` beside the project)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_TASKS = SHARED_DATA / "tasks"
SHARED_ROUTING = SHARED_DATA / "routing"

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared evaluation data not found at {SHARED_DATA}"
)
