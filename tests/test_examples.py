"""Every programmatic example runs on the embedded model, and the README shows it verbatim."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*_programmatic.py"))
EXPECTED = {"optimize": "optimized:", "route": "chosen: smollm2-135m", "chat": "ai> ",
            "experiment": "best: {'cell'",
            "autopilot": "proposed: []"}


def test_the_readme_shows_every_example_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    assert {p.name.split("_")[0] for p in EXAMPLES} == set(EXPECTED)
    for path in EXAMPLES:
        body = path.read_text().split('"""', 2)[2].strip()  # the code after the docstring
        assert body in readme, f"README is out of date with {path.name}"


@pytest.mark.embedded
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path: Path) -> None:
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    assert EXPECTED[path.name.split("_")[0]] in done.stdout
