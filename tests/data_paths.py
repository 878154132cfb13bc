"""Where evaluation data lives: the small licensed subset shipped in ``examples/data``,
and the larger public data in ``../shared/data`` beside the project (CI has it; a
user's clone does not, so tests that need it skip with the reason).
"""

from pathlib import Path

import pytest

EXAMPLE_TASKS = Path(__file__).resolve().parents[1] / "examples" / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_TASKS = SHARED_DATA / "tasks"
SHARED_ROUTING = SHARED_DATA / "routing"

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f"the public evaluation data is not beside this clone ({SHARED_DATA}); CI has it",
)
