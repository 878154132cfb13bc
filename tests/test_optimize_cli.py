import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from neuroforge import wiring
from neuroforge.cli import app
from neuroforge.graphs.optimize import create_optimize_graph
from neuroforge.graphs.paused_time import PAUSED_KEY, paused_seconds, working_clock
from neuroforge.settings import load_settings
from tests.optimize_world import world

runner = CliRunner()

# Sessions and resumable runs live in the LangGraph checkpointer, which follows the store:
# a SQLite file, then PostgreSQL (PostgresSaver in the same database).
pytestmark = pytest.mark.usefixtures("store_url")


@pytest.fixture(autouse=True)
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    factory, _ = world()
    monkeypatch.setattr(wiring, "model_factory", lambda settings: factory)


def test_optimize_json_has_the_promised_fields() -> None:
    result = runner.invoke(app, ["optimize", "Summarize the text.", "--generations", "2",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("run_id", "original", "optimized", "original_score", "optimized_score",
                "votes", "consensus", "generations", "calls_used", "seconds"):
        assert key in data
    assert data["optimized"] == "Summarize the text in three bullet points."
    lineage = runner.invoke(app, ["lineage", data["run_id"]])
    assert lineage.exit_code == 0 and "FINAL" in lineage.stdout
    mermaid = runner.invoke(app, ["lineage", data["run_id"], "--mermaid"])
    assert mermaid.stdout.startswith("graph TD") and "-->" in mermaid.stdout
    runs = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)["runs"]
    assert runs[0]["id"] == data["run_id"] and runs[0]["status"] == "succeeded"


def test_text_output_shows_progress_votes_and_lineage_hint() -> None:
    result = runner.invoke(app, ["optimize", "Summarize the text.", "--generations", "1"])
    assert result.exit_code == 0, result.output
    for expected in ("analyst/clarity", "consensus", "optimized prompt", "validator-1",
                     "neuroforge lineage", "not measurements", "--task FILE"):
        assert expected in result.output


def test_prompt_from_stdin() -> None:
    result = runner.invoke(app, ["optimize", "-", "--generations", "1", "--json"],
                           input="Summarize the text.\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["original"] == "Summarize the text."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimize", ""], "prompt is empty"),
        (["optimize", "x" * 4001], "limit is 4000"),
        (["optimize", "ok", "--task", "/nonexistent/task.jsonl"], "task file not found"),
        (["optimize", "ok", "--vote-rule", "dictator"], "vote rule"),
        (["optimize", "ok", "--budget", "5"], "budget"),
        (["optimize", "ok", "--knn-seed"], "leave out --knn-seed"),
        (["lineage", "nope"], "no run 'nope'"),
        (["optimize", "--resume", "nope"], "no optimization run 'nope'"),
    ],
)
def test_bad_input_is_a_message(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_unreadable_task_file(tmp_path: Path) -> None:
    task = tmp_path / "t.jsonl"
    task.write_text('{"question": "a"}\n')
    result = runner.invoke(app, ["optimize", "ok", "--task", str(task)])
    assert result.exit_code == 2 and "needs fields input/output" in result.output


def test_interrupted_run_resumes_from_its_checkpoint() -> None:
    settings = load_settings()
    factory, _ = world()
    with wiring.checkpointer(settings) as saver:
        graph = create_optimize_graph(wiring.optimize_deps(settings)).compile(
            checkpointer=saver, interrupt_before=["evolve"])
        config = {"configurable": {"thread_id": "optimize-halfway"}}
        graph.invoke({"prompt": "Summarize the text.", "generations": 2, "run_id": "halfway"},
                     config)
        assert graph.get_state(config).next == ("evolve",)
    result = runner.invoke(app, ["optimize", "--resume", "halfway", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run_id"] == "halfway" and data["generations"] == 2
    # Resuming a finished run just prints its result again.
    again = runner.invoke(app, ["optimize", "--resume", "halfway", "--json"])
    assert json.loads(again.stdout)["optimized"] == data["optimized"]


@pytest.mark.parametrize("stop_after", ["prepare", "analyse", "propose", "vote", "tally"])
def test_resume_after_an_interrupt_at_any_step(stop_after: str) -> None:
    """Ctrl-C lands after a step (parallel fan-outs included); --resume finishes the run."""
    settings = load_settings()
    config = {"configurable": {"thread_id": f"optimize-cut-{stop_after}"}}
    with wiring.checkpointer(settings) as saver:
        graph = create_optimize_graph(wiring.optimize_deps(settings)).compile(
            checkpointer=saver)
        with pytest.raises(KeyboardInterrupt):
            for update in graph.stream({"prompt": "Summarize the text.", "generations": 2,
                                        "run_id": f"cut-{stop_after}"}, config,
                                       stream_mode="updates"):
                if stop_after in update:
                    raise KeyboardInterrupt
    result = runner.invoke(app, ["optimize", "--resume", f"cut-{stop_after}", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run_id"] == f"cut-{stop_after}" and data["stop_reason"]


def test_resume_refuses_an_unknown_run() -> None:
    result = runner.invoke(app, ["optimize", "--resume", "no-such-run"])
    assert result.exit_code == 2 and "no optimization run 'no-such-run'" in result.output


def test_json_mode_shows_progress_on_stderr_only() -> None:
    result = runner.invoke(app, ["optimize", "Summarize the text.", "--generations", "1",
                                 "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["run_id"]  # stdout is exactly one JSON object
    assert "analyst/clarity" in result.stderr and "consensus" in result.stderr


def test_the_printed_winner_is_always_the_final_prompt() -> None:
    import io

    from rich.console import Console

    from neuroforge.cli.optimize import render_result

    vote = {"candidate_id": "c1", "voter": "validator-1", "round": 0, "decision": "accept",
            "score": 8.0, "rationale": "clearer"}
    result = {"optimized": "Write three facts about dogs.", "optimized_id": "c1",
              "score_kind": "validator score (0-1)", "original_score": 0.5,
              "optimized_score": 0.8, "changed": True, "votes": [vote],
              "consensus": {"rule": "majority", "winner": "c2", "reason": "c2 wins (3/3)"},
              "stop_reason": "generation limit", "generations": 2, "calls_used": 40,
              "seconds": 1.0, "run_id": "r"}
    out = io.StringIO()
    render_result(Console(file=out, width=120), result)
    text = out.getvalue()
    assert "c2 wins" not in text and "final prompt c1" in text
    assert "candidate" in text and "c1" in text.split("candidate", 1)[1]


def test_with_a_task_the_vote_table_says_the_votes_did_not_choose() -> None:
    """A kept original rejected by every validator reads as a contradiction unless the
    table says what votes do with a task; the generation tells repeated rows apart."""
    import io

    from rich.console import Console

    from neuroforge.cli.optimize import render_result

    votes = [{"candidate_id": "c0", "voter": "validator-1", "round": 0, "generation": g,
              "decision": "reject", "score": 0.0, "rationale": "no"} for g in (1, 2)]
    result = {"optimized": "Count the fruits.", "optimized_id": "c0",
              "score_kind": "dev accuracy", "original_score": 0.16, "optimized_score": 0.16,
              "changed": False, "votes": votes,
              "guard": {"adopted": False, "reason": "no candidate beat the original on dev"},
              "stop_reason": "generation limit", "generations": 2, "calls_used": 200,
              "seconds": 1.0, "run_id": "r"}
    out = io.StringIO()
    render_result(Console(file=out, width=200), result)
    text = out.getvalue()
    assert "validator votes on the final prompt c0" in text
    assert "votes only veto" in text and "gen" in text
    rows = [line for line in text.splitlines() if "validator-1" in line]
    assert [row.split("│")[3].strip() for row in rows] == ["1", "2"]


def test_a_task_run_says_the_budget_it_needs(tmp_path: Path) -> None:
    task = tmp_path / "words.jsonl"
    task.write_text("".join(json.dumps({"input": f"w{i}", "output": f"W{i}"}) + "\n"
                            for i in range(60)))
    result = runner.invoke(app, ["optimize", "Uppercase the word.", "--task", str(task),
                                 "--budget", "60"])
    assert result.exit_code == 2 and "cannot pay for one generation" in result.output
    assert "needs at least" in result.output and "dev examples per candidate" in result.output


def test_ctrl_c_prints_the_resume_command_with_the_id_and_marks_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from neuroforge.cli import optimize as optimize_cli

    seen: list[str] = []
    show = optimize_cli._show_progress

    def interrupt_after_analysis(_console, update) -> None:
        seen.extend(update)
        if "analyse" in update:
            raise KeyboardInterrupt  # what the SIGINT handler raises in the main thread

    monkeypatch.setattr(optimize_cli, "_show_progress", interrupt_after_analysis)
    result = runner.invoke(app, ["optimize", "Summarize the text.", "--generations", "1"])
    assert result.exit_code == 130
    run_id = result.output.split("--resume ", 1)[1].split("`", 1)[0]
    runs = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)["runs"]
    assert {"id": run_id, "status": "interrupted"}.items() <= next(
        r for r in runs if r["id"] == run_id).items()
    monkeypatch.setattr(optimize_cli, "_show_progress", show)  # no more interrupts
    resumed = runner.invoke(app, ["optimize", "--resume", run_id, "--json"])
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["run_id"] == run_id


def test_export_writes_a_prompt_a_program_can_run_elsewhere(tmp_path: Path) -> None:
    """The target here answers right only after demonstrations, so a seed wins; the
    export says how it is run (static demonstrations, or the pool picked from per input)
    and a plain re-implementation of that recipe reproduces the answers."""
    from langchain_core.messages import AIMessage, HumanMessage

    from tests.optimize_world import target_reply

    task = tmp_path / "words.jsonl"
    task.write_text("".join(json.dumps({"input": f"w{i}x", "output": f"W{i}X"}) + "\n"
                            for i in range(150)))
    out = tmp_path / "exported" / "prompt.json"
    result = runner.invoke(app, ["optimize", "Uppercase the word.", "--task", str(task),
                                 "--generations", "1", "--budget", "400", "--export", str(out),
                                 "--json"])
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    assert exported["mode"] in {"static", "nearest"} and exported["instruction"]
    assert exported["test_accuracy"] == json.loads(result.stdout)["test_optimized"] == 1.0
    demos = (exported["demonstrations"] if exported["mode"] == "static"
             else exported["pool"][: exported["k"]])
    assert demos, "a winning prompt here carries demonstrations"
    messages = []
    for demo in demos:  # the recipe, followed by hand
        messages += [HumanMessage(exported["template"].format(prompt=exported["instruction"],
                                                              input=demo["input"])),
                     AIMessage(demo["output"])]
    messages.append(HumanMessage(exported["template"].format(
        prompt=exported["instruction"], input="zebra")))
    assert target_reply(messages) == "ZEBRA"
    # A finished run resumed writes its result again, with no model call.
    again = tmp_path / "again.json"
    run_id = json.loads(result.stdout)["run_id"]
    resumed = runner.invoke(app, ["optimize", "--resume", run_id, "--export", str(again)])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(again.read_text()) == exported


@pytest.mark.parametrize("where", ["/proc/nope/prompt.json", "a folder", "under a file"])
def test_an_export_path_that_cannot_be_written_is_refused_before_the_run(
        tmp_path: Path, where: str) -> None:
    (tmp_path / "a file").write_text("x")
    path = {"a folder": str(tmp_path), "under a file": str(tmp_path / "a file" / "p.json")
            }.get(where, where)
    task = tmp_path / "words.jsonl"
    task.write_text("".join(json.dumps({"input": f"w{i}x", "output": f"W{i}X"}) + "\n"
                            for i in range(150)))
    result = runner.invoke(app, ["optimize", "Uppercase the word.", "--task", str(task),
                                 "--budget", "400", "--export", path])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    said = "is a folder" if where == "a folder" else "cannot write"
    assert said in result.output
    assert json.loads(runner.invoke(app, ["runs", "--json"]).stdout)["runs"] == []


def test_an_exported_dynamic_prompt_carries_every_labelled_example_of_its_task(
        tmp_path: Path) -> None:
    """The pool a user runs the exported prompt with is the one its test score was
    measured with: train, dev and the confirmation slice; test is never in it."""
    from neuroforge.cli.optimize_export import export_result
    from neuroforge.graphs.optimize import DEV_SIZE
    from neuroforge.knowledge.datasets import load_task
    from neuroforge.tools.nearest_demos import dynamic_prompt

    task = tmp_path / "words.jsonl"
    task.write_text("".join(json.dumps({"input": f"w{i}", "output": f"W{i}"}) + "\n"
                            for i in range(200)))
    out = tmp_path / "prompt.json"
    export_result({"run_id": "r1", "test_optimized": 0.5, "options": {"task": str(task)},
                   "optimized": dynamic_prompt("Upper-case it.", 3)}, out)
    exported, split = json.loads(out.read_text()), load_task(task, dev_size=DEV_SIZE)
    pool = {e["input"] for e in exported["pool"]}
    assert exported["mode"] == "nearest" and exported["k"] == 3
    assert pool == {e.input for e in split.labelled()} and len(pool) == 50 + 2 * DEV_SIZE
    assert pool.isdisjoint(e.input for e in split.test)


def test_a_resumed_run_does_not_count_its_pause_against_its_time_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Resumed an hour after it stopped, a run with a 10-minute limit goes on: the limit
    counts working time. The pause is kept in the checkpoints, so later resumes add to
    it."""
    settings = load_settings()
    config = {"configurable": {"thread_id": "optimize-paused"}}
    with wiring.checkpointer(settings) as saver:
        graph = create_optimize_graph(wiring.optimize_deps(settings)).compile(
            checkpointer=saver, interrupt_before=["evolve"])
        graph.invoke({"prompt": "Summarize the text.", "generations": 3, "time_limit": 600,
                      "run_id": "paused"}, config)
    made_now = wiring.optimize_deps

    def an_hour_later(*args: Any, **kwargs: Any) -> Any:
        deps = made_now(*args, **kwargs)
        deps.clock = lambda: time.time() + 3600
        return deps

    monkeypatch.setattr(wiring, "optimize_deps", an_hour_later)
    result = runner.invoke(app, ["optimize", "--resume", "paused", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stop_reason"] != "time limit reached" and data["generations"] >= 2
    assert data["seconds"] < 600
    with wiring.checkpointer(settings) as saver:
        graph = create_optimize_graph(wiring.optimize_deps(settings)).compile(
            checkpointer=saver)
        assert graph.get_state(config).metadata[PAUSED_KEY] >= 3600


def test_pauses_add_up_over_resumes() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert paused_seconds({PAUSED_KEY: 100.0}, at.isoformat(), at.timestamp() + 50) == 150
    assert paused_seconds({}, None, at.timestamp()) == 0
    # A clock behind the checkpoint (another host) never makes the pause negative.
    assert paused_seconds({PAUSED_KEY: 7.0}, at.isoformat(), at.timestamp() - 9) == 7
    assert working_clock(lambda: 1000.0, 150.0)() == 850.0
