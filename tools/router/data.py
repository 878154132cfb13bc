"""Routing tables: per prompt, how well each model did, and what each model costs.

Sources: RouteLLM CSVs (``prompt`` plus one True/False column per model; a file
or a folder of them), a generic JSONL ``{"prompt", "scores": {model: score},
"costs": {model: cost}}``, and the outcomes NeuroForge recorded itself.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import RoutingOutcome

__all__ = [
    "RoutingDataError",
    "RoutingTable",
    "load_table",
    "split_table",
    "table_from_records",
]

_BOOL = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}


class RoutingDataError(ValueError):
    """A routing table is empty, malformed or unusable; the message names the problem."""


@dataclass(frozen=True)
class RoutingTable:
    """``quality[i, m]`` in [0, 1] (NaN: not observed) and ``costs[m]`` per model."""

    prompts: list[str]
    models: list[str]
    quality: np.ndarray
    costs: np.ndarray
    source: str

    def subset(self, rows: list[int] | np.ndarray) -> RoutingTable:
        """The table restricted to ``rows``."""
        index = np.asarray(rows, dtype=int)
        return RoutingTable([self.prompts[i] for i in index], self.models, self.quality[index],
                            self.costs, self.source)


def _check(prompts: list[str], models: list[str], quality: np.ndarray, source: str) -> None:
    if not prompts:
        raise RoutingDataError(f"{source}: no rows to learn from")
    if len(models) < 2:
        raise RoutingDataError(
            f"{source}: needs outcomes for at least two models to route between, "
            f"found {len(models)} ({', '.join(models) or 'none'})"
        )
    if np.isnan(quality).all(axis=0).any():
        empty = [m for m, col in zip(models, quality.T, strict=True) if np.isnan(col).all()]
        raise RoutingDataError(f"{source}: no scores at all for {', '.join(empty)}")


def _default_costs(quality: np.ndarray) -> np.ndarray:
    # RouteLLM tables carry no prices: as RouteLLM does, the stronger model is the
    # costlier one. Costs are the models' accuracy ranks scaled to [0, 1].
    order = np.argsort(np.argsort(np.nanmean(quality, axis=0)))
    return order / max(len(order) - 1, 1)


def _contaminated(path: Path) -> set[str]:
    for folder in (path.parent, path.parent.parent):
        listed = folder / "contaminated_prompts.jsonl"
        if listed.is_file():
            lines = listed.read_text(encoding="utf-8").splitlines()
            return {json.loads(line)["eval_prompt"] for line in lines if line.strip()}
    return set()


def _read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    csv.field_size_limit(1 << 30)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            return list(reader.fieldnames or []), list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RoutingDataError(f"cannot read {path}: {exc}") from exc


def _load_routellm(paths: list[Path], source: str, drop_contaminated: bool) -> RoutingTable:
    prompts: list[str] = []
    rows: list[list[float]] = []
    models: list[str] | None = None
    for path in paths:
        fields, records = _read_csv_rows(path)
        if "prompt" not in fields:
            raise RoutingDataError(f"{path}: missing the 'prompt' column (found {fields[:6]})")
        columns = [f for f in fields if f != "prompt" and not f.endswith("_response")]
        if models is None:
            models = columns
        elif columns != models:
            raise RoutingDataError(f"{path}: model columns {columns} differ from {models}")
        skip = _contaminated(path) if drop_contaminated else set()
        for number, record in enumerate(records, 2):
            if record["prompt"] in skip:
                continue
            values = []
            for model in columns:
                raw = (record.get(model) or "").strip().lower()
                if raw not in _BOOL:
                    try:
                        values.append(min(max(float(raw), 0.0), 1.0) if raw else math.nan)
                    except ValueError:
                        raise RoutingDataError(
                            f"{path}:{number}: score for {model!r} is {record.get(model)!r}, "
                            "not True/False or a number") from None
                else:
                    values.append(_BOOL[raw])
            prompts.append(record["prompt"])
            rows.append(values)
    quality = np.array(rows, dtype=np.float64).reshape(len(rows), len(models or []))
    _check(prompts, models or [], quality, source)
    return RoutingTable(prompts, models or [], quality, _default_costs(quality), source)


def _load_jsonl(path: Path) -> RoutingTable:
    prompts, scores, costs = [], [], defaultdict(list)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutingDataError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, row_scores = row["prompt"], row["scores"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise RoutingDataError(f"{path}:{number}: needs {{\"prompt\", \"scores\"}} ({exc})"
                                   ) from None
        numeric = isinstance(row_scores, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in row_scores.values())
        if not numeric:
            raise RoutingDataError(f"{path}:{number}: scores must map model names to numbers")
        prompts.append(str(prompt))
        scores.append(row_scores)
        for model, cost in (row.get("costs") or {}).items():
            costs[model].append(float(cost))
    models = sorted({m for row in scores for m in row})
    quality = np.array([[row.get(m, math.nan) for m in models] for row in scores],
                       dtype=np.float64).reshape(len(scores), len(models))
    _check(prompts, models, quality, str(path))
    cost = (np.array([np.mean(costs[m]) for m in models]) if all(costs[m] for m in models)
            else _default_costs(quality))
    return RoutingTable(prompts, models, np.clip(quality, 0, 1), cost, str(path))


def load_table(path: str | Path, *, drop_contaminated: bool = True) -> RoutingTable:
    """A routing table from a RouteLLM CSV (file or folder) or a JSONL file."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise RoutingDataError(f"{path}: no CSV files in this folder")
        return _load_routellm(files, str(path), drop_contaminated)
    if not path.is_file():
        raise RoutingDataError(f"routing data not found: {path}")
    if path.suffix == ".jsonl":
        return _load_jsonl(path)
    if path.suffix == ".csv":
        return _load_routellm([path], str(path), drop_contaminated)
    raise RoutingDataError(f"{path}: expected a .csv, a .jsonl or a folder of CSVs")


def table_from_records(session: Session, min_models: int = 2) -> RoutingTable:
    """Recorded routing outcomes as a table (mean quality per task and model)."""
    rows = session.execute(select(RoutingOutcome.task, RoutingOutcome.model,
                                  RoutingOutcome.quality, RoutingOutcome.cost)).all()
    by_task: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    costs: dict[str, list[float]] = defaultdict(list)
    for task, model, score, cost in rows:
        by_task[task][model].append(score)
        if cost is not None:
            costs[model].append(cost)
    models = sorted({m for per in by_task.values() for m in per})
    if len(models) < min_models:
        raise RoutingDataError(
            f"recorded outcomes cover {len(models)} model(s); routing needs {min_models}. "
            "Run `neuroforge route TASK --execute` with different models first.")
    prompts = sorted(by_task)
    quality = np.array([[np.mean(by_task[p][m]) if by_task[p].get(m) else math.nan
                         for m in models] for p in prompts], dtype=np.float64)
    _check(prompts, models, quality, "recorded outcomes")
    model_costs = (np.array([np.mean(costs[m]) for m in models])
                   if all(costs[m] for m in models) else _default_costs(quality))
    return RoutingTable(prompts, models, quality, model_costs, "recorded outcomes")


def split_table(table: RoutingTable, held_out: float = 0.3, seed: int = 0
                ) -> tuple[RoutingTable, RoutingTable]:
    """(train, held-out) with a fixed seed."""
    if not 0 < held_out < 1:
        raise ValueError("held_out must be between 0 and 1")
    order = list(range(len(table.prompts)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(round(len(order) * held_out)))
    if cut >= len(order):
        raise RoutingDataError(f"{table.source}: too few rows ({len(order)}) to hold some out")
    return table.subset(sorted(order[cut:])), table.subset(sorted(order[:cut]))
