"""The optimize job end to end on the real embedded model (small settings to stay quick)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuroforge.cli import app

pytestmark = pytest.mark.embedded
runner = CliRunner()


def test_optimize_without_task_on_the_embedded_model() -> None:
    result = runner.invoke(app, [
        "optimize", "Write about dogs.", "--generations", "1", "--population", "2",
        "--voters", "2", "--debate-rounds", "0", "--budget", "60", "--json",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["original"] == "Write about dogs." and data["optimized"].strip()
    assert 0 < data["calls_used"] <= 60 + 3
    assert data["consensus"]["rule"] == "majority"
    assert all(v["voter"].startswith("validator-") for v in data["votes"])
    lineage = runner.invoke(app, ["lineage", data["run_id"]])
    assert lineage.exit_code == 0 and "original" in lineage.stdout


def test_optimize_with_a_task_reports_held_out_accuracy(tmp_path: Path) -> None:
    words = ["cat", "dog", "sun", "car", "hat", "pen", "cup", "box", "bed", "map", "egg", "fox"]
    task = tmp_path / "plural.jsonl"
    task.write_text("".join(json.dumps({"input": w, "output": w + "s"}) + "\n" for w in words))
    result = runner.invoke(app, [
        "optimize", "Write the plural of the word.", "--task", str(task), "--generations", "1",
        "--population", "2", "--voters", "1", "--debate-rounds", "0", "--budget", "80",
        "--json",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["score_kind"] == "dev accuracy"
    assert 0 <= data["test_original"] <= 1 and 0 <= data["test_optimized"] <= 1
    # The final prompt is never worse on dev than the original: the original wins ties.
    assert data["optimized_score"] >= data["original_score"]
