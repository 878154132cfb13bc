"""Run benchmarks and write their JSON results."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from benchmarks import __all__ as ALL
from benchmarks.machine import machine, measured_at

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str]) -> int:
    names = argv or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(ALL)}",
              file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        started = time.perf_counter()
        result = importlib.import_module(f"benchmarks.{name}").run()
        result["benchmark"] = name
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
        result["machine"] = machine()
        result["measured_at"] = measured_at()
        text = json.dumps(result, indent=2)
        (RESULTS / f"{name}.json").write_text(text + "\n")
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
