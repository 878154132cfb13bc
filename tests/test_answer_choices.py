"""Prompts whose replies are held to a task's closed answer set."""

from __future__ import annotations

from typing import Any

import pytest

from neuroforge.agents.evolution import fill_population, offspring
from neuroforge.agents.optimizer import (
    hold_to_answers,
    instruction_of,
    read_by_knn,
    swap_demonstrations,
)
from neuroforge.agents.schemas import Candidate
from neuroforge.knowledge.datasets import Example
from neuroforge.tools.answer_choices import (
    answer_choices_line,
    choice_answer,
    closed_answer_set,
    parse_choices,
)
from neuroforge.tools.knn_answers import parse_knn
from neuroforge.tools.nearest_demos import dynamic_prompt, parse_dynamic
from neuroforge.tools.prompt_eval import (
    evaluate_prompt,
    format_demonstrations,
    render_prompt,
    runnable_prompt,
    split_demonstrations,
)
from tests.fakes import FunctionChatModel

LABELLED = [Example(f"{a} and {b}", str(a and b)) for a in (True, False) for b in (True, False)
            ] * 3  # 12 examples, two answers
OPEN = [Example(f"word{i}", f"WORD{i}") for i in range(12)]


def test_a_closed_answer_set_is_found_only_where_outputs_repeat() -> None:
    assert closed_answer_set(LABELLED) == ["False", "True"]
    assert closed_answer_set(OPEN) is None  # every output new: words, not labels
    assert closed_answer_set(LABELLED[:4]) is None  # two answers seen twice each: too few
    eleven = [Example(str(i), f"label {i % 11}") for i in range(110)]
    assert closed_answer_set(eleven) is None  # more answers than a closed set has
    assert closed_answer_set([Example("x", "same")] * 20) is None  # one answer is no choice


@pytest.mark.parametrize("prompt", [
    "Evaluate the expression.",
    format_demonstrations("Evaluate the expression.", LABELLED[:3]),
    dynamic_prompt("Evaluate the expression.", 3),
])
def test_the_choices_line_joins_the_instruction_and_is_not_shown(prompt: str) -> None:
    held = hold_to_answers(prompt, ["False", "True"])
    assert parse_choices(held) == (prompt, ["False", "True"])
    assert hold_to_answers(held, ["False", "True"]) == held  # once
    assert answer_choices_line(["False", "True"]) in instruction_of(held)
    assert split_demonstrations(held)[1] == split_demonstrations(prompt)[1]
    assert (parse_dynamic(held) or ("", 0))[1] == (parse_dynamic(prompt) or ("", 0))[1]
    demos_for = (lambda text, k: LABELLED[:k])  # noqa: E731
    assert render_prompt(held, "True and False", demos_for) == render_prompt(
        prompt, "True and False", demos_for)
    # A crossover carries the choices with the instruction.
    assert parse_choices(swap_demonstrations(held, dynamic_prompt("Other.", 5))) is not None


@pytest.mark.parametrize("line", [
    "Answers: one of [True, False].",  # not JSON
    'Answers: one of ["True"].',  # no choice
    'Answers: one of ["True", 1].',
])
def test_a_malformed_choices_line_leaves_the_prompt_free(line: str) -> None:
    assert parse_choices(f"Evaluate.\n{line}") is None


@pytest.mark.parametrize(("reply", "chosen"), [
    ('"True"', "True"), ('{"answer": "False"}', "False"), ('"Maybe"', None),
    ("True, I think", None), ('{"answer": 1}', None), ("", None)])
def test_a_constrained_reply_is_read_as_its_choice(reply: str, chosen: str | None) -> None:
    assert choice_answer(reply, ["False", "True"]) == chosen


@pytest.mark.parametrize(("response_format", "reply", "schema_of"), [
    ("json_object", '"False"', lambda k: k["response_format"]["schema"]),
    ("json_schema", '{"answer": "False"}',
     lambda k: k["response_format"]["json_schema"]["schema"]["properties"]["answer"]),
])
def test_evaluation_holds_an_openai_compatible_reply_to_the_choices(
        response_format: str, reply: str, schema_of: Any) -> None:
    model = FunctionChatModel(respond=lambda m: reply,
                              metadata={"response_format": response_format})
    held = hold_to_answers("Evaluate.", ["False", "True"])
    result = evaluate_prompt(model, held, [Example("True and False", "False"),
                                           Example("True and True", "True")], scorer="exact")
    assert result.hits == [True, False]
    assert all(schema_of(k) == {"enum": ["False", "True"]} for k in model.call_kwargs)
    free = FunctionChatModel(respond=lambda m: "False",
                             metadata={"response_format": response_format})
    evaluate_prompt(free, "Evaluate.", [Example("True and False", "False")], scorer="exact")
    assert "response_format" not in free.call_kwargs[0]  # a free prompt runs free


def test_a_backend_without_a_constraint_is_read_as_a_free_reply() -> None:
    model = FunctionChatModel(respond=lambda m: "The answer is False.\nbecause")
    held = hold_to_answers("Evaluate.", ["False", "True"])
    result = evaluate_prompt(model, held, [Example("True and False", "False")])
    assert result.hits == [True] and model.call_kwargs == [{}]  # no constraint to ask for


def test_the_export_names_the_choices_and_how_replies_are_held() -> None:
    held = hold_to_answers(dynamic_prompt("Evaluate.", 3), ["False", "True"])
    exported = runnable_prompt(held, LABELLED)
    assert exported["mode"] == "nearest" and exported["instruction"] == "Evaluate."
    assert exported["answer_choices"] == ["False", "True"] and "decoding" in exported
    assert "answer_choices" not in runnable_prompt("Evaluate.", LABELLED)


def test_seeds_and_children_hold_replies_to_a_closed_set_only() -> None:
    original = Candidate(id="o", text="Evaluate.", origin="original")
    seeds = fill_population(original, [], LABELLED, 3, seed=0)
    assert seeds[2].text == hold_to_answers(dynamic_prompt("Evaluate.", 3), ["False", "True"])
    assert not seeds[2].baseline  # searched: it must beat the free seeds by the guard's rule
    assert all(parse_knn(s.text) is None for s in fill_population(original, [], LABELLED, 8,
                                                                   seed=0))
    # Asked for (--knn-seed), the three random read by kNN prompting come before it:
    # searched too, but never cut at the race's first rung (its anchors are paid before
    # its first answer).
    with_knn = fill_population(original, [], LABELLED, 4, seed=0, knn=True)
    assert with_knn[3].text == seeds[2].text
    knn = with_knn[2]
    assert knn.text == read_by_knn(seeds[0].text) and knn.never_cut and not knn.baseline
    assert all(parse_knn(s.text) is None
               for s in fill_population(original, [], OPEN, 6, seed=0, knn=True))
    assert all(parse_choices(s.text) is None
               for s in fill_population(original, [], OPEN, 6, seed=0))
    # The best's constrained child, though one added line in a long prompt reads as a copy
    # to the paraphrase check.
    long_inputs = [Example(" ".join(f"w{i}x{j}" for j in range(150)), e.output)
                   for i, e in enumerate(LABELLED[:3])]
    best = Candidate(id="b", text=format_demonstrations("Evaluate.", long_inputs),
                     origin="demonstrations", dev_score=0.5)
    for train, held in ((LABELLED, True), (OPEN, False)):
        children = offspring([best], {}, known_texts=[best.text], ballots=[], generation=2,
                             size=6, seed=0, train=train, mutator=None, attempts=3)[0]
        assert (hold_to_answers(best.text, ["False", "True"]) in [c.text for c in children]
                ) is held


@pytest.mark.embedded
def test_the_embedded_model_answers_only_with_a_choice() -> None:
    from neuroforge.models.embedded import EmbeddedChatModel

    model = EmbeddedChatModel(temperature=0.0, max_tokens=16, seed=0)
    labels = ["0 - definitely not", "3 - probably", "5 - perfectly"]
    examples = [Example("Sentence 1: A cat sleeps. Sentence 2: A dog barks.", labels[0]),
                Example("Sentence 1: It rains. Sentence 2: Rain is falling.", labels[2])]
    free = evaluate_prompt(model, "Rate how similar the two sentences are.", examples)
    held = evaluate_prompt(model, hold_to_answers("Rate how similar the two sentences are.",
                                                  labels), examples)
    assert all(answer in labels for answer in held.answers), held.answers
    assert held.calls == free.calls == 2
