"""Hinted prompts: each input's turn names the answer most of its shown examples have."""

from __future__ import annotations

import random

import pytest

from neuroforge.agents.optimizer import hint_answers, hold_to_answers, instruction_of
from neuroforge.knowledge.datasets import Example
from neuroforge.tools.answer_choices import parse_choices
from neuroforge.tools.answer_hints import (
    HINT,
    HINT_LINE,
    majority_answer,
    parse_hint,
    with_hint,
)
from neuroforge.tools.nearest_demos import dynamic_prompt, parse_dynamic
from neuroforge.tools.prompt_eval import (
    AnswerCache,
    evaluate_prompt,
    format_demonstrations,
    render_prompt,
    runnable_prompt,
)
from tests.fakes import FunctionChatModel

POOL = [Example(f"case {i}", "(A)" if i % 3 else "(B)") for i in range(12)]
HELD = hold_to_answers(dynamic_prompt("Pick the option.", 3), ["(A)", "(B)"])


def test_the_majority_answer_of_the_shown_examples_ties_to_the_nearest() -> None:
    def shown(*outputs: str) -> list[Example]:
        return [Example(f"x{i}", o) for i, o in enumerate(outputs)]

    assert majority_answer(shown("(A)", "(B)", "(B)")) == "(B)"
    assert majority_answer(shown("yes", "no")) == "no"  # a tie: the one shown last
    assert majority_answer(shown(" Yes", "yes", "no")) == "yes"  # case-folded, the nearer
    with pytest.raises(ValueError):
        majority_answer([])


def test_the_hint_line_joins_the_instruction_once_and_only_on_a_dynamic_prompt() -> None:
    hinted = hint_answers(HELD)
    assert HINT_LINE in instruction_of(hinted) and hint_answers(hinted) == hinted
    assert parse_hint(hinted) is not None and parse_hint(HELD) is None
    assert (parse_dynamic(hinted) or ("", 0))[1] == 3
    assert parse_choices(hinted) is not None  # still held to the answers
    # A fixed set's majority is the same for every input: nothing to hint.
    static = format_demonstrations("Pick the option.", POOL[:3])
    assert hint_answers(static) == static and hint_answers("Pick.") == "Pick."
    # The nearest-5 child of a hinted prompt is hinted too: the line is the instruction's.
    assert parse_hint(dynamic_prompt(instruction_of(hinted), 5)) is not None


def test_a_hinted_turn_names_the_majority_of_its_own_examples_and_not_the_line() -> None:
    def demos_for(text: str, k: int) -> list[Example]:
        return [Example("n1", "(A)"), Example("n2", "(B)"), Example("n3", "(B)")][:k]

    plain = render_prompt(HELD, "case x", demos_for)
    hinted = render_prompt(hint_answers(HELD), "case x", demos_for)
    assert hinted[:-1] == plain[:-1]  # the same examples, shown the same way
    assert str(hinted[-1].content) == with_hint(str(plain[-1].content),
                                                demos_for("", 3), "Output:")
    last = str(hinted[-1].content)
    assert HINT.format(answer="(B)") in last and last.endswith("\nOutput:")
    assert HINT_LINE not in "".join(str(m.content) for m in hinted)


def test_a_hint_never_names_an_answer_its_input_is_not_shown() -> None:
    rng = random.Random(3)
    labels = ["(A)", "(B)", "(C)"]
    for trial in range(50):
        shown = [Example(f"t{trial}-{i}", rng.choice(labels)) for i in range(rng.randint(1, 5))]
        messages = render_prompt(hint_answers(HELD), "input",
                                 lambda text, k, shown=shown: shown)
        named = next(label for label in labels
                     if HINT.format(answer=label) in str(messages[-1].content))
        assert named in {e.output for e in shown}


def test_evaluation_runs_the_hint_and_keeps_its_answers_apart_from_the_plain_prompt() -> None:
    # A target that copies the hint when there is one, else answers "(B)".
    def respond(messages: list) -> str:
        last = str(messages[-1].content)
        return "(A)" if HINT.format(answer="(A)") in last else "(B)"

    model = FunctionChatModel(respond=respond)
    examples = [Example("case 1", "(A)"), Example("case 2", "(B)")]
    shown = {"case 1": ["(B)", "(A)", "(A)"], "case 2": ["(A)", "(B)", "(B)"]}

    def demos_for(text: str, k: int) -> list[Example]:
        return [Example(f"near {i}", o) for i, o in enumerate(shown[text][:k])]

    cache = AnswerCache()
    plain = evaluate_prompt(model, HELD, examples, scorer="exact", cache=cache,
                            demos_for=demos_for)
    hinted = evaluate_prompt(model, hint_answers(HELD), examples, scorer="exact", cache=cache,
                             demos_for=demos_for)
    assert plain.hits == [False, True] and hinted.hits == [True, True]
    assert hinted.calls == 2  # not the plain prompt's cached answers


def test_the_export_says_how_the_hint_is_made() -> None:
    exported = runnable_prompt(hint_answers(HELD), POOL)
    assert exported["mode"] == "nearest" and exported["instruction"] == "Pick the option."
    assert exported["answer_choices"] == ["(A)", "(B)"] and HINT in exported["hint"]
    assert "hint" not in runnable_prompt(HELD, POOL)
