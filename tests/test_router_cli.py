import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuroforge.cli import app

runner = CliRunner()
TOPICS = {
    "math": ["What is {a} plus {b}?", "Compute {a} times {b}.", "Solve {a}x = {b}."],
    "chat": ["Say hi to {a} friends.", "Tell me a joke about {a} cats.", "Greet {b} people."],
}


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """smollm2-135m answers chat well and math badly; llama3.2:3b answers both."""
    rng = random.Random(0)
    rows = []
    for i in range(120):
        topic = "math" if i % 2 else "chat"
        prompt = rng.choice(TOPICS[topic]).format(a=rng.randint(2, 99), b=rng.randint(2, 99))
        small = 1.0 if topic == "chat" and rng.random() < 0.9 else 0.0
        rows.append({"prompt": prompt, "scores": {"smollm2-135m": small, "llama3.2:3b": 1.0},
                     "costs": {"smollm2-135m": 0.0, "llama3.2:3b": 1.0}})
    path = tmp_path / "table.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_json_reports_router_and_baselines(table: Path) -> None:
    result = runner.invoke(app, ["router", "eval", "--data", str(table), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("apgr", "cpt50", "cpt80"):
        assert key in data["router"] and key in data["baselines"]["knn"]
    assert {"random", "oracle", "always_weak", "always_strong"} <= set(data["baselines"])
    assert data["router"]["apgr"] > data["baselines"]["random"]["apgr"]


@pytest.mark.embedded  # the router agent runs on the real embedded model
def test_train_then_route_uses_the_neural_router(table: Path) -> None:
    trained = runner.invoke(app, ["router", "train", "--data", str(table), "--json"])
    assert trained.exit_code == 0, trained.output
    assert Path(json.loads(trained.stdout)["saved_to"]).is_file()
    # Only the embedded model is available here (Ollama is down in tests): the router
    # knows it, so the neural voter decides instead of the rules.
    routed = runner.invoke(app, ["route", "Tell me a joke about 3 cats.", "--json"])
    assert routed.exit_code == 0, routed.output
    neural = next(v for v in json.loads(routed.stdout)["decision"]["votes"]
                  if v["voter"] == "neural")
    assert neural["model"] == "smollm2-135m" and neural["rationale"].startswith(
        ("neural", "fallback: rules (neural confidence"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["router", "eval", "--data", "/nope.csv"], "not found"),
        (["router", "train"], "exactly one of"),
        (["router", "train", "--from-records"], "recorded outcomes cover 0 model"),
        (["route", ""], "the task is empty"),
    ],
)
def test_bad_input_is_a_message(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_one_model_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("prompt,only\nq,True\n")
    result = runner.invoke(app, ["router", "eval", "--data", str(path)])
    assert result.exit_code == 2 and "at least two models" in result.output
