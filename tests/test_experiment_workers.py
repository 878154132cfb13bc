"""Several worker processes on one experiment queue, on SQLite and on PostgreSQL: every
cell stored once, a SIGKILLed worker's cells taken over, nothing run twice but the one
call the kill interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from neuroforge.knowledge.cell_queue import queue_counts
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import ExperimentCell, ExperimentResult
from tests.queue_worker import matrix_spec, spawn

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(check, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_killed_worker_loses_no_cell_and_none_is_stored_twice(tmp_path: Path,
                                                              store_url: str) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(matrix_spec(tmp_path / "d.jsonl", 3, 2, 50)))
    calls = tmp_path / "calls.log"
    db = open_database(store_url)
    # The starter is slow (50 ms a cell, 15 s alone), so the joiners, which take a few
    # seconds to start on a loaded machine, still find most of the queue.
    starter = spawn("start", store_url, "multi", calls, "--spec", str(spec_file), delay=0.05)

    def planned() -> bool:
        with db.session() as session:
            return queue_counts(session, "multi").total == 300
    _wait_for(planned)
    victim = spawn("join", store_url, "multi", calls)
    helper = spawn("join", store_url, "multi", calls)
    _wait_for(lambda: sum(line.startswith(f"{victim.pid}\t") for line in _lines(calls)) >= 10)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out, err = starter.communicate(timeout=300)
    assert starter.returncode == 0, err
    helper_out, helper_err = helper.communicate(timeout=120)
    assert helper.returncode == 0, helper_err
    assert json.loads(out)["stored"] == 300
    with db.session() as session:
        results = session.scalar(select(func.count()).select_from(ExperimentResult)
                                 .where(ExperimentResult.run_id == "multi"))
        states = Counter(session.scalars(select(ExperimentCell.state)
                                         .where(ExperimentCell.run_id == "multi")).all())
    assert results == 300 and states == {"done": 300}
    log = [line.split("\t") for line in _lines(calls)]
    by_pid = Counter(pid for pid, _ in log)
    assert by_pid[str(victim.pid)] >= 10 and by_pid[str(helper.pid)] > 0
    assert by_pid[str(starter.pid)] > 0  # all three worked
    # Each cell is (prompt, model, input); inputs repeat over prompts and models, so count
    # calls: at most the one the kill cut short was made twice.
    assert 300 <= len(log) <= 301


def test_work_names_a_missing_run_in_one_line(store_url: str) -> None:
    from typer.testing import CliRunner

    from neuroforge.cli import app

    result = CliRunner().invoke(app, ["experiment", "work", "nope"])
    assert result.exit_code == 2 and "no experiment run 'nope'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.embedded
@pytest.mark.server
def test_experiment_work_joins_a_run_on_postgresql(tmp_path: Path, postgres_server,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hosts in miniature: separate data directories, one PostgreSQL store; the
    embedded model answers on both."""
    import yaml

    from neuroforge.knowledge.experiment_spec import load_spec

    example = ROOT / "examples" / "antonyms_experiment.yaml"
    data = yaml.safe_load(example.read_text())
    data["dataset"]["path"] = str(load_spec(example).dataset.path)
    data |= {"metrics": ["accuracy", "latency"], "repeats": 1}
    data["dataset"]["limit"] = 12
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(data))
    url = postgres_server.new_database()
    host_a = {**os.environ, "NEUROFORGE_DATABASE_URL": url,
              "NEUROFORGE_DATA_DIR": str(tmp_path / "a")}
    host_b = {**host_a, "NEUROFORGE_DATA_DIR": str(tmp_path / "b")}
    starter = subprocess.Popen([sys.executable, "-m", "neuroforge", "experiment", "run",
                                str(spec), "--json"], env=host_a, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = open_database(url)

    def planned() -> bool:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(ExperimentCell)) == 36
    _wait_for(planned, 240)
    with db.session() as session:
        run_id = session.scalars(select(ExperimentCell.run_id)).first()
    joined = subprocess.run([sys.executable, "-m", "neuroforge", "experiment", "work",
                             str(run_id), "--json"], env=host_b, text=True,
                            capture_output=True, timeout=600)
    assert joined.returncode == 0, joined.stderr
    out, err = starter.communicate(timeout=600)
    assert starter.returncode == 0, err
    summary, worked = json.loads(out), json.loads(joined.stdout)
    assert summary["stored"] == 36 and worked["worked"] > 0
    assert worked["queue"] == {"todo": 0, "claimed": 0, "done": 36}
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ExperimentResult)) == 36


def test_work_exits_non_zero_when_cells_it_ran_failed(tmp_path: Path, store_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A joined worker whose model fails: every cell is counted failed, the exit is 1 and
    the line names the resume; the cells stay in the store for that resume."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from typer.testing import CliRunner

    from neuroforge.cli import app
    from neuroforge.cli import experiment_work as work_cli
    from neuroforge.graphs.experiment import (
        ExperimentDeps,
        ExperimentStopped,
        create_experiment_graph,
        experiment_config,
    )

    spec = matrix_spec(tmp_path / "d.jsonl", 1, 1, 4)
    db = open_database(store_url)
    # Plan the run, then stop before any cell: the queue is full for the joiner.
    starter = ExperimentDeps(store=db, model_for_name=lambda *_: FakeListChatModel(
        responses=["w1"]))
    starter.stop.set()
    with pytest.raises(ExperimentStopped):
        create_experiment_graph(starter).compile().invoke(
            {"spec": spec, "run_id": "queued"}, experiment_config(spec, "queued"))

    class Down(FakeListChatModel):
        def _call(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise ConnectionError("the model server is down")

    monkeypatch.setattr(work_cli, "unknown_models", lambda *_: [])  # m0 is scripted
    monkeypatch.setattr("neuroforge.wiring.experiment_deps", lambda _s, store: ExperimentDeps(
        store=store, model_for_name=lambda *_: Down(responses=["x"])))
    result = CliRunner().invoke(app, ["experiment", "work", "queued"])
    assert result.exit_code == 1, result.output
    assert "4 of the 4 cells this worker ran failed" in result.output
    assert "a resume of run queued runs them again" in result.output
    assert "Traceback" not in result.output
    with db.session() as session:
        assert queue_counts(session, "queued").done == 4
