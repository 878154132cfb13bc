"""Score a prompt by the target model's accuracy on labelled examples.

How an answer is read (stated because small models answer in sentences):
the first non-empty line of the reply, with a leading "Output:"/"Answer:"
label removed, lower-cased, punctuation and surrounding quotes stripped.
Scorers then compare it with the target the same way for every prompt:
``exact`` (equal), ``contains`` (the target appears as whole words), ``numeric``
(the first number equals the target's number). A target of symbols only (a Dyck
word's closing brackets) is compared with its symbols kept, whitespace ignored.

Whatever the scorer, an answer that repeats the whole input is wrong when the target
is a part of that input (``is_right``): on tasks that pick from the input (the larger
of two animals, the cause of two sentences), the echo names every option, and
"contains" credited it. DSPy's bootstrap found this and scored 98 % on larger_animal
with a demonstration that answers "pony, ferret" with "pony, ferret".

Nor is an answer right that gives another of the task's gold answers, one that contains
the target ("not the same" where the target is "same"): ``contains`` alone credited it,
and word_in_context's 100 % came from it. The callers pass the task's gold answers
(``answer_set`` of the examples a run may learn from: train, dev and the slice).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool

from neuroforge.knowledge.datasets import Example, TaskData
from neuroforge.models.embedded import ContextOverflowError
from neuroforge.models.next_token import TOP_LOGPROBS, next_token_logprobs
from neuroforge.tools.answer_choices import choice_answer, choice_constraint, parse_choices
from neuroforge.tools.knn_answers import (
    K_CHOICES,
    VOCABULARY,
    KnnAnchors,
    KnnReader,
    label_prefix,
    parse_knn,
    without_knn_line,
)
from neuroforge.tools.nearest_demos import parse_dynamic

__all__ = [
    "SCORERS",
    "DEMOS_HEADER",
    "TARGET_TEMPLATE",
    "AnswerCache",
    "DemoPicker",
    "DynamicPromptError",
    "EvalResult",
    "EvaluationStopped",
    "KnnPromptError",
    "anchor_calls_due",
    "answer_set",
    "echoes_the_input",
    "evaluate_prompt",
    "extract_answer",
    "format_demonstrations",
    "is_right",
    "make_prompt_scoring_tool",
    "names_another_answer",
    "normalize",
    "read_reply",
    "render_prompt",
    "reply_kwargs",
    "runnable_prompt",
    "split_demonstrations",
    "task_answers",
]

# How the target model sees a prompt and one input. Kept here, not in agents/prompts.py,
# because tools sit below agents and must not import from them.
TARGET_TEMPLATE = "{prompt}\n\nInput: {input}\nOutput:"
DEMOS_HEADER = "\n\nExamples:\n"
_DEMO = re.compile(r"Input: (.*?)\nOutput: (.*?)(?=\nInput: |\Z)", re.DOTALL)

_LABEL = re.compile(r"^\s*(output|answer|result|response)\s*[:\-]\s*", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def format_demonstrations(instruction: str, demos: Sequence[Example]) -> str:
    """A prompt text: the instruction, then an ``Examples:`` section of solved inputs."""
    if not demos:
        return instruction
    shots = "\n".join(f"Input: {e.input}\nOutput: {e.output}" for e in demos)
    return f"{instruction.rstrip()}{DEMOS_HEADER}{shots}"


def split_demonstrations(prompt: str) -> tuple[str, list[Example]]:
    """(instruction, demonstrations) of a prompt written by ``format_demonstrations``."""
    if DEMOS_HEADER not in prompt:
        return prompt, []
    instruction, shots = prompt.split(DEMOS_HEADER, 1)
    return instruction, [Example(i.strip(), o.strip()) for i, o in _DEMO.findall(shots)]


DemoPicker = Callable[[str, int], list[Example]]  # (input, k) -> demonstrations for it


class DynamicPromptError(ValueError):
    """A prompt that picks its examples per input was run without examples to pick from."""


class KnnPromptError(ValueError):
    """A prompt whose answers are read by kNN prompting was run without its anchors."""


def render_prompt(prompt: str, input_text: str, demos_for: DemoPicker | None = None
                  ) -> list[BaseMessage]:
    """The chat messages that run ``prompt`` on ``input_text``.

    A dynamic prompt (``tools.nearest_demos.dynamic_prompt``) gets the demonstrations
    ``demos_for`` picks for this input; a static one carries its own.

    Demonstrations become earlier user/assistant turns (as DSPy's chat adapter
    does): measured on SmolLM2-135M, that lifted sentiment from 43 % to 73 % and
    plurals from 0 % to 73 %, where the same examples inline in the text hurt.
    A prompt's answer-choices line (``tools.answer_choices``) is not shown: it says how
    replies are decoded (``reply_kwargs``); nor is its kNN line (``tools.knn_answers``).
    """
    prompt = _as_shown(prompt)
    dynamic = parse_dynamic(prompt)
    if dynamic is not None:
        if demos_for is None:
            raise DynamicPromptError("this prompt picks its examples per input; run it with "
                                     "the training examples it picks from")
        instruction, demos = dynamic[0], demos_for(input_text, dynamic[1])
    else:
        instruction, demos = split_demonstrations(prompt)
    messages: list[BaseMessage] = []
    for demo in demos:
        messages.append(HumanMessage(TARGET_TEMPLATE.format(prompt=instruction, input=demo.input)))
        messages.append(AIMessage(demo.output))
    messages.append(HumanMessage(TARGET_TEMPLATE.format(prompt=instruction, input=input_text)))
    return messages


def reply_kwargs(model: BaseChatModel, prompt: str) -> dict[str, Any]:
    """Call arguments that run ``prompt`` on ``model`` as the prompt says: its replies
    held to its answer choices, if it names any."""
    constrained = parse_choices(prompt)
    return {} if constrained is None else choice_constraint(model, constrained[1])


def read_reply(prompt: str, reply: str) -> str:
    """The answer in ``reply`` to ``prompt``: the choice a constrained reply names, else
    the first line (``extract_answer``)."""
    constrained = parse_choices(prompt)
    chosen = None if constrained is None else choice_answer(reply, constrained[1])
    return chosen if chosen is not None else extract_answer(reply)


def normalize(text: str) -> str:
    """Lower-case, punctuation removed, whitespace collapsed."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def extract_answer(reply: str) -> str:
    """The first non-empty line of ``reply`` without an "Output:"-style label."""
    for line in reply.strip().splitlines():
        if line.strip():
            return _LABEL.sub("", line.strip()).strip().strip("\"'`")
    return ""


def _symbols(text: str) -> str:
    """A target made only of symbols (BBH's Dyck closings ``") ] }"``), as compared:
    without whitespace. ``normalize`` would leave nothing of it, and an empty reply
    would then match."""
    return "".join(text.split())


def _exact(answer: str, target: str) -> bool:
    wanted = normalize(target)
    if not wanted:
        symbols = _symbols(target)
        return bool(symbols) and _symbols(answer) == symbols
    return normalize(answer) == wanted


def _has_words(text: str, part: str) -> bool:
    """Whether normalized ``part`` occurs in normalized ``text`` as whole words."""
    return f" {part} " in f" {text} "


def _contains(answer: str, target: str) -> bool:
    wanted = normalize(target)
    if not wanted:
        symbols = _symbols(target)
        return bool(symbols) and symbols in _symbols(answer)
    return _has_words(normalize(answer), wanted)


def _numeric(answer: str, target: str) -> bool:
    found, wanted = _NUMBER.findall(answer.replace(",", "")), _NUMBER.findall(target)
    return bool(found and wanted) and float(found[0]) == float(wanted[-1])


SCORERS: dict[str, Callable[[str, str], bool]] = {
    "exact": _exact,
    "contains": _contains,
    "numeric": _numeric,
}


def echoes_the_input(answer: str, target: str, input_text: str) -> bool:
    """Whether ``answer`` repeats the whole input, where the target is a part of it and
    not all of it: an echo that names every option the input offers."""
    given, wanted = normalize(input_text), normalize(target)
    return (bool(given) and bool(wanted) and _has_words(given, wanted)
            and not _has_words(wanted, given) and _has_words(normalize(answer), given))


def answer_set(outputs: Iterable[str]) -> frozenset[str]:
    """A task's gold answers as ``names_another_answer`` compares them: normalized,
    empty ones left out."""
    return frozenset(filter(None, map(normalize, outputs)))


def task_answers(task: TaskData) -> frozenset[str]:
    """``answer_set`` of the examples a run may learn from (train, dev, the slice): never
    test's, so no test answer shapes a dev score, and every row of a benchmark task is
    scored against the same set."""
    return answer_set(e.output for e in task.labelled())


def names_another_answer(answer: str, target: str, gold_answers: Collection[str]) -> bool:
    """Whether ``answer`` gives one of the ``gold_answers`` (from ``answer_set``) other
    than the target that contains it: "not the same" is that answer, not "same"."""
    given, wanted = normalize(answer), normalize(target)
    return bool(wanted) and any(
        other != wanted and _has_words(other, wanted) and _has_words(given, other)
        for other in gold_answers)


def is_right(scorer: str, answer: str, target: str, input_text: str = "",
             gold_answers: Collection[str] = frozenset()) -> bool:
    """Whether ``answer`` (already read by ``extract_answer``) is right for ``target`` by
    ``scorer``. Not an echo of the input that only contains the target, nor another of the
    task's ``gold_answers`` (``answer_set``) that contains it."""
    if input_text and echoes_the_input(answer, target, input_text):
        return False
    if gold_answers and names_another_answer(answer, target, gold_answers):
        return False
    return SCORERS[scorer](answer, target)


# (model, prompt, input, demonstration turns): a dynamic prompt's turns depend on the
# pool it picks from, not on its text alone.
CacheKey = tuple[str, str, str, str]


@dataclass
class AnswerCache:
    """Answers already obtained, keyed by ``CacheKey``; thread-safe and
    single-flight: a second caller asking for an answer that is being fetched waits for
    it instead of paying for the same call again (parallel branches scoring the same
    prompt)."""

    answers: dict[CacheKey, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: dict[CacheKey, threading.Event] = field(default_factory=dict)

    def get(self, key: CacheKey) -> str | None:
        """The cached answer, or ``None`` (never waits)."""
        with self.lock:
            return self.answers.get(key)

    def claim(self, key: CacheKey) -> str | None:
        """The cached answer; or ``None``, and the caller now owes it (``put`` it, or
        ``release`` on failure). Waits while another caller is fetching the same key."""
        while True:
            with self.lock:
                if key in self.answers:
                    return self.answers[key]
                flying = self._in_flight.get(key)
                if flying is None:
                    self._in_flight[key] = threading.Event()
                    return None
            flying.wait()

    def put(self, key: CacheKey, answer: str) -> None:
        """Keep ``answer`` and wake whoever waits for it."""
        with self.lock:
            self.answers[key] = answer
            flying = self._in_flight.pop(key, None)
        if flying is not None:
            flying.set()

    def release(self, key: CacheKey) -> None:
        """Give up a claim (the call failed): a waiter, if any, tries it itself."""
        with self.lock:
            flying = self._in_flight.pop(key, None)
        if flying is not None:
            flying.set()


class EvaluationStopped(RuntimeError):
    """The caller asked to stop (Ctrl-C) while a prompt was being scored."""


@dataclass(frozen=True)
class EvalResult:
    """Accuracy of one prompt on a set of examples."""

    accuracy: float
    correct: int
    total: int
    calls: int
    answers: list[str]
    hits: list[bool] = field(default_factory=list)  # per example, for paired tests
    # False when ``time_up`` ended the run early: the figures cover ``hits`` alone.
    finished: bool = True
    # Inputs the prompt did not fit the model's context with (scored wrong), of the paid.
    unfit: int = 0


def evaluate_prompt(
    model: BaseChatModel,
    prompt: str,
    examples: Sequence[Example],
    *,
    scorer: str = "contains",
    cache: AnswerCache | None = None,
    stop: threading.Event | None = None,
    demos_for: DemoPicker | None = None,
    gold_answers: Collection[str] = frozenset(),
    time_up: Callable[[], bool] | None = None,
    anchors: KnnAnchors | None = None,
) -> EvalResult:
    """Run ``prompt`` on each example with ``model``; cached answers cost no call.

    ``demos_for`` picks the demonstrations of a dynamic prompt per input; ``anchors``
    are what a kNN prompt reads its answers by (each costs one call, once per model and
    prompt, in the first run that needs it; an input that is an anchor is then read by
    the others, free); ``gold_answers`` are the task's (``answer_set``), for
    ``is_right``. An input the prompt does not fit the context with scores as wrong.

    Backend failures propagate unchanged (callers turn them into ``ModelError``);
    ``stop``, once set, ends the run before the next example (``EvaluationStopped``).
    ``time_up``, once true, ends it before the next *paid* call: the result then covers
    the examples done and says it is not ``finished``.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; choose from {', '.join(SCORERS)}")
    if not examples:
        raise ValueError("no examples to score on")
    model_key, calls = _model_key(model), 0
    answer_of: Callable[[list[BaseMessage]], str] = functools.partial(_reply_answer, model, prompt)
    known: Callable[[str], str | None] = _no_known_answer
    if parse_knn(prompt) is not None:
        answer_of, known, calls, done = _knn_run(model, prompt, anchors, demos_for, stop,
                                                 time_up)
        if not done:  # the time limit came while its anchors were paid for
            return _partial([], calls, [])
    answers: list[str] = []
    hits: list[bool] = []
    unfit = 0
    for example in examples:
        if stop is not None and stop.is_set():
            raise EvaluationStopped(f"stopped after {len(hits)} of {len(examples)} examples")
        answer = known(example.input)
        if answer is None:
            messages = render_prompt(prompt, example.input, demos_for)
            key = _cache_key(model_key, prompt, example.input, messages)
            answer = cache.claim(key) if cache else None
            if answer is None and time_up is not None and time_up():
                if cache:
                    cache.release(key)
                return _partial(hits, calls, answers)
            if answer is None:
                answer, fits = _paid_answer(answer_of, messages, cache, key)
                calls, unfit = calls + 1, unfit + (not fits)
        answers.append(answer)
        hits.append(is_right(scorer, answer, example.output, example.input, gold_answers))
    return EvalResult(sum(hits) / len(examples), sum(hits), len(examples), calls, answers,
                      hits, unfit=unfit)


def _cache_key(model_key: str, prompt: str, input_text: str, messages: list[BaseMessage]
               ) -> CacheKey:
    """What an answer is cached by: the model, the prompt, the input and every turn shown
    before it (a dynamic prompt's demonstrations depend on the pool it picks from)."""
    return (model_key, prompt, input_text, "\x1e".join(str(m.content) for m in messages[:-1]))


def _model_key(model: BaseChatModel) -> str:
    """What names ``model`` in cache keys."""
    return str(getattr(model, "model_name", None) or getattr(model, "model", None) or
               type(model).__name__)


def _reply_answer(model: BaseChatModel, prompt: str, messages: list[BaseMessage]) -> str:
    """The answer ``model`` replies to ``messages`` (``prompt`` run on one input)."""
    # Only the first line is read, so stop there: a 5-10x saving on chatty models.
    reply = model.invoke(messages, stop=["\n"], **reply_kwargs(model, prompt))
    return read_reply(prompt, reply.text)


def _paid_answer(answer_of: Callable[[list[BaseMessage]], str], messages: list[BaseMessage],
                 cache: AnswerCache | None, key: CacheKey) -> tuple[str, bool]:
    """The answer ``answer_of`` reads for ``messages`` (one paid call), kept in ``cache``
    (whose claim on ``key`` the caller holds: released if the call fails), and whether
    the messages fit the model's context."""
    fits = True
    try:
        answer = answer_of(messages)
    except ContextOverflowError:
        # The prompt does not fit with this input (too many or too long
        # demonstrations): a wrong answer for that prompt, not a failed run.
        answer, fits = "", False
    except BaseException:
        if cache:
            cache.release(key)
        raise
    if cache:
        cache.put(key, answer)
    return answer, fits


def _knn_answer_of(model: BaseChatModel, reader: KnnReader | None
                   ) -> Callable[[list[BaseMessage]], str]:
    """How a kNN prompt's answer to one input is read: its feature's nearest anchors'
    label ("" when no anchor fitted the context)."""
    def answer_of(messages: list[BaseMessage]) -> str:
        if reader is None:
            next_token_logprobs(model, messages)  # paid as the others: no anchor to read by
            return ""
        return reader.answer(next_token_logprobs(model, messages, reader.prefix))

    return answer_of


def _knn_run(model: BaseChatModel, prompt: str, anchors: KnnAnchors | None,
             demos_for: DemoPicker | None, stop: threading.Event | None,
             time_up: Callable[[], bool] | None
             ) -> tuple[Callable[[list[BaseMessage]], str], Callable[[str], str | None], int, bool]:
    """How kNN ``prompt`` answers a paid input and an input that is one of its anchors,
    the calls its anchors cost now, and whether they are all paid (``_knn_reader``)."""
    if anchors is None:
        raise KnnPromptError("this prompt reads its answers by its nearest training examples "
                             "(kNN prompting); run it with those examples")
    reader, calls, done = _knn_reader(model, prompt, anchors, demos_for, stop, time_up)
    return (_knn_answer_of(model, reader),
            _anchor_answer(_model_key(model), prompt, anchors, reader), calls, done)


def _no_known_answer(_input_text: str) -> str | None:
    """No input's answer is known before it is paid for (any prompt but a kNN one)."""
    return None


def _anchor_answer(model_key: str, prompt: str, anchors: KnnAnchors,
                   reader: KnnReader | None) -> Callable[[str], str | None]:
    """The answer of an input that is one of kNN ``prompt``'s anchors, read by the other
    anchors from the feature already paid ("" when it did not fit the context); ``None``
    for any other input, which is paid for as usual."""
    def known(input_text: str) -> str | None:
        with anchors.lock:
            if (model_key, prompt, input_text) not in anchors.features:
                return None
        if reader is None or not reader.is_anchor(input_text):
            return ""
        return reader.answer_left_out(input_text)

    return known


def _knn_reader(model: BaseChatModel, prompt: str, anchors: KnnAnchors,
                demos_for: DemoPicker | None, stop: threading.Event | None,
                time_up: Callable[[], bool] | None) -> tuple[KnnReader | None, int, bool]:
    """(the reader of kNN ``prompt`` on ``model``, or ``None`` when no anchor fits the
    context; calls paid for its anchors now; whether they are all paid: not when
    ``time_up`` came first, and the features paid stay kept)."""
    model_key = _model_key(model)
    with anchors.lock:
        if (model_key, prompt) in anchors.readers:
            return anchors.readers[(model_key, prompt)], 0, True
    pool = anchors.anchors(_shown_demonstrations(prompt))
    prefix = label_prefix(sorted({e.output.strip() for e in pool}))
    calls = 0
    for example in pool:
        key = (model_key, prompt, example.input)
        with anchors.lock:
            if key in anchors.features:
                continue
        if stop is not None and stop.is_set():
            raise EvaluationStopped("stopped while reading the kNN anchors")
        if time_up is not None and time_up():
            return None, calls, False
        messages = render_prompt(prompt, example.input, demos_for)
        try:
            feature: dict[str, float] | None = next_token_logprobs(model, messages, prefix)
        except ContextOverflowError:
            feature = None  # an anchor that does not fit is left out
        calls += 1
        with anchors.lock:
            anchors.features[key] = feature
    return _fitted_reader(anchors, model_key, prompt, pool, prefix), calls, True


def _fitted_reader(anchors: KnnAnchors, model_key: str, prompt: str,
                   pool: Sequence[Example], prefix: str) -> KnnReader | None:
    """The reader over ``pool``'s paid features, read past ``prefix`` (``None`` when
    none fitted), kept."""
    with anchors.lock:
        paid = [(anchors.features[(model_key, prompt, e.input)], e.output.strip())
                for e in pool]
    usable = [(feature, label, e.input) for (feature, label), e in zip(paid, pool, strict=True)
              if feature is not None]
    if not usable:
        return None
    reader = KnnReader.fit([f for f, _, _ in usable], [label for _, label, _ in usable], prefix,
                           [text for _, _, text in usable])
    with anchors.lock:
        anchors.readers[(model_key, prompt)] = reader
    return reader


def anchor_calls_due(model: BaseChatModel, prompt: str, anchors: KnnAnchors | None,
                     inputs: Collection[str] = frozenset()) -> int:
    """Calls a kNN ``prompt``'s anchors still cost on ``model`` before its first answer
    (0 for any other prompt, or once paid): what a budget must hold beyond its
    ``inputs``. An anchor among the inputs is not counted: its one call is the input's
    (it is then read by the other anchors, at no further call)."""
    if anchors is None or parse_knn(prompt) is None:
        return 0
    return anchors.unpaid(_model_key(model), prompt, _shown_demonstrations(prompt), inputs)


def _shown_demonstrations(prompt: str) -> list[Example]:
    """The fixed demonstrations a prompt shows (none for a dynamic one)."""
    text = _as_shown(prompt)
    return [] if parse_dynamic(text) is not None else split_demonstrations(text)[1]


def _as_shown(prompt: str) -> str:
    """``prompt`` without the lines that say how it is run and that the target is not
    shown: its kNN line and its answer-choices line."""
    text = without_knn_line(prompt)
    constrained = parse_choices(text)
    return text if constrained is None else constrained[0]


def _partial(hits: list[bool], calls: int, answers: list[str]) -> EvalResult:
    """The figures of a run ``time_up`` ended before its last example."""
    correct = sum(hits)
    return EvalResult(correct / len(hits) if hits else 0.0, correct, len(hits), calls,
                      answers, hits, finished=False)


def make_prompt_scoring_tool(
    model: BaseChatModel,
    examples: Sequence[Example],
    *,
    scorer: str = "contains",
    cache: AnswerCache | None = None,
) -> BaseTool:
    """A tool whose only argument the model sees is the prompt; data and model stay hidden."""
    gold_answers = answer_set(e.output for e in examples)

    @tool
    def score_prompt_on_task(prompt: str) -> str:
        """Measure how well a candidate prompt works on the task's labelled examples.

        Give the complete prompt text. Returns the accuracy (0-100 %) the target
        model reaches when it follows that prompt, and how many examples were used.
        """
        if not prompt.strip():
            return "error: the prompt is empty"
        result = evaluate_prompt(model, prompt, examples, scorer=scorer, cache=cache,
                                 gold_answers=gold_answers)
        return f"accuracy {result.accuracy:.0%} ({result.correct}/{result.total} examples)"

    return score_prompt_on_task


def runnable_prompt(prompt: str, pool: Sequence[Example],
                    anchors: Sequence[Example] = ()) -> dict[str, Any]:
    """How to run ``prompt`` outside NeuroForge, as plain data.

    Static: the instruction and its demonstrations. Dynamic: the instruction, ``k`` and
    the pool to pick from (nearest by all-MiniLM-L6-v2 cosine similarity, most similar
    last). Either way each demonstration is an earlier user turn (``template`` with its
    input) answered by an assistant turn (its output), then the real input. A prompt with
    answer choices adds them and how replies are held to them; a kNN prompt adds the
    ``anchors`` its answers are read by (less the demonstrations it shows) and how.
    """
    common: dict[str, Any] = {
        "template": TARGET_TEMPLATE,
        "rendering": "each demonstration: a user turn (template with its input) and an "
                     "assistant turn (its output); then the user turn with the input"}
    if parse_knn(prompt) is not None:
        shown = {e.input for e in _shown_demonstrations(prompt)}
        common |= {"answers_read_by": _KNN_RULE,
                   "anchors": [{"input": e.input, "output": e.output}
                               for e in anchors if e.input not in shown]}
        prompt = without_knn_line(prompt)
    constrained = parse_choices(prompt)
    if constrained is not None:
        prompt = constrained[0]
        common |= {"answer_choices": constrained[1],
                   "decoding": "the reply is held to one of answer_choices (a grammar or "
                               "JSON-schema enum)"}
    dynamic = parse_dynamic(prompt)
    if dynamic is None:
        instruction, demos = split_demonstrations(prompt)
        return {"mode": "knn" if "anchors" in common else "static", "instruction": instruction,
                "demonstrations": [{"input": d.input, "output": d.output} for d in demos],
                **common}
    return {"mode": "nearest", "instruction": dynamic[0], "k": dynamic[1],
            "embedding_model": "sentence-transformers/all-MiniLM-L6-v2 (cosine)",
            "pool": [{"input": e.input, "output": e.output} for e in pool], **common}


_KNN_RULE = (
    f"kNN prompting: run every anchor as an input; keep the model's top {TOP_LOGPROBS} "
    "next-token log-probabilities at the reply's first token after the anchors' labels' "
    "common prefix; an input gets the majority label of the k anchors nearest by "
    f"KL(anchor || input) (tokens outside a top share its remaining mass over {VOCABULARY:,} "
    "tokens), ties to the nearest; k is the one of "
    f"{', '.join(map(str, K_CHOICES))} that labels the anchors best, each left out")
