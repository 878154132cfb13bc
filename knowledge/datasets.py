"""Labelled task files: JSONL ``{input, output}``, BIG-Bench Hard, instruction induction, GSM8K.

``load_task`` returns examples split into train (demonstrations may be drawn
from it), dev (scores candidates while optimizing) and test (held out, only
for the final report). Instruction-induction tasks keep their own split: the
``raw/induce`` file feeds train/dev and the matching ``raw/execute`` file is test.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Example", "TaskData", "TaskFileError", "human_instructions", "load_task"]

MAX_TASK_BYTES = 50_000_000


class TaskFileError(ValueError):
    """A task file is missing, unreadable or not in a known format; the message says which."""


@dataclass(frozen=True)
class Example:
    """One labelled example."""

    input: str
    output: str


@dataclass(frozen=True)
class TaskData:
    """A task's examples, split three ways, plus ``confirm``: a second dev slice (what the
    pool has left after train, at most as large as dev, often empty) on which a dev
    leader is checked again, free of the selection that made it the leader."""

    name: str
    source: str
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    meta: dict[str, Any] = field(default_factory=dict)
    confirm: list[Example] = field(default_factory=list)

    def labelled(self) -> list[Example]:
        """Every example a run may learn from once its search is over: train, dev and the
        confirmation slice (never test)."""
        return [*self.train, *self.dev, *self.confirm]


# Instruction-induction tasks that name their fields differently.
_FIELD_PAIRS = (("input", "output"), ("input", "target"))


def _cause_and_effect(cause: str, effect: str) -> Example:
    """Instruction induction's cause_and_effect: both sentences in, the cause out. The
    order is fixed per pair (a checksum of the text) yet mixed across pairs, so the
    cause is not simply the first sentence."""
    first, second = ((cause, effect) if zlib.crc32(f"{cause}|{effect}".encode()) % 2
                     else (effect, cause))
    return Example(f"Sentence 1: {first} Sentence 2: {second}", cause)


def _example(raw: Any, where: str) -> Example:
    if not isinstance(raw, dict):
        raise TaskFileError(f"{where}: expected an object, got {type(raw).__name__}")
    for key_in, key_out in _FIELD_PAIRS:
        if key_in in raw and key_out in raw:
            return Example(str(raw[key_in]).strip(), str(raw[key_out]).strip())
    if "cause" in raw and "effect" in raw:
        return _cause_and_effect(str(raw["cause"]).strip(), str(raw["effect"]).strip())
    if "question" in raw and "answer" in raw:  # GSM8K: the final answer follows "####"
        return Example(str(raw["question"]).strip(),
                       str(raw["answer"]).rsplit("####", 1)[-1].strip().replace(",", ""))
    if "items" in raw and "concept" in raw:  # common_concept
        return Example(", ".join(map(str, raw["items"])), str(raw["concept"]).strip())
    raise TaskFileError(
        f"{where}: needs fields input/output (or input/target, question/answer); "
        f"found {sorted(raw)[:6]}"
    )


def _read(path: Path) -> str:
    if not path.is_file():
        raise TaskFileError(f"task file not found: {path}")
    if path.stat().st_size > MAX_TASK_BYTES:
        raise TaskFileError(f"task file {path} is larger than {MAX_TASK_BYTES // 1_000_000} MB")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(f"cannot read {path}: {exc}") from exc


def _parse(path: Path) -> list[Example]:
    text = _read(path)
    if path.suffix == ".jsonl":
        examples = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskFileError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            examples.append(_example(raw, f"{path}:{number}"))
        return examples
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    items: Any = data.get("examples") if isinstance(data, dict) else data
    if isinstance(items, dict):  # instruction induction: {"1": {...}, "2": {...}}
        items = [items[k] for k in sorted(items, key=lambda k: int(k) if k.isdigit() else k)]
    if not isinstance(items, list):
        raise TaskFileError(f"{path}: expected a list of examples or {{\"examples\": ...}}")
    return [_example(raw, f"{path} example {i}") for i, raw in enumerate(items, 1)]


def load_task(
    path: str | Path,
    *,
    seed: int = 0,
    dev_size: int = 20,
    test_size: int = 50,
    train_size: int = 50,
) -> TaskData:
    """Load and split a task file; raises ``TaskFileError`` with a readable reason."""
    path = Path(path).expanduser()
    examples = _parse(path)
    if not examples:
        raise TaskFileError(f"{path} has no examples")
    rng = random.Random(seed)
    execute = path.parent.parent / "execute" / path.name
    if path.parent.name == "induce" and execute.is_file():
        pool, test = examples[:], _parse(execute)
        rng.shuffle(pool)
        rng.shuffle(test)
        test = test[:test_size]
    else:
        pool = examples[:]
        rng.shuffle(pool)
        if len(pool) < 3:
            counted = f"{len(pool)} example" + ("" if len(pool) == 1 else "s")
            raise TaskFileError(f"{path} has {counted}; at least 3 are needed")
        cut = max(1, min(test_size, len(pool) // 3))
        test, pool = pool[:cut], pool[cut:]
    dev_cut = max(1, min(dev_size, len(pool) // 2))
    dev, train = pool[:dev_cut], pool[dev_cut:][:train_size]
    confirm = pool[dev_cut + len(train):][:dev_cut]
    return TaskData(path.stem, str(path), train, dev, test, {"total_examples": len(examples)},
                    confirm)


def human_instructions(task_path: str | Path) -> list[str]:
    """Human-written instructions for an instruction-induction task (``annotations/``)."""
    path = Path(task_path).expanduser()
    annotations = path.parent.parent.parent / "annotations" / path.name
    if not annotations.is_file():
        return []
    data = json.loads(annotations.read_text(encoding="utf-8"))
    return [str(a).strip() for a in data.get("annotations", []) if str(a).strip()]
