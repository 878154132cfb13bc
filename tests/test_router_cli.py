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
    assert {"random", "oracle", "zero_router", "best_single", "cheapest", "logistic"} <= set(
        data["baselines"])
    assert data["router"]["apgr"] > data["baselines"]["random"]["apgr"]
    assert data["tuning"]["knn"]["k"] in (1, 3, 5, 10, 20, 50)  # tuned on 84 training rows
    low, high = data["router"]["apgr_95ci"]
    assert low <= data["router"]["apgr"] <= high


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


def _priced_table(path: Path, unit: float, rows: int = 150, seed: int = 0) -> Path:
    """Three models with dollar-like prices (x ``unit``): small does chat, mid does chat
    and arithmetic, large does everything."""
    rng = random.Random(seed)
    kinds = {"chat": TOPICS["chat"], "math": TOPICS["math"],
             "proof": ["Prove that {a} is not a perfect square.", "Show {b} has a factor."]}
    lines = []
    for i in range(rows):
        kind = ("chat", "math", "proof")[i % 3]
        prompt = rng.choice(kinds[kind]).format(a=rng.randint(2, 99), b=rng.randint(2, 99))
        scores = {"small": float(kind == "chat"), "mid": float(kind != "proof"), "large": 1.0}
        price = {"small": 0.0002, "mid": 0.002, "large": 0.02}
        costs = {m: c * unit * rng.uniform(0.8, 1.2) for m, c in price.items()}
        lines.append(json.dumps({"prompt": prompt, "scores": scores, "costs": costs}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_many_models_with_dollar_costs_get_a_moving_frontier(tmp_path: Path) -> None:
    table = _priced_table(tmp_path / "priced.jsonl", unit=1.0)
    report = tmp_path / "report.html"
    result = runner.invoke(app, ["router", "eval", "--data", str(table), "--cost-weight", "0.2",
                                 "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    router = data["router"]
    # The curve moves: several operating points between the cheapest and the largest model.
    costs = [point["cost"] for point in router["frontier"]]
    assert len(costs) >= 3 and costs[0] < 0.001 < costs[-1] < 0.016  # never all-large
    assert router["aiq"] > data["baselines"]["zero_router"]["aiq"]
    assert router["cost_share_to_match_reference"] < 0.6
    assert data["reference_model"] == "large"
    for name in ("knn", "logistic", "oracle", "zero_router"):
        assert "aiq" in data["baselines"][name]
    point = data["operating_point"]
    assert point["cost_weight"] == 0.2 and 0 < point["shares"]["large"] < 1
    assert "<svg" in report.read_text() and "AIQ" in report.read_text()
    text = runner.invoke(app, ["router", "eval", "--data", str(table)])
    assert text.exit_code == 0 and "zero_router" in text.stdout and "frontier" in text.stdout


def test_train_and_test_files_and_provenance(tmp_path: Path) -> None:
    train = _priced_table(tmp_path / "train.jsonl", unit=100.0, seed=1)  # cents
    test = _priced_table(tmp_path / "test.jsonl", unit=100.0, rows=60, seed=2)
    result = runner.invoke(app, ["router", "eval", "--train", str(train), "--test", str(test),
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"]["test_table"] == str(test) and data["rows"]["train"] == 150
    assert data["rows"]["held_out"] + data["split"]["dropped_overlap"] == 60
    trained = runner.invoke(app, ["router", "train", "--data", str(train), "--seed", "4",
                                  "--json"])
    assert trained.exit_code == 0, trained.output
    from neuroforge.tools.router.net import load_router

    _router, meta = load_router(Path(json.loads(trained.stdout)["saved_to"]))
    assert meta.provenance["table"] == str(train) and meta.provenance["seed"] == 4
    assert meta.provenance["fingerprint"] and meta.costs[meta.models.index("large")] == 1.0
    assert meta.cost_scale > 1  # cents: the unit is remembered, decisions are unit-free


@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        ([{"prompt": "a", "scores": {"x": 1, "y": 0}, "costs": {"x": "NaN", "y": 1}}], [],
         "costs must map"),
        ([{"prompt": "a", "scores": {"x": 1.5, "y": 0}}], [], "must be in [0, 1]"),
        ([{"prompt": "a", "scores": {"x": 1, "y": 0}}], ["--test", "{path}"],
         "--test needs --train"),
    ],
)
def test_bad_tables_are_one_line(tmp_path: Path, rows: list, args: list, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = [a.format(path=path) for a in args]
    result = runner.invoke(app, ["router", "eval", "--data", str(path), *extra])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output
