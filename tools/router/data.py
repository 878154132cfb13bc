"""Routing tables: per prompt, how well each model did, and what each model costs.

Sources: RouteLLM CSVs (``prompt`` plus one True/False column per model; a file
or a folder of them), a generic JSONL ``{"prompt", "scores": {model: score},
"costs": {model: cost}}``, and the outcomes NeuroForge recorded itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
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
    "table_from_records",
]

_BOOL = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}


class RoutingDataError(ValueError):
    """A routing table is empty, malformed or unusable; the message names the problem."""


@dataclass(frozen=True)
class RoutingTable:
    """``quality[i, m]`` in [0, 1] (NaN: not observed) and ``costs[i, m]``, each prompt's
    own cost per model (a model's mean where the table gives one price per model)."""

    prompts: list[str]
    models: list[str]
    quality: np.ndarray
    costs: np.ndarray
    source: str
    cost_unit: str = "relative"

    def subset(self, rows: list[int] | np.ndarray) -> RoutingTable:
        """The table restricted to ``rows``."""
        index = np.asarray(rows, dtype=int)
        return RoutingTable([self.prompts[i] for i in index], self.models, self.quality[index],
                            self.costs[index], self.source, self.cost_unit)

    @property
    def model_costs(self) -> np.ndarray:
        """Each model's mean cost per prompt, in the table's own unit."""
        return np.asarray(self.costs.mean(axis=0), dtype=np.float64)

    @property
    def cost_scale(self) -> float:
        """The most expensive model's mean cost: dividing by it makes costs unit-free."""
        top = float(self.model_costs.max())
        return top if top > 0 else 1.0

    def fingerprint(self) -> str:
        """A short content hash: which table (rows, scores and costs) made a router."""
        digest = hashlib.sha256("\x1e".join(self.prompts + self.models).encode("utf-8"))
        digest.update(np.nan_to_num(self.quality, nan=-1.0).tobytes())
        digest.update(self.costs.tobytes())
        return digest.hexdigest()[:16]


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
    # costlier one. Costs are the models' accuracy ranks scaled to [0, 1], per row.
    order = np.argsort(np.argsort(np.nanmean(quality, axis=0)))
    return np.tile(order / max(len(order) - 1, 1), (len(quality), 1)).astype(np.float64)


def _check_score(value: float, where: str, model: str) -> float:
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise RoutingDataError(f"{where}: score for {model!r} is {value!r}; scores must be "
                               "in [0, 1] (rescale the column, e.g. divide a 1-10 grade by 10)")
    return value


def _check_cost(value: float, where: str, model: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise RoutingDataError(f"{where}: cost for {model!r} is {value!r}; costs must be "
                               "finite and not negative")
    return value


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
    dropped = 0
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
                dropped += 1
                continue
            values = []
            for model in columns:
                raw = (record.get(model) or "").strip().lower()
                if raw not in _BOOL:
                    try:
                        number_value = float(raw) if raw else None
                    except ValueError:
                        raise RoutingDataError(
                            f"{path}:{number}: score for {model!r} is {record.get(model)!r}, "
                            "not True/False or a number") from None
                    values.append(math.nan if number_value is None else
                                  _check_score(number_value, f"{path}:{number}", model))
                else:
                    values.append(_BOOL[raw])
            prompts.append(record["prompt"])
            rows.append(values)
    quality = np.array(rows, dtype=np.float64).reshape(len(rows), len(models or []))
    if dropped and not prompts:
        raise RoutingDataError(f"{source}: no rows left after dropping {dropped} contaminated "
                               "prompts (contaminated_prompts.jsonl lists every one)")
    _check(prompts, models or [], quality, source)
    return RoutingTable(prompts, models or [], quality, _default_costs(quality), source)


def _cost_matrix(models: list[str], costs: list[dict[str, float]], source: str
                 ) -> np.ndarray | None:
    """Per-row costs; a row without a model's cost takes that model's mean cost."""
    given = {m: [row[m] for row in costs if m in row] for m in models}
    missing = [m for m in models if not given[m]]
    if len(missing) == len(models):
        return None
    if missing:
        raise RoutingDataError(f"{source}: costs are given for some models but never for "
                               f"{', '.join(missing)}; give every model a cost or none")
    means = {m: float(np.mean(given[m])) for m in models}
    return np.array([[row.get(m, means[m]) for m in models] for row in costs],
                    dtype=np.float64).reshape(len(costs), len(models))


def _load_jsonl(path: Path) -> RoutingTable:
    prompts: list[str] = []
    scores: list[dict[str, float]] = []
    costs: list[dict[str, float]] = []
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
        row_costs = row.get("costs") or {}
        if not isinstance(row_costs, dict) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in row_costs.values()):
            raise RoutingDataError(f"{path}:{number}: costs must map model names to numbers")
        where = f"{path}:{number}"
        prompts.append(str(prompt))
        scores.append({m: _check_score(float(v), where, m) for m, v in row_scores.items()})
        costs.append({m: _check_cost(float(v), where, m) for m, v in row_costs.items()})
    models = sorted({m for row in scores for m in row})
    quality = np.array([[row.get(m, math.nan) for m in models] for row in scores],
                       dtype=np.float64).reshape(len(scores), len(models))
    _check(prompts, models, quality, str(path))
    matrix = _cost_matrix(models, costs, str(path))
    if matrix is None:
        return RoutingTable(prompts, models, quality, _default_costs(quality), str(path))
    return RoutingTable(prompts, models, quality, matrix, str(path), "as given")


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
    if all(costs[m] for m in models):
        model_costs = np.tile([np.mean(costs[m]) for m in models], (len(prompts), 1))
        return RoutingTable(prompts, models, quality, model_costs.astype(np.float64),
                            "recorded outcomes", "as recorded")
    return RoutingTable(prompts, models, quality, _default_costs(quality), "recorded outcomes")
