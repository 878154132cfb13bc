import json
from pathlib import Path

import pytest

from neuroforge.knowledge.datasets import TaskFileError, human_instructions, load_task
from tests.data_paths import EXAMPLE_TASKS, SHARED_TASKS, needs_shared_data


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_split_is_disjoint_and_seeded(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "t.jsonl",
                        [{"input": f"q{i}", "output": f"a{i}"} for i in range(60)])
    task = load_task(path, dev_size=10, test_size=15, seed=3)
    inputs = [{e.input for e in split} for split in (task.train, task.dev, task.test)]
    assert len(inputs[1]) == 10 and len(inputs[2]) == 15 and len(inputs[0]) == 35
    assert not (inputs[0] & inputs[1] or inputs[0] & inputs[2] or inputs[1] & inputs[2])
    assert load_task(path, dev_size=10, test_size=15, seed=3).dev == task.dev


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no examples"),
        ('{"input": "a"}\n', "needs fields input/output"),
        ("not json\n", "not JSON"),
        ('{"input": "a", "output": "b"}\n', "at least 3"),
    ],
)
def test_bad_task_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TaskFileError, match=message):
        load_task(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="not found"):
        load_task(tmp_path / "nope.jsonl")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TaskFileError, match="cannot read|not JSON"):
        load_task(binary)


def test_instruction_induction_uses_execute_as_test() -> None:
    antonyms = EXAMPLE_TASKS / "instruction_induction/raw/induce/antonyms.json"
    task = load_task(antonyms, test_size=40)
    assert len(task.test) == 40 and task.dev and task.train
    assert human_instructions(antonyms)


@needs_shared_data
def test_instruction_induction_with_other_field_names() -> None:
    cause = load_task(SHARED_TASKS / "instruction_induction/raw/induce/cause_and_effect.json")
    assert cause.dev[0].input and cause.dev[0].output


def test_cause_and_effect_gives_both_sentences_and_asks_for_the_cause(tmp_path: Path) -> None:
    # The task (APE): both sentences in, in either order; the cause sentence out.
    pairs = [{"cause": f"Cause number {i}.", "effect": f"Effect number {i}."} for i in range(40)]
    path = tmp_path / "cause_and_effect.json"
    path.write_text(json.dumps({"examples": {str(i + 1): p for i, p in enumerate(pairs)}}))
    task = load_task(path)
    examples = task.train + task.dev + task.test
    assert all(e.output.startswith("Cause") and e.output in e.input
               and "Effect" in e.input for e in examples)
    firsts = {e.input.split(" Sentence 2: ")[0].removeprefix("Sentence 1: ") == e.output
              for e in examples}
    assert firsts == {True, False}  # the cause is not always first
    assert load_task(path).test == task.test  # and the order is stable


@needs_shared_data
def test_bbh_format_loads() -> None:
    task = load_task(SHARED_TASKS / "bbh/boolean_expressions.json")
    assert task.test[0].output in {"True", "False"}


@needs_shared_data
def test_gsm8k_format_keeps_the_final_answer_only() -> None:
    task = load_task(SHARED_TASKS / "gsm8k/test.jsonl", test_size=10_000, dev_size=10_000,
                     train_size=10_000)  # every example lands in some split
    answers = [e.output for e in task.test + task.dev + task.train]
    assert answers and all(a.lstrip("-").replace(".", "", 1).isdigit() for a in answers)
    ducks = [e for e in task.test + task.dev + task.train if "ducks lay 16 eggs" in e.input]
    assert [e.output for e in ducks] == ["18"]  # "... #### 18" in the file


def test_gsm8k_answers_lose_thousands_separators(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"work\n#### 1,{i}00"})
                            + "\n" for i in range(6)))
    task = load_task(path)
    assert sorted(e.output for e in task.train + task.dev + task.test) == [
        f"1{i}00" for i in range(6)]


def test_a_confirmation_slice_comes_from_what_the_pool_has_left(tmp_path: Path) -> None:
    """Checked after the search, it must share no example with the other splits."""
    path = _write_jsonl(tmp_path / "t.jsonl",
                        [{"input": f"q{i}", "output": f"a{i}"} for i in range(200)])
    task = load_task(path, dev_size=32, test_size=50, train_size=50)
    confirm = {e.input for e in task.confirm}
    assert len(confirm) == 32
    assert not confirm & {e.input for e in [*task.train, *task.dev, *task.test]}
    small = _write_jsonl(tmp_path / "s.jsonl", [{"input": f"q{i}", "output": "a"}
                                                for i in range(60)])
    assert load_task(small, dev_size=10).confirm == []  # train took what dev left
    assert len(load_task(small, dev_size=10, train_size=20).confirm) == 10
