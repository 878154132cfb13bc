"""kNN prompting: the distance, the vote, k by leave-one-out, the prompt line, reading the
next-token distribution from a server's reply, and evaluation that pays each anchor once.
Scripted models only; the real backends are in test_embedded / test_openai_backend."""

import math
import threading

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from neuroforge.agents.optimizer import hold_to_answers, read_by_knn
from neuroforge.knowledge.datasets import Example
from neuroforge.models.next_token import NoLogprobsError, next_token_logprobs, read_past_prefix
from neuroforge.tools.knn_answers import (
    KNN_LINE,
    KnnAnchors,
    KnnReader,
    choose_k,
    kl_divergence,
    label_prefix,
    parse_knn,
    read_by_neighbours,
    with_knn_line,
)
from neuroforge.tools.nearest_demos import dynamic_prompt
from neuroforge.tools.prompt_eval import (
    AnswerCache,
    KnnPromptError,
    anchor_calls_due,
    evaluate_prompt,
    format_demonstrations,
    render_prompt,
    runnable_prompt,
)
from tests.fakes import FunctionChatModel, LogprobChatModel


def row(**probabilities: float) -> dict[str, float]:
    return {token: math.log(p) for token, p in probabilities.items()}


def test_kl_is_zero_for_the_same_row_and_grows_with_the_difference() -> None:
    a = row(yes=0.7, no=0.2)
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    near, far = row(yes=0.6, no=0.3), row(yes=0.1, no=0.8)
    assert 0 < kl_divergence(a, near) < kl_divergence(a, far)
    # A token one row names and the other does not sits at the other's floor: far.
    assert kl_divergence(a, row(maybe=0.9)) > kl_divergence(a, far)


def test_the_vote_is_the_majority_of_the_k_nearest_and_a_tie_goes_to_the_nearest() -> None:
    labels = ["a", "b", "b", "a"]
    assert read_by_neighbours([0.1, 0.2, 0.3, 0.4], labels, 1) == "a"
    assert read_by_neighbours([0.1, 0.2, 0.3, 0.4], labels, 3) == "b"
    assert read_by_neighbours([0.4, 0.1, 0.3, 0.2], labels, 2) == "b"  # b at 0.1 is nearest


def test_k_is_the_one_that_labels_the_left_out_anchors_best() -> None:
    # Two clusters, each with one mislabelled member: one neighbour copies the mistake's
    # twin, a vote of three outvotes it.
    features = [row(yes=0.9, no=0.05), row(yes=0.88, no=0.06), row(yes=0.86, no=0.07),
                row(yes=0.87, no=0.065), row(yes=0.05, no=0.9), row(yes=0.06, no=0.88),
                row(yes=0.07, no=0.86), row(yes=0.065, no=0.87)]
    labels = ["y", "y", "y", "n", "n", "n", "n", "y"]
    assert choose_k(features, labels) == 3
    reader = KnnReader.fit(features, labels)
    assert reader.k == 3 and reader.answer(row(yes=0.89, no=0.05)) == "y"


def test_an_anchor_read_as_an_input_never_votes_for_itself() -> None:
    # Each anchor's nearest other anchor has the other label: read by the others the
    # answer is always wrong, read with itself (distance 0) it would always be right.
    features = [row(yes=0.9, no=0.05), row(yes=0.89, no=0.05),
                row(yes=0.05, no=0.9), row(yes=0.05, no=0.89)]
    labels, inputs = ["y", "n", "n", "y"], ["a", "b", "c", "d"]
    reader = KnnReader.fit(features, labels, inputs=inputs)
    assert [reader.answer(f) for f in features] == labels  # as a stranger: itself nearest
    assert [reader.answer_left_out(i) for i in inputs] == ["n", "y", "y", "n"]
    assert reader.is_anchor("a") and not reader.is_anchor("e")
    assert KnnReader.fit(features[:1], labels[:1], inputs=inputs[:1]).answer_left_out("a") == ""
    with pytest.raises(ValueError, match="one input per anchor"):
        KnnReader.fit(features, labels, inputs=inputs[:2])


def test_k_for_a_left_out_anchor_is_chosen_without_it() -> None:
    # With all eight, k = 3 labels the anchors best (the test above). Left out, the
    # mislabelled last anchor cannot pull k toward the value that happens to fit it.
    features = [row(yes=0.9, no=0.05), row(yes=0.88, no=0.06), row(yes=0.86, no=0.07),
                row(yes=0.87, no=0.065), row(yes=0.05, no=0.9), row(yes=0.06, no=0.88),
                row(yes=0.07, no=0.86), row(yes=0.065, no=0.87)]
    labels = ["y", "y", "y", "n", "n", "n", "n", "y"]
    inputs = [str(i) for i in range(8)]
    reader = KnnReader.fit(features, labels, inputs=inputs)
    for i in range(8):
        others = KnnReader.fit(features[:i] + features[i + 1:], labels[:i] + labels[i + 1:])
        assert reader.answer_left_out(str(i)) == others.answer(features[i])
        assert reader.left_out_k[i] == others.k  # kept, so a second run asks no more
        assert reader.answer_left_out(str(i)) == others.answer(features[i])


def test_the_label_prefix_is_what_every_label_starts_with() -> None:
    assert label_prefix(["(A)", "(B)", "(C)"]) == "("
    assert label_prefix(["True", "False"]) == ""
    assert label_prefix(["0 - no", "0 - none"]) == "0 - no"
    assert label_prefix([]) == ""


def test_the_knn_line_is_part_of_the_prompt_text_and_hidden_from_the_target() -> None:
    prompt = read_by_knn(format_demonstrations("Is it even?", [Example("item 2", "even")]))
    assert KNN_LINE in prompt and parse_knn(prompt) is not None
    assert parse_knn("Is it even?") is None
    shown = " ".join(m.text for m in render_prompt(prompt, "item 5"))
    assert "kNN" not in shown and "item 2" in shown and "item 5" in shown
    assert read_by_knn(prompt) == prompt  # once
    assert hold_to_answers(prompt, ["even", "odd"]) == prompt  # it reads no reply
    nearest = dynamic_prompt("Is it even?", 3)
    assert read_by_knn(nearest) == nearest  # anchors need one shared context


def test_a_servers_distribution_is_read_past_the_labels_common_prefix() -> None:
    first, second, third = row(**{"(": 0.9}), row(B=0.6, A=0.3), row(**{")": 0.99})
    positions = [("(", first), ("B", second), (")", third)]
    assert read_past_prefix(positions, "(") is second
    assert read_past_prefix(positions, "") is first
    # A reply that leaves the prefix: read where it leaves it.
    assert read_past_prefix([("The", first), (" answer", second)], "(") is first
    # A token that passes the prefix: read at that token.
    assert read_past_prefix([("(B", second), (")", third)], "(") is second


def parity_model(reply: str = "maybe", noise: bool = True) -> LogprobChatModel:
    """Replies ``reply`` whatever it is asked; its distribution at the answer says the
    input's parity (with one odd input in seven looking even)."""

    def number(messages: list[BaseMessage]) -> int:
        return int(messages[-1].text.rpartition("Input: item ")[2].split("\n")[0])

    def tops(messages: list[BaseMessage]) -> list[dict[str, float]]:
        n = number(messages)
        looks_even = n % 2 == 0 or (noise and n % 7 == 3)
        return [row(E=0.7, O=0.2) if looks_even else row(E=0.2, O=0.7)]

    return LogprobChatModel(respond=lambda m: reply, tops=tops, name_="parity")


def items(numbers: range) -> list[Example]:
    return [Example(f"item {n}", "even" if n % 2 == 0 else "odd") for n in numbers]


def test_a_knn_prompt_reads_its_answers_by_the_anchors_and_pays_each_once() -> None:
    train, dev = items(range(0, 20)), items(range(100, 116))
    prompt = read_by_knn(format_demonstrations("Even or odd?", train[:2]))
    anchors, model = KnnAnchors(train), parity_model()
    assert anchor_calls_due(model, prompt, anchors) == 18  # the two shown are no anchors
    first = evaluate_prompt(model, prompt, dev, scorer="exact", cache=AnswerCache(),
                            anchors=anchors)
    assert first.calls == 18 + 16 and first.finished
    # Replies say "maybe"; the distributions say the parity but for n % 7 == 3.
    assert first.correct == sum(n % 7 != 3 or n % 2 == 0 for n in range(100, 116))
    assert anchor_calls_due(model, prompt, anchors) == 0
    again = evaluate_prompt(model, prompt, items(range(200, 204)), scorer="exact",
                            anchors=anchors)
    assert again.calls == 4
    # The same text without the kNN line is read from the replies: all wrong.
    plain = evaluate_prompt(model, parse_knn(prompt) or "", dev, scorer="exact")
    assert plain.correct == 0


def test_a_knn_prompt_scored_on_its_own_anchors_pays_each_once_and_leaves_each_out() -> None:
    dev = items(range(100, 132))
    prompt, anchors, model = read_by_knn("Even or odd?"), KnnAnchors(dev), parity_model()
    inputs = {e.input for e in dev}
    assert anchor_calls_due(model, prompt, anchors) == 32
    assert anchor_calls_due(model, prompt, anchors, inputs) == 0  # their calls are the inputs'
    first = evaluate_prompt(model, prompt, dev[:8], scorer="exact", cache=AnswerCache(),
                            anchors=anchors)
    assert first.calls == 32  # every anchor, once; the eight inputs among them are free
    rest = evaluate_prompt(model, prompt, dev, scorer="exact", anchors=anchors)
    assert rest.calls == 0 and rest.hits[:8] == first.hits
    reader = anchors.readers[("parity", prompt)]
    assert rest.answers == [reader.answer_left_out(e.input) for e in dev]
    # Read with itself among the anchors, each would find its own feature (KL 0) and copy
    # its label: every one right, the n % 7 == 3 odd ones included. Left out, those are
    # read by the even ones they look like.
    looks_even_but_odd = [n for n in range(100, 132) if n % 7 == 3 and n % 2 == 1]
    assert looks_even_but_odd and rest.correct == 32 - len(looks_even_but_odd)
    strangers = evaluate_prompt(model, prompt, items(range(300, 304)), anchors=anchors)
    assert strangers.calls == 4


def test_the_anchor_calls_ask_past_the_labels_prefix_for_the_top_tokens() -> None:
    model = parity_model()
    prompt = read_by_knn("Even or odd?")
    evaluate_prompt(model, prompt, items(range(50, 52)), anchors=KnnAnchors(items(range(8))))
    asked = model.call_kwargs[0]
    assert asked["logprobs"] is True and asked["top_logprobs"] == 20


def test_a_time_limit_during_the_anchors_ends_the_run_unfinished_and_keeps_what_was_paid(
) -> None:
    model, anchors = parity_model(), KnnAnchors(items(range(10)))
    prompt = read_by_knn("Even or odd?")
    ticks = iter(range(100))
    result = evaluate_prompt(model, prompt, items(range(50, 54)), anchors=anchors,
                             time_up=lambda: next(ticks) >= 4)
    assert not result.finished and result.hits == [] and result.calls == 4
    assert anchor_calls_due(model, prompt, anchors) == 6
    done = evaluate_prompt(model, prompt, items(range(50, 54)), anchors=anchors)
    assert done.finished and done.calls == 6 + 4


def test_a_knn_prompt_without_anchors_or_logprobs_says_so() -> None:
    prompt = read_by_knn("Even or odd?")
    with pytest.raises(KnnPromptError, match="kNN prompting"):
        evaluate_prompt(parity_model(), prompt, items(range(2)))
    plain = FunctionChatModel(respond=lambda m: "even")
    with pytest.raises(NoLogprobsError, match="no token log-probabilities"):
        evaluate_prompt(plain, prompt, items(range(2)), anchors=KnnAnchors(items(range(8))))


def test_parallel_runs_of_one_knn_prompt_pay_its_anchors_at_most_once_each() -> None:
    model, anchors, cache = parity_model(), KnnAnchors(items(range(12))), AnswerCache()
    prompt = read_by_knn("Even or odd?")
    results = []

    def score() -> None:
        results.append(evaluate_prompt(model, prompt, items(range(40, 48)), cache=cache,
                                       anchors=anchors))

    threads = [threading.Thread(target=score) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.correct for r in results] == [results[0].correct] * 2
    # Each anchor and each input at most twice (two threads may race for one anchor).
    assert len(model.calls) <= 2 * (12 + 8) and sum(r.calls for r in results) == len(model.calls)


def test_an_ollama_style_list_of_logprobs_is_read_too() -> None:
    entries = [{"token": "(", "logprob": -0.01, "top_logprobs": [{"token": "(", "logprob": -0.01}]},
               {"token": "B", "logprob": -0.5, "top_logprobs": [{"token": "B", "logprob": -0.5},
                                                                {"token": "A", "logprob": -1.2}]}]
    model = FunctionChatModel(respond=lambda m: "(B)")
    original = model._generate

    def with_list(messages, stop=None, run_manager=None, **kwargs):  # type: ignore[no-untyped-def]
        result = original(messages, stop, run_manager, **kwargs)
        result.generations[0].message.response_metadata["logprobs"] = entries
        return result

    object.__setattr__(model, "_generate", with_list)
    got = next_token_logprobs(model, [HumanMessage("q")], "(")
    assert got == {"B": -0.5, "A": -1.2}


def test_the_export_of_a_knn_prompt_names_its_anchors_and_the_rule() -> None:
    train = items(range(10))
    prompt = read_by_knn(format_demonstrations("Even or odd?", train[:3]))
    run = runnable_prompt(prompt, pool=[], anchors=train)
    assert run["mode"] == "knn" and run["instruction"] == "Even or odd?"
    assert [d["input"] for d in run["demonstrations"]] == ["item 0", "item 1", "item 2"]
    assert [a["input"] for a in run["anchors"]] == [f"item {n}" for n in range(3, 10)]
    assert "KL(anchor || input)" in run["answers_read_by"]
    assert "kNN" not in run["instruction"]
    plain = runnable_prompt(with_knn_line("Even or odd?").replace(KNN_LINE, ""), pool=[])
    assert plain["mode"] == "static"


def test_an_ai_message_without_logprobs_is_refused_clearly() -> None:
    model = FunctionChatModel(respond=lambda m: "yes")
    with pytest.raises(NoLogprobsError, match="may not support logprobs"):
        next_token_logprobs(model, [HumanMessage("q"), AIMessage("a"), HumanMessage("q")])


def test_an_anchor_that_does_not_fit_the_context_is_left_out() -> None:
    from neuroforge.models.embedded import ContextOverflowError

    base = parity_model(noise=False)

    def too_long_below(limit: int) -> LogprobChatModel:
        def respond(messages: list[BaseMessage]) -> str | Exception:
            n = int(messages[-1].text.rpartition("Input: item ")[2].split("\n")[0])
            return ContextOverflowError("too long") if n < limit else "maybe"
        return LogprobChatModel(respond=respond, tops=base.tops, name_=f"short{limit}")

    prompt, anchors = read_by_knn("Even or odd?"), KnnAnchors(items(range(10)))
    some = evaluate_prompt(too_long_below(4), prompt, items(range(20, 26)), scorer="exact",
                           anchors=anchors)
    assert some.calls == 10 + 6 and some.correct == 6
    assert anchors.readers[("short4", prompt)].labels == [e.output for e in items(range(4, 10))]
    none = evaluate_prompt(too_long_below(100), prompt, items(range(20, 22)), anchors=anchors)
    assert none.correct == 0 and none.answers == ["", ""]
