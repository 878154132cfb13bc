import pytest
from langchain_core.messages import AIMessage, HumanMessage

from neuroforge.knowledge.datasets import Example
from neuroforge.tools.prompt_eval import (
    AnswerCache,
    answer_set,
    evaluate_prompt,
    extract_answer,
    format_demonstrations,
    is_right,
    make_prompt_scoring_tool,
    render_prompt,
    split_demonstrations,
)
from tests.fakes import FunctionChatModel

DEMOS = [Example("cat", "cats"), Example("a\nmulti-line input", "out put")]


def test_demonstrations_round_trip_and_render_as_turns() -> None:
    prompt = format_demonstrations("Pluralize.", DEMOS)
    assert split_demonstrations(prompt) == ("Pluralize.", DEMOS)
    messages = render_prompt(prompt, "dog")
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, HumanMessage, AIMessage,
                                           HumanMessage]
    assert messages[-1].text == "Pluralize.\n\nInput: dog\nOutput:"
    assert messages[1].text == "cats"
    assert render_prompt("Pluralize.", "dog") == [HumanMessage("Pluralize.\n\nInput: dog\nOutput:")]


@pytest.mark.parametrize(
    ("reply", "answer"),
    [("\n\nOutput: Paris\nmore", "Paris"), ('Answer - "blue"', "blue"), ("", ""),
     ("  42  ", "42")],
)
def test_extract_answer_reads_the_first_line(reply: str, answer: str) -> None:
    assert extract_answer(reply) == answer


@pytest.mark.parametrize(
    ("scorer", "reply", "target", "correct"),
    [
        ("contains", "The opposite of happy is unhappy.", "unhappy", True),
        ("contains", "It is unhappy", "happy", False),  # whole words only
        ("exact", "Unhappy!", "unhappy", True),
        ("exact", "It is unhappy", "unhappy", False),
        ("numeric", "The total is 1,234.", "#### 1234", True),
        ("numeric", "no number", "7", False),
        # Symbols only (BBH's Dyck closings): kept, not normalized away to "" = "".
        ("exact", "", ") ]", False),
        ("exact", "} }", ") ]", False),
        ("exact", ")]", ") ]", True),
        ("contains", "Output is ] )", "] )", True),
        ("contains", "no brackets", "] )", False),
    ],
)
def test_scorers(scorer: str, reply: str, target: str, correct: bool) -> None:
    model = FunctionChatModel(respond=lambda m: reply)
    result = evaluate_prompt(model, "p", [Example("x", target)], scorer=scorer)
    assert result.correct == int(correct)


@pytest.mark.parametrize(
    ("reply", "source", "target", "correct"),
    [
        ("pony, ferret", "pony, ferret", "pony", False),  # the echo names both options
        ("Pony ferret is the answer", "pony, ferret", "pony", False),
        ("pony", "pony, ferret", "pony", True),
        ("the ferret is smaller than the pony", "pony, ferret", "pony", True),
        ("monument", "monument", "monument", True),  # the target is the whole input
        ("hot cold", "hot", "cold", True),  # the target is not taken from the input
    ],
)
def test_an_echo_of_the_input_is_not_a_pick_from_it(reply: str, source: str, target: str,
                                                     correct: bool) -> None:
    model = FunctionChatModel(respond=lambda m: reply)
    for scorer in ("contains", "exact"):
        result = evaluate_prompt(model, "p", [Example(source, target)], scorer=scorer)
        assert result.correct == int(correct and (scorer == "contains" or reply == target))
    assert is_right("contains", reply, target, source) is correct
    assert is_right("contains", reply, target) is (target in reply.lower())  # no input given


@pytest.mark.parametrize(("reply", "target", "correct"), [
    ("not the same", "same", False),  # the other label, which contains the target
    ("They are not the same.", "same", False),
    ("They are the same.", "same", True),
    ("not the same", "not the same", True),
    ("one hundred five", "one hundred", False),  # a longer gold answer of an open task
    ("one hundred", "one hundred", True),
])
def test_another_gold_answer_that_contains_the_target_is_not_the_target(
        reply: str, target: str, correct: bool) -> None:
    gold = answer_set(["same", "Not the same", "one hundred", "one hundred five", ""])
    assert gold == {"same", "not the same", "one hundred", "one hundred five"}
    assert is_right("contains", reply, target, gold_answers=gold) is correct
    assert is_right("contains", reply, target) is True  # without the task's answers: credited
    model = FunctionChatModel(respond=lambda m: reply)
    result = evaluate_prompt(model, "p", [Example("x", target)], gold_answers=gold)
    assert result.correct == int(correct)


def test_the_scoring_tool_checks_replies_against_its_examples_answers() -> None:
    model = FunctionChatModel(respond=lambda m: "not the same")
    tool = make_prompt_scoring_tool(model, [Example("a", "same"), Example("b", "not the same")])
    assert tool.invoke({"prompt": "Same?"}) == "accuracy 50% (1/2 examples)"


def test_cache_saves_calls_and_tool_hides_data() -> None:
    model = FunctionChatModel(respond=lambda m: m[-1].text.split("Input: ")[1].split("\n")[0])
    examples = [Example("a", "a"), Example("b", "c")]
    cache = AnswerCache()
    first = evaluate_prompt(model, "Echo.", examples, cache=cache)
    again = evaluate_prompt(model, "Echo.", examples, cache=cache)
    assert (first.accuracy, first.calls, again.calls) == (0.5, 2, 0)
    tool = make_prompt_scoring_tool(model, examples, cache=cache)
    assert set(tool.args) == {"prompt"}
    assert tool.invoke({"prompt": "Echo."}) == "accuracy 50% (1/2 examples)"
    assert tool.invoke({"prompt": " "}).startswith("error")
    with pytest.raises(ValueError, match="unknown scorer"):
        evaluate_prompt(model, "p", examples, scorer="fuzzy")


def test_a_dynamic_prompt_shows_the_nearest_training_examples_for_each_input() -> None:
    from neuroforge.knowledge.datasets import Example
    from neuroforge.tools.nearest_demos import NearestDemos, dynamic_prompt, parse_dynamic
    from neuroforge.tools.prompt_eval import DynamicPromptError

    pool = [Example("a happy puppy", "positive"), Example("the stock market fell", "finance"),
            Example("a cheerful kitten", "positive"), Example("bond yields rose", "finance"),
            Example("heavy rain tomorrow", "weather")]
    prompt = dynamic_prompt("Label the text.", 2)
    assert parse_dynamic(prompt) == ("Label the text.", 2)
    assert parse_dynamic("Label the text.") is None
    # An operator that appends to the instruction keeps the prompt dynamic.
    assert parse_dynamic(prompt + "\nAnswer in one word.") == (
        "Label the text.\nAnswer in one word.", 2)
    nearest = NearestDemos(pool)
    picked = nearest("the stock market crashed", 2)
    assert picked[-1].input == "the stock market fell"  # the most similar sits last
    messages = render_prompt(prompt, "the stock market crashed", nearest)
    assert len(messages) == 5 and messages[3].content == "finance"
    assert "most similar" not in messages[-1].content  # the line says how, it is not shown
    assert nearest("a happy puppy", 1)[0].input != "a happy puppy"  # never the input itself
    with pytest.raises(DynamicPromptError, match="picks its examples per input"):
        render_prompt(prompt, "anything")


def test_identical_calls_in_flight_are_made_once() -> None:
    """Single flight: two branches scoring the same prompt at once pay for each answer
    once; a failed call lets the waiter try it itself."""
    import threading
    import time

    started = threading.Event()

    def slow_echo(messages):
        started.set()
        time.sleep(0.2)
        return messages[-1].text.split("Input: ")[1].split("\n")[0]

    model = FunctionChatModel(respond=slow_echo)
    examples = [Example("a", "a"), Example("b", "b")]
    cache = AnswerCache()
    results = []
    first = threading.Thread(target=lambda: results.append(
        evaluate_prompt(model, "Echo.", examples, cache=cache)))
    first.start()
    started.wait(5)
    results.append(evaluate_prompt(model, "Echo.", examples, cache=cache))
    first.join(5)
    assert len(model.calls) == 2 and sorted(r.calls for r in results) == [0, 2]
    assert all(r.accuracy == 1.0 for r in results)

    key = ("k", "p", "i")
    assert cache.claim(key) is None
    cache.release(key)  # the call failed: the next caller owes it
    assert cache.claim(key) is None
    cache.put(key, "x")
    assert cache.claim(key) == "x"


def test_an_input_the_prompt_does_not_fit_with_scores_as_wrong() -> None:
    from neuroforge.models.embedded import ContextOverflowError

    def small_context(messages):
        said = messages[-1].text.split("Input: ")[1].split("\n")[0]
        return ContextOverflowError("exceeds the context") if len(said) > 10 else said

    model = FunctionChatModel(respond=small_context)
    examples = [Example("a", "a"), Example("a very long input", "x"), Example("b", "b")]
    result = evaluate_prompt(model, "Echo.", examples, cache=AnswerCache())
    assert result.hits == [True, False, True] and result.answers[1] == ""
    assert result.calls == 3  # the model was asked, and said no
    assert result.unfit == 1  # and the caller can tell a user why


def test_the_answer_cache_tells_apart_the_demonstrations_a_dynamic_prompt_was_shown() -> None:
    """The same dynamic prompt picking from another pool is another call, not a cached
    answer: its text alone does not say what the model saw."""
    from neuroforge.tools.nearest_demos import dynamic_prompt

    model = FunctionChatModel(respond=lambda messages: messages[1].text if len(messages) > 1
                              else "none")
    prompt, cache, examples = dynamic_prompt("Answer like the example.", 1), AnswerCache(), [
        Example("moon", "A")]

    def run(label: str):
        return evaluate_prompt(model, prompt, examples, cache=cache,
                               demos_for=lambda text, k: [Example("sun", label)])

    first, other, again = run("A"), run("B"), run("A")
    assert (first.hits, other.hits, again.hits) == ([True], [False], [True])
    assert (first.calls, other.calls, again.calls) == (1, 1, 0)
