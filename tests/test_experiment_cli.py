"""`neuroforge experiment`: files, bad input, and the example on the embedded model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.knowledge.experiment_spec import ExperimentSpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "antonyms_experiment.yaml"
runner = CliRunner()


def test_yaml_and_toml_files_give_the_same_spec(tmp_path: Path) -> None:
    from_yaml = load_spec(EXAMPLE)
    toml = tmp_path / "same.toml"
    toml.write_text(
        'name = "antonyms-prompts"\nmodels = ["smollm2-135m"]\n'
        'metrics = ["accuracy", "quality", "latency", "tokens", "consistency"]\n'
        "repeats = 2\ntemperature = 0.5\nmax_tokens = 12\ncache = false\nconcurrency = 1\n"
        f'[dataset]\npath = "{from_yaml.dataset.path}"\nlimit = 12\n'
        + "".join(f'[[prompts]]\nkey = "{p.key}"\ncategory = "lexical"\n'
                  f"text = {json.dumps(p.text)}\n" for p in from_yaml.prompts))
    from_toml = load_spec(toml)
    assert from_toml.fingerprint() == from_yaml.fingerprint()
    assert Path(from_yaml.dataset.path).is_file()  # relative to the example's folder


@pytest.mark.parametrize(("text", "suffix", "message"), [
    ("name: [unclosed", ".yaml", "not YAML"),
    ("- just\n- a list\n", ".yaml", "expected a mapping"),
    ("name = ", ".toml", "not TOML"),
    ("name: x\nmodels: [a]\ndataset: {path: d.jsonl}\n", ".yaml", "prompts: Field required"),
    ("name: x\nmodels: []\nprompts: [{text: hi}]\ndataset: {path: d.jsonl}\n", ".yaml",
     "models: List should have at least 1 item"),
    ("name: x\nmodels: [a]\nprompts: [{text: hi, version: v1}]\ndataset: {path: d}\n",
     ".yaml", "either `text` or `version`"),
    ("name: x\nmodels: [a]\nprompts: [{text: hi}]\ndataset: {path: d}\nrepeat: 3\n", ".yaml",
     "repeat: Extra inputs are not permitted"),
    ("name: x", ".json", "use a .yaml, .yml or .toml"),
])
def test_bad_experiment_files_are_explained(tmp_path: Path, text: str, suffix: str,
                                            message: str) -> None:
    path = tmp_path / f"exp{suffix}"
    path.write_text(text)
    with pytest.raises(ExperimentSpecError, match=message.replace("[", r"\[")):
        load_spec(path)
    result = runner.invoke(app, ["experiment", "run", str(path)])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def _spec_file(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["dataset"]["path"] = str(load_spec(EXAMPLE).dataset.path)
    data |= changes
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_models_and_runs_get_clear_messages(tmp_path: Path) -> None:
    result = runner.invoke(app, ["experiment", "run",
                                 str(_spec_file(tmp_path, models=["smollm2-135m", "llama9"]))])
    assert result.exit_code == 2
    assert "unknown model 'llama9'" in result.output and "not reachable" in result.output
    result = runner.invoke(app, ["experiment", "report", "nope", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no experiment run 'nope'" in result.output
    result = runner.invoke(app, ["experiment", "list"])
    assert result.exit_code == 0 and "no experiment runs yet" in result.output


def test_resume_refuses_an_unknown_run_and_starts_nothing(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path)
    result = runner.invoke(app, ["experiment", "run", str(spec), "--resume", "bogus"])
    assert result.exit_code == 2 and "no experiment run 'bogus' to resume" in result.output
    listed = json.loads(runner.invoke(app, ["experiment", "list", "--json"]).stdout)["runs"]
    assert listed == []


def test_missing_dataset_fields_are_explained(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "label": "b"}\n' * 4)
    spec = _spec_file(tmp_path, dataset={"path": str(data), "split": "all"})
    result = runner.invoke(app, ["experiment", "run", str(spec)])
    assert result.exit_code == 2 and "needs fields input/output" in result.output


@pytest.mark.embedded
def test_example_runs_and_reports_on_the_embedded_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["experiment", "run", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stored"] == summary["planned"] == 3 * 12 * 2 and summary["errors"] == 0
    cells = summary["cells"]
    assert set(cells) == {f"{k} @ smollm2-135m" for k in ("human", "terse", "two-shot")}
    for cell in cells.values():
        assert 0 <= cell["accuracy"] <= 1 and cell["accuracy_ci"][0] <= cell["accuracy"]
        assert 0 <= cell["quality"] <= 1 and 0.5 <= cell["consistency"] <= 1
        assert cell["latency_p50_ms"] > 0 and cell["tokens_mean"] > 0
    assert {c["metric"] for c in summary["comparisons"]} == {"accuracy", "quality", "latency"}
    assert summary["routing_outcomes"] == 3 * 12

    listed = json.loads(runner.invoke(app, ["experiment", "list", "--json"]).stdout)["runs"]
    assert listed[0]["run_id"] == summary["run_id"] and listed[0]["cells"] == 72
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["experiment", "report", summary["run_id"], "--out", str(out)])
    assert result.exit_code == 0 and "| cell (prompt @ model)" in result.stdout
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2  # accuracy and latency; no trend yet
    assert "two-shot @ smollm2-135m" in page and "McNemar" in page and "<script" not in page


@pytest.mark.embedded
def test_a_judge_that_is_down_fails_the_run_in_one_line_and_a_resume_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quality judge is the default model: a configured Ollama that is down. Every
    cell fails alike; its error is shown once, the run exits 1 naming the resume
    command, and the resume (the judge back: the embedded model) runs the failed cells."""
    example = yaml.safe_load(EXAMPLE.read_text())
    spec = _spec_file(tmp_path, prompts=example["prompts"][:1], repeats=1,
                      metrics=["accuracy", "quality"],
                      dataset={**example["dataset"], "limit": 3,
                               "path": str(load_spec(EXAMPLE).dataset.path)})
    monkeypatch.setenv("NEUROFORGE_BACKEND", "ollama")
    failed = runner.invoke(app, ["experiment", "run", str(spec)])
    assert failed.exit_code == 1, failed.output
    assert "Traceback" not in failed.output and failed.output.count("cell failed:") == 1
    assert "2 more cells failed" in failed.output and "Ollama is not reachable" in failed.output
    command = failed.output.split("run the failed ones with `")[1].split("`")[0]
    assert command.startswith(f"neuroforge experiment run {spec} --resume ")
    monkeypatch.setenv("NEUROFORGE_BACKEND", "auto")
    resumed = runner.invoke(app, [*command.split()[1:], "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["errors"] == 0 and summary["stored"] == 3
    [cell] = summary["cells"].values()
    assert cell["quality"] is not None


def _stored_cells(data_dir: Path) -> list[tuple[int, str]]:
    path = data_dir / "neuroforge.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        try:
            return db.execute("select id, example_key from experiment_results order by id"
                              ).fetchall()
        except sqlite3.OperationalError:
            return []


@pytest.mark.embedded
def test_killed_run_resumes_without_redoing_cells(tmp_path: Path, isolated_env: Path) -> None:
    spec = _spec_file(tmp_path, metrics=["accuracy", "latency"], repeats=1,
                      dataset={**yaml.safe_load(EXAMPLE.read_text())["dataset"],
                               "path": load_spec(EXAMPLE).dataset.path, "limit": 10})
    command = [sys.executable, "-m", "neuroforge", "experiment", "run", str(spec), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=os.environ.copy())
    deadline = time.monotonic() + 240
    while len(_stored_cells(isolated_env)) < 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _stored_cells(isolated_env)
    assert 8 <= len(before) < 30, "the run should have been cut short"
    listed = json.loads(runner.invoke(app, ["experiment", "list", "--json"]).stdout)["runs"]
    run_id = listed[0]["run_id"]
    assert listed[0]["status"] == "running"
    (tmp_path / "other").mkdir()
    other = _spec_file(tmp_path / "other", repeats=2, metrics=["accuracy"],
                       dataset=yaml.safe_load(spec.read_text())["dataset"])
    foreign = runner.invoke(app, ["experiment", "run", str(other), "--resume", run_id])
    assert foreign.exit_code == 2 and "different experiment file" in foreign.output
    result = runner.invoke(app, ["experiment", "run", str(spec), "--resume", run_id, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["run_id"] == run_id and summary["stored"] == 30
    after = _stored_cells(isolated_env)
    assert after[:len(before)] == before  # finished cells were kept, not redone


@pytest.mark.embedded
def test_ctrl_c_stops_within_seconds_and_the_run_resumes(tmp_path: Path,
                                                         isolated_env: Path) -> None:
    spec = _spec_file(tmp_path, metrics=["accuracy", "latency"], repeats=1,
                      dataset={**yaml.safe_load(EXAMPLE.read_text())["dataset"],
                               "path": load_spec(EXAMPLE).dataset.path, "limit": 10})
    command = [sys.executable, "-m", "neuroforge", "experiment", "run", str(spec), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ.copy())
    deadline = time.monotonic() + 240
    while len(_stored_cells(isolated_env)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    pressed = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - pressed < 20, "Ctrl-C must stop the run within seconds"
    assert process.returncode == 130, stderr
    listed = json.loads(runner.invoke(app, ["experiment", "list", "--json"]).stdout)["runs"]
    run_id = listed[0]["run_id"]
    assert listed[0]["status"] == "interrupted"
    assert "stopping" in stderr and f"--resume {run_id}" in stderr and "Traceback" not in stderr
    assert len(_stored_cells(isolated_env)) < 30, "the run should have been cut short"
    result = runner.invoke(app, ["experiment", "run", str(spec), "--resume", run_id, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stored"] == 30
