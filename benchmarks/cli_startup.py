"""Cold start of the console script: ``neuroforge --help`` wall time, fresh processes."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNS = 10


def _command() -> list[str]:
    script = Path(sys.executable).parent / "neuroforge"
    return [str(script) if script.exists() else shutil.which("neuroforge") or "neuroforge",
            "--help"]


def run() -> dict[str, Any]:
    command = _command()
    subprocess.run(command, capture_output=True, check=True)  # warm the OS file cache
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return {
        "command": "neuroforge --help",
        "runs": RUNS,
        "seconds_median": round(statistics.median(times), 3),
        "seconds_max": round(max(times), 3),
        "target_seconds": 1.0,
        "meets_target": statistics.median(times) < 1.0,
    }
