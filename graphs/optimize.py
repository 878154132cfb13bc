"""The prompt-optimization graph: analyse -> propose -> vote (-> debate) -> evolve ... -> finish.

Analysts run in parallel, one ``Send`` branch per perspective; validators vote in
parallel, one branch per voter. The original prompt stays on every ballot as a
control, so "better than the original" is judged by the same voters. With a labelled
task it is measured on the same dev examples instead, and the voters see only the dev
leader, to veto it; ``agents=False`` skips every agent (the search-only ablation). A run
that stops early (budget, model failure, plateau) still finishes with the best prompt
found so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neuroforge.agents.analyst import analyse_perspective
from neuroforge.agents.consensus import RULES, make_rule
from neuroforge.agents.creative import is_distinct, keeps_the_task, propose_rewrite
from neuroforge.agents.evolution import (
    DEMOS_K,
    FINALISTS,
    MIN_CONFIRM,
    breeding_parents,
    confirmation_order,
    fill_population,
    finalists,
    guarded_choice,
    mean_scores,
    offspring,
    proposer_note,
    stop_reason,
    undecided_seed,
    vetoed_ids,
)
from neuroforge.agents.failures import (
    REFLECTION_SIZE,
    Miss,
    failure_finding,
    failure_lines,
    leaked_examples,
    reflection_batch,
)
from neuroforge.agents.free_choice import (
    TRAIN_EVIDENCE_SIZE,
    evidence_record,
    free_dynamic_texts,
    leader_on_evidence,
    train_evidence_cost,
    with_free_choice,
)
from neuroforge.agents.optimizer import (
    fitness,
    history_lines,
    select_elites,
)
from neuroforge.agents.prompts import PERSPECTIVES
from neuroforge.agents.quoting import quote
from neuroforge.agents.schemas import Ballot, Candidate, Finding
from neuroforge.agents.validator import VoterSpec, cast_ballot, make_voters
from neuroforge.graphs.state import (
    AnalyseTask,
    OptimizeInput,
    OptimizeOutput,
    OptimizeState,
    VoteTask,
    add_counts,
)
from neuroforge.knowledge import records
from neuroforge.knowledge.datasets import Example, TaskData, load_task
from neuroforge.knowledge.db import Database
from neuroforge.knowledge.schema import new_id
from neuroforge.memory.long_term import LongTermMemory, MemoryError_
from neuroforge.models.backends import ModelError, as_model_error, invoke_model, model_identity
from neuroforge.models.next_token import NoLogprobsError
from neuroforge.models.structured import StructuredOutputError
from neuroforge.tools.knn_answers import KnnAnchors
from neuroforge.tools.nearest_demos import NearestDemos, parse_dynamic
from neuroforge.tools.prompt_eval import (
    SCORERS,
    AnswerCache,
    DemoPicker,
    EvalResult,
    anchor_calls_due,
    evaluate_prompt,
    split_demonstrations,
    task_answers,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "DEV_SIZE",
    "MAX_PROMPT_CHARS",
    "OptimizeDeps",
    "OptimizeInputError",
    "OptimizeStopped",
    "check_budget",
    "check_task_size",
    "create_optimize_graph",
    "minimum_budget",
    "resolve_options",
]

MAX_PROMPT_CHARS = 4000
DEV_SIZE = 32  # dev examples a candidate is scored on
# What a dynamic prompt picks its demonstrations from: train while the search scores,
# every labelled example once it is over (``OptimizeDeps.demos_for``).
DemoPool = Literal["train", "labelled"]
SAMPLE_CHARS = 600  # of a sample answer shown to the validators (no task)


class OptimizeOptions(BaseModel):
    """The run's options with their bounds; defaults apply to anything left out."""

    model_config = ConfigDict(extra="ignore")

    task: str | None = None
    generations: int = Field(3, ge=1, le=20)
    population: int = Field(4, ge=1, le=12)
    voters: int = Field(3, ge=1, le=9)
    min_agreement: float = Field(0.5, gt=0, le=1)
    vote_rule: str = "majority"
    budget: int = Field(200, ge=10, le=100_000)
    debate_rounds: int = Field(1, ge=0, le=5)
    seed: int = 0
    # False: search only (seeds, racing, operators): no analysts, rewrites or ballots.
    agents: bool = True
    scorer: str | None = None  # how answers are judged on a task; None: the deps' default
    # Wall-clock seconds for the search and its confirmation (the held-out test run after
    # it is not counted); None: the call budget alone bounds the run.
    time_limit: float | None = Field(None, gt=0, le=604_800)
    # With a task: the free prompts with per-input examples (the instruction, + 3 and
    # + 5 nearest) are also run on the training examples, each leaving itself out, and
    # the one right most often on train + dev is what a searched prompt must beat
    # (``agents.free_choice``); the search gets what that leaves of the budget.
    train_evidence: bool = False
    # With a closed-set task: one more first-generation seed, the three random examples
    # with answers read by kNN prompting (``tools.knn_answers``). Opt-in: on test, on 10
    # closed-set benchmark tasks, it won 22 points on one and lost 6-20 on three by
    # taking the calls and time of the search after it (``benchmarks/RUNS.md``).
    knn_seed: bool = False


DEFAULT_OPTIONS: dict[str, Any] = OptimizeOptions().model_dump()
ModelFactory = Callable[[str, float | None], BaseChatModel]


class OptimizeStopped(RuntimeError):
    """A branch stopped before its next model call because the caller asked."""


class OptimizeInputError(ValueError):
    """The caller's input cannot be optimized; the message says what to change."""


@dataclass
class OptimizeDeps:
    """What the graph's nodes need from outside: models, the store, task data."""

    model_for: ModelFactory
    store: Database | None = None
    memory: LongTermMemory | None = None
    attempts: int = 3
    scorer: str = "contains"
    dev_size: int = DEV_SIZE
    answer_cache: AnswerCache = field(default_factory=AnswerCache)
    # Set by the caller (Ctrl-C): loops stop before their next model call.
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.time  # wall time; tests give a scripted one
    _tasks: dict[str, TaskData] = field(default_factory=dict)
    _nearest: dict[tuple[str, str], NearestDemos] = field(default_factory=dict)
    _nearest_lock: threading.Lock = field(default_factory=threading.Lock)
    _anchors: dict[str, KnnAnchors] = field(default_factory=dict)

    def task(self, path: str) -> TaskData:
        """The task at ``path``, loaded once."""
        if path not in self._tasks:
            self._tasks[path] = load_task(path, dev_size=self.dev_size)
        return self._tasks[path]

    def demos_for(self, path: str | None, pool: DemoPool = "train"
                  ) -> DemoPicker | None:
        """Dynamic few-shot's picker (built on first use) over the task's train split while
        the search scores on dev and the slice, or over every labelled example
        (``TaskData.labelled``) for the chosen prompt once the search is over: the choice
        is made, and more neighbours to pick from is what a nearest-k prompt gains by."""
        if not path:
            return None
        task, key = self.task(path), (path, pool)

        def pick(input_text: str, k: int) -> list[Any]:
            with self._nearest_lock:
                if key not in self._nearest:
                    self._nearest[key] = NearestDemos(
                        task.train if pool == "train" else task.labelled())
                picker = self._nearest[key]
            return picker(input_text, k)

        return pick

    def anchors(self, path: str | None) -> KnnAnchors | None:
        """What a kNN prompt reads its answers by: the task's train split, during the
        search and after it alike (train, dev and the slice as anchors read 302 right of
        768 in the probe, train alone 316), with each anchor's feature kept once paid.
        The dev split as anchors (each dev input read by the others, so a kNN prompt
        costs no more than any other) lost on test with the seed on by default
        (``benchmarks/RUNS.md``, 2026-12-06 afternoon)."""
        if not path:
            return None
        with self._nearest_lock:
            if path not in self._anchors:
                self._anchors[path] = KnnAnchors(list(self.task(path).train))
            return self._anchors[path]

    def record(self, write: Callable[[Any], None]) -> None:
        """Run ``write(session)`` against the store, if there is one."""
        if self.store is not None:
            with self.store.session() as session:
                write(session)


def resolve_options(state: OptimizeInput) -> dict[str, Any]:
    """Defaults filled in and every option checked; raises ``OptimizeInputError``."""
    prompt = state.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise OptimizeInputError(f"the prompt must be text, not {type(prompt).__name__}")
    if not prompt or not prompt.strip():
        raise OptimizeInputError("the prompt is empty; give the text of the prompt to optimize")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise OptimizeInputError(
            f"the prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"
        )
    given = {k: v for k, v in state.items() if k in DEFAULT_OPTIONS and v is not None}
    try:
        opts = OptimizeOptions.model_validate(given).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]).replace("_", "-")
        raise OptimizeInputError(f"{where}: {first['msg']}") from None
    if opts["vote_rule"] not in RULES:
        raise OptimizeInputError(f"vote rule must be one of {', '.join(RULES)}")
    if opts["scorer"] is not None and opts["scorer"] not in SCORERS:
        raise OptimizeInputError(f"scorer must be one of {', '.join(SCORERS)}")
    if not opts["agents"] and not opts["task"]:
        raise OptimizeInputError("a search without agents needs a labelled task to measure "
                                 "prompts on; give --task, or let the agents judge")
    if opts["knn_seed"] and not opts["task"]:
        raise OptimizeInputError("the kNN seed reads its answers by a labelled task's training "
                                 "examples; give --task, or leave out --knn-seed")
    if opts["train_evidence"] and not opts["task"]:
        raise OptimizeInputError("train evidence needs a labelled task to run the free prompts "
                                 "on; give --task, or leave out --train-evidence")
    return opts


MIN_DEV, MIN_TRAIN = 4, DEMOS_K  # the least a task needs: prompts compared, demos drawn


def check_task_size(task: TaskData) -> None:
    """Raise ``OptimizeInputError`` when a task is too small to optimize on: fewer dev
    examples than it takes to compare prompts, or fewer training examples than one set
    of demonstrations."""
    if len(task.dev) >= MIN_DEV and len(task.train) >= MIN_TRAIN:
        return
    total = task.meta.get("total_examples", len(task.train) + len(task.dev) + len(task.test))
    raise OptimizeInputError(
        f"the task {task.name} is too small: its {total} examples split into "
        f"{len(task.test)} test, {len(task.dev)} dev and {len(task.train)} train; optimizing "
        f"needs at least {MIN_DEV} dev examples (to compare prompts) and {MIN_TRAIN} train "
        f"examples (for demonstrations), so about {3 * (MIN_DEV + MIN_TRAIN) // 2} examples "
        "in all; add examples to the file")


def minimum_budget(opts: Mapping[str, Any], dev_examples: int, attempts: int) -> int:
    """Model calls one generation needs at the least, so a run never stops before a vote.

    Original scored on dev, its mistakes on a training minibatch (with a task), every
    analyst's worst case (with retries), one rewrite per population slot, each candidate
    scored on dev, and one ballot per voter and candidate.
    """
    population, voters = int(opts["population"]), int(opts["voters"])
    runs = dev_examples or 1  # no task: one sample answer per candidate instead
    reflection = REFLECTION_SIZE if dev_examples else 0
    if not opts.get("agents", True):
        return runs + reflection + population * runs
    # With a task the voters see the original and the dev leader only (a veto).
    ballots = voters * (2 if dev_examples else population)
    return (runs + reflection + len(PERSPECTIVES) * attempts + population
            + population * runs + ballots)


def check_budget(opts: Mapping[str, Any], dev_examples: int, attempts: int) -> None:
    """Raise ``OptimizeInputError`` when the budget cannot pay for one generation."""
    needed = minimum_budget(opts, dev_examples, attempts)
    if int(opts["budget"]) < needed:
        on_dev = f" ({dev_examples} dev examples per candidate)" if dev_examples else ""
        raise OptimizeInputError(
            f"a budget of {opts['budget']} calls cannot pay for one generation: this run needs "
            f"at least {needed}{on_dev}; raise --budget to {needed} or more, or lower "
            "--population / --voters")


def confirm_plan(opts: Mapping[str, Any], task: TaskData, attempts: int) -> tuple[int, int]:
    """(examples, prompts) of the confirmation slice run before the guard: as many
    examples as dev has, paid from what the budget has beyond one generation, for the
    original and the ``FINALISTS`` best on dev, or for the original and the dev leader
    when the budget pays for two prompts only; (0, 0) when fewer than ``MIN_CONFIRM``
    examples fit."""
    spare = (int(opts["budget"]) - minimum_budget(opts, len(task.dev), attempts)
             - free_choice_reserve(opts, task))
    size = min(len(task.confirm), len(task.dev), spare // 2)
    if size < MIN_CONFIRM:
        return 0, 0
    return size, (1 + FINALISTS if spare // (1 + FINALISTS) >= size else 2)


def free_choice_reserve(opts: Mapping[str, Any], task: TaskData) -> int:
    """Calls the free choice on train takes before the search at the most (0 without
    ``train_evidence``); the bare instruction's reflection answers are cached."""
    if not opts.get("train_evidence"):
        return 0
    return train_evidence_cost(len(task.train), len(task.dev), REFLECTION_SIZE)


def _scorer(deps: OptimizeDeps, opts: Mapping[str, Any]) -> str:
    return str(opts.get("scorer") or deps.scorer)


def _gold_answers(deps: OptimizeDeps, opts: Mapping[str, Any]) -> frozenset[str]:
    """The task's gold answers a reply is checked against (``is_right``)."""
    return task_answers(deps.task(opts["task"])) if opts.get("task") else frozenset()


def _rows(examples: list[Example]) -> list[dict[str, str]]:
    """Examples as plain state values (checkpointable); ``_examples`` reads them back."""
    return [{"input": e.input, "output": e.output} for e in examples]


def _examples(rows: list[dict[str, str]]) -> list[Example]:
    return [Example(r["input"], r["output"]) for r in rows]


def _candidate(data: dict[str, Any]) -> Candidate:
    return Candidate.model_validate(data)


def _calls_in_time(deps: OptimizeDeps, state: Mapping[str, Any], spent: int = 0) -> int | None:
    """Calls the time limit still pays for at the rate measured so far (seconds per
    call over the run); None without a limit or before the first call."""
    opts = state["options"]
    calls = int(state.get("calls_used", 0)) + spent
    if not opts.get("time_limit") or calls <= 0:
        return None
    elapsed = max(deps.clock() - float(opts["started_at"]), 1e-6)
    return max(0, int((float(opts["time_limit"]) - elapsed) * calls / elapsed))


def _time_up(deps: OptimizeDeps, opts: Mapping[str, Any]) -> Callable[[], bool] | None:
    """Whether the time limit has passed, for the target's scoring runs to stop before
    their next paid call; None without a limit. The rate of ``_calls_in_time`` is an
    average: the calls of a prompt with five long demonstrations per input cost several
    times those of the bare instruction, and one step sized by it overran by 73 s."""
    if not opts.get("time_limit"):
        return None
    deadline = float(opts["started_at"]) + float(opts["time_limit"])
    return lambda: deps.clock() >= deadline


def _budget_left(state: Mapping[str, Any], spent: int = 0) -> int:
    """Calls the budget still pays for: the budget less what is spent."""
    return int(state["options"]["budget"]) - int(state.get("calls_used", 0)) - spent


def _left(deps: OptimizeDeps, state: Mapping[str, Any], spent: int = 0) -> int:
    """Calls the run may still make: what the budget pays for, and no more than the time
    limit pays for."""
    timed = _calls_in_time(deps, state, spent)
    left = _budget_left(state, spent)
    return left if timed is None else min(left, timed)


def _out_of_time(deps: OptimizeDeps, state: Mapping[str, Any]) -> bool:
    """Whether the time limit, not the call budget, is what binds now."""
    timed = _calls_in_time(deps, state)
    return timed is not None and timed < _budget_left(state)


def _remaining(deps: OptimizeDeps, state: Mapping[str, Any], spent: int = 0) -> int:
    """Calls the search may still spend: what is left less what the confirmation of the
    finalists keeps back (``confirm_prompts`` prompts on its slice). Under a
    time limit the seeds of the first generation are scored first: a confirmation of
    nothing is worth less."""
    opts = state["options"]
    reserve = int(opts.get("confirm_prompts", 2)) * int(opts.get("confirm_examples", 0))
    budget = _budget_left(state, spent) - reserve
    timed = _calls_in_time(deps, state, spent)
    if timed is None:
        return budget
    return min(budget, timed - (reserve if state.get("generation", 0) >= 1 else 0))


RACE_FIRST_RUNG = 8  # dev examples every new candidate is scored on before the cut


def _score_on_dev(deps: OptimizeDeps, opts: dict[str, Any], candidates: list[Candidate],
                  budget: int) -> tuple[int, list[str]]:
    """Fill ``dev_score`` for candidates within ``budget`` calls; (calls, errors).

    Baselines and a ``never_cut`` child (the leader's instruction with more nearest
    examples per input: better on dev across tasks, yet stopped early in 9 benchmark
    runs of 12) are scored on the whole dev set first, in ``_scoring_order``: under a
    time limit the free seeds are what a score is most needed for. Then successive
    halving among the rest: each is scored on the first ``RACE_FIRST_RUNG`` dev
    examples, the better half of all raced (at least two, at least one challenger) goes
    on to the whole dev set, the rest stop there with ``dev_score`` unset (so they can
    never be chosen). Answers are cached, so a survivor's first rung is not paid twice,
    and without a time limit the order changes no result.

    Without a task, each candidate gets one ``sample_output`` instead: the target
    model's answer to the prompt itself, which the validators are shown.
    """
    if not opts["task"]:
        return _sample_outputs(deps, candidates, budget)
    dev = deps.task(opts["task"]).dev
    rung = min(RACE_FIRST_RUNG, len(dev))
    pending = _race_entrants([c for c in candidates if c.dev_score is None and c.dev_seen == 0],
                             rung, len(dev), budget, _setup_cost(deps, opts))
    if len(pending) <= 2 or rung >= len(dev):
        return _score(deps, opts, pending, dev, budget, len(dev))
    settled = [c for c in pending if _uncut(c)]
    calls, errors = _score(deps, opts, settled, dev, budget, len(dev))
    challengers = [c for c in pending if not _uncut(c)]
    if errors or not challengers:
        return calls, errors
    more, errors = _score(deps, opts, challengers, dev[:rung], budget - calls, len(dev))
    calls += more
    if errors:
        return calls, errors
    raced = [c for c in challengers if c.dev_seen == rung]
    keep = _challengers_kept(len(settled) + len(raced), len(settled))
    # Stable: on ties the earlier candidate goes on.
    ranked = sorted(raced, key=lambda c: -(c.dev_partial or 0.0))
    for loser in ranked[keep:]:
        loser.note = f"stopped after {rung} of {len(dev)} dev examples in the race"
    more, errors = _score(deps, opts, ranked[:keep], dev, budget - calls, len(dev))
    return calls + more, errors


def _uncut(candidate: Candidate) -> bool:
    """Whether the race sends it on to all of dev whatever its first rung."""
    return candidate.baseline or candidate.never_cut


def _challengers_kept(raced: int, settled: int) -> int:
    """Challengers past the first rung: the better half of all raced (at least two),
    less the ``settled`` that go on anyway, and at least one."""
    return max(1, max(2, -(-raced // 2)) - settled)


def _scoring_order(pending: list[Candidate]) -> list[Candidate]:
    """Baselines and ``never_cut`` first, and among those the prompts with per-input
    (nearest) demonstrations first; otherwise as given. Under a time limit the last in
    line may get no dev score: the nearest-k seed was the stronger free seed in the mean
    of every benchmark set (39.7 against 35.2 for three random examples, 13.8 against
    13.1, 33.7 against 30.4), yet came second and went unscored on geometric_shapes
    (test 26 before, 6 after). Only the order of scoring changes: the population's order,
    which breaks ties on dev, stays."""
    # Stable: within each group the given order stays.
    return sorted(pending, key=lambda c: (not _uncut(c),
                                          _uncut(c) and parse_dynamic(c.text) is None))


SetupCost = Callable[[Candidate], int]  # calls a candidate costs before its first answer


def _race_cost(entrants: list[Candidate], rung: int, full: int,
               setup: SetupCost = lambda _: 0) -> int:
    """Calls to race ``entrants`` to the end: each one's ``setup`` (a kNN prompt's
    anchors), the first rung for each, the rest of dev for the survivors; all of dev for
    each when two or fewer race (no cut then)."""
    ready = sum(setup(c) for c in entrants)
    if len(entrants) <= 2 or rung >= full:
        return ready + len(entrants) * full
    settled = sum(1 for c in entrants if _uncut(c))
    keep = min(_challengers_kept(len(entrants), settled), len(entrants) - settled)
    return ready + len(entrants) * rung + (settled + keep) * (full - rung)


def _race_entrants(pending: list[Candidate], rung: int, full: int, budget: int,
                   setup: SetupCost = lambda _: 0) -> list[Candidate]:
    """The candidates the budget can race to the end, in ``_scoring_order``: a rung whose
    survivors cannot finish dev buys nothing (late in a run that spent the rung on three
    children and scored none). The rest get a note and no score."""
    order = _scoring_order(pending)
    size = next((n for n in range(len(order), 0, -1)
                 if _race_cost(order[:n], rung, full, setup) <= budget), 0)
    for left_out in order[size:]:
        left_out.note = "not scored: the calls left could not pay for its race on dev"
    return order[:size]


def _score(deps: OptimizeDeps, opts: Mapping[str, Any], candidates: list[Candidate],
           examples: list[Any], budget: int, full: int) -> tuple[int, list[str]]:
    """Score each candidate on ``examples`` while the budget and the time limit last;
    (calls, errors). ``full`` is the dev set's size: only a candidate scored on all of
    it gets a score."""
    target, calls = deps.model_for("target", 0.0), 0
    demos_for, gold_answers = deps.demos_for(opts["task"]), _gold_answers(deps, opts)
    time_up, setup = _time_up(deps, opts), _setup_cost(deps, opts)
    for candidate in candidates:
        # Cached answers cost nothing: only the examples not seen yet are paid for.
        if calls + setup(candidate) + len(examples) - candidate.dev_seen > budget:
            break
        try:
            result = evaluate_prompt(target, candidate.text, examples,
                                     scorer=_scorer(deps, opts),
                                     cache=deps.answer_cache, stop=deps.stop,
                                     demos_for=demos_for, gold_answers=gold_answers,
                                     time_up=time_up, anchors=deps.anchors(opts["task"]))
        except NoLogprobsError:
            # A kNN prompt on a backend without log-probabilities: that prompt cannot
            # run here; the others can.
            candidate.note = ("not scored: the target gives no next-token "
                              "log-probabilities, which kNN prompting reads")
            continue
        except Exception as exc:
            typed = as_model_error(exc, target)
            if typed is None:
                raise
            return calls, [f"target model failed: {typed}"]
        calls += result.calls
        _record_dev_run(candidate, result, len(examples), full)
        if not result.finished:
            break
    return calls, []


def _setup_cost(deps: OptimizeDeps, opts: Mapping[str, Any]) -> SetupCost:
    """Calls each candidate costs on the target before its first answer: a kNN prompt's
    anchors not paid yet, less those that are dev inputs (their call is the input's);
    nothing for any other."""
    anchors = deps.anchors(opts.get("task"))
    if anchors is None:
        return lambda _: 0
    target = deps.model_for("target", 0.0)
    dev = frozenset(e.input for e in deps.task(opts["task"]).dev)
    return lambda candidate: anchor_calls_due(target, candidate.text, anchors, dev)


def _record_dev_run(candidate: Candidate, result: EvalResult, examples: int, full: int
                    ) -> None:
    """Keep a scoring run of ``candidate`` on the first ``examples`` of ``full`` dev
    examples. A run the time limit cut short still gets a score, on the examples it
    answered, once they are half of dev (and ``MIN_CONFIRM``): the guard pairs it with
    the original on those. With none, causal_judgement's nearest-3 seed, stopped 3
    examples short of 32 on a slower machine, was never weighed and the original stayed
    (test 60 before, 48 after)."""
    answered = len(result.hits)
    candidate.dev_unfit += result.unfit
    if result.finished:
        candidate.dev_seen, candidate.dev_partial = examples, result.accuracy
        if examples == full:
            candidate.dev_score, candidate.dev_hits = result.accuracy, result.hits
    elif examples == full and answered >= max(MIN_CONFIRM, -(-full // 2)):
        candidate.dev_seen, candidate.dev_partial = answered, result.accuracy
        candidate.dev_score, candidate.dev_hits = result.accuracy, result.hits
        candidate.note = (f"scored on {answered} of {full} dev examples: the time limit "
                          "came during its run")
    else:  # its answers are cached; it has no score
        candidate.note = "not scored: the time limit came during its run on dev"


def _without_leaks(deps: OptimizeDeps, opts: Mapping[str, Any], candidates: list[Candidate]
                   ) -> tuple[list[Candidate], list[str]]:
    """``candidates`` minus those carrying a dev or test example with its answer, and
    an event for each one dropped."""
    if not opts.get("task"):
        return candidates, []
    task = deps.task(opts["task"])
    kept, events = [], []
    for candidate in candidates:
        leaked = leaked_examples(candidate.text, [*task.dev, *task.confirm, *task.test])
        if leaked:
            events.append(f"dropped candidate {candidate.id}: it carries {len(leaked)} held-out "
                          f"example(s) with their answers (e.g. {leaked[0].input!r})")
        else:
            kept.append(candidate)
    return kept, events


def _reflect(deps: OptimizeDeps, opts: Mapping[str, Any], candidate: Candidate,
             generation: int, budget: int) -> tuple[list[Miss], list[Example], int, list[str]]:
    """The target's mistakes with ``candidate`` on a minibatch of *training* examples
    (never dev: see ``agents.failures``), and the examples it got right (bootstrapped
    demonstrations); (misses, right, calls, errors). Empty without a task or without
    the budget for it."""
    if not opts.get("task"):
        return [], [], 0, []
    batch = reflection_batch(deps.task(opts["task"]).train, generation)
    if not batch or len(batch) > budget:
        return [], [], 0, []
    target = deps.model_for("target", 0.0)
    try:
        result = evaluate_prompt(target, candidate.text, batch, scorer=_scorer(deps, opts),
                                 cache=deps.answer_cache, stop=deps.stop,
                                 demos_for=deps.demos_for(opts["task"]),
                                 gold_answers=_gold_answers(deps, opts),
                                 time_up=_time_up(deps, opts),
                                 anchors=deps.anchors(opts["task"]))
    except Exception as exc:
        typed = as_model_error(exc, target)
        if typed is None:
            raise
        return [], [], 0, [f"target model failed: {typed}"]
    done = batch[:len(result.hits)]  # all of it unless the time limit came first
    misses = [Miss(e.input, answer, e.output)
              for e, answer, hit in zip(done, result.answers, result.hits, strict=True)
              if not hit]
    right = [e for e, hit in zip(done, result.hits, strict=True) if hit]
    return misses, right, result.calls, []


def _sample_outputs(deps: OptimizeDeps, candidates: list[Candidate], budget: int
                    ) -> tuple[int, list[str]]:
    target, calls = deps.model_for("target", 0.0), 0
    for candidate in candidates:
        if candidate.sample_output is not None:
            continue
        if calls + 1 > budget:
            break
        try:
            answer = invoke_model(target, [HumanMessage(candidate.text)]).text
        except ModelError as exc:
            return calls + 1, [f"target model failed: {exc}"]
        candidate.sample_output = " ".join(answer.split())[:SAMPLE_CHARS]
        calls += 1
    return calls, []


def _vote_sends(deps: OptimizeDeps, state: Mapping[str, Any], population: list[str],
                round_number: int, debate: str = "") -> list[Send]:
    opts, candidates = state["options"], state["candidates"]
    original_id = population[0]
    population = [original_id, *_voted_ids(state, population)]
    # Each voter gets an equal share of what is left, so retries can never overspend.
    share = max(0, _left(deps, state)) // opts["voters"]
    return [
        Send("vote", VoteTask(
            voter=voter.__dict__, original=candidates[original_id]["text"],
            candidates=[candidates[c] for c in population], round=round_number,
            generation=state["generation"], debate=debate, run_id=state["run_id"],
            budget=share,
        ))
        for voter in make_voters(opts["voters"])
    ]


def _voted_ids(state: Mapping[str, Any], population: list[str]) -> list[str]:
    """Who the validators vote on besides the original: everyone without a task; with
    one, only the dev leader not vetoed yet (the candidate that would be adopted)."""
    if not state["options"].get("task"):
        return population[1:]
    vetoed = vetoed_ids(state.get("ballots", []), population[0])  # walks down the ranking
    scored = [state["candidates"][c] for c in population[1:]
              if state["candidates"][c].get("dev_score") is not None and c not in vetoed]
    if not scored:
        return []
    return [max(scored, key=lambda c: c["dev_score"])["id"]]


def _history(candidates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Earlier instructions with their dev accuracy, for the proposer (OPRO-style)."""
    return history_lines([(c["text"], c["dev_score"]) for c in candidates.values()
                          if c.get("dev_score") is not None])


def _scoring_phase(opts: Mapping[str, Any]) -> str:
    """What scoring a candidate costs calls for: dev examples, or one sample answer."""
    return "dev_scoring" if opts.get("task") else "sample_answers"


def _vote_cost(opts: dict[str, Any], population: list[str]) -> int:
    if not opts.get("agents", True):
        return 0
    return int(opts["voters"]) * (2 if opts.get("task") else len(population))



def _unfit_inputs(original: Candidate, dev_size: int) -> tuple[list[str], list[str]]:
    """(events, errors) when dev inputs do not fit the target's context with the
    instruction alone: a note when some do not (they score as wrong), an error when none
    does (every prompt would score 0, and the search would spend its budget on that)."""
    if not original.dev_unfit:
        return [], []
    told = (f"{original.dev_unfit} of {dev_size} dev inputs do not fit the target model's "
            "context with the instruction alone; shorten them, or raise the context "
            "(NEUROFORGE_EMBEDDED_N_CTX for the embedded model)")
    if original.dev_unfit >= dev_size:
        return [], [f"task: {told}"]
    return [f"note: {told}; they score as wrong"], []


def prepare(state: OptimizeState, deps: OptimizeDeps) -> Command[Any]:
    opts = resolve_options(state)
    if opts["task"]:
        check_task_size(deps.task(opts["task"]))
    check_budget(opts, len(deps.task(opts["task"]).dev) if opts["task"] else 0, deps.attempts)
    opts["confirm_examples"], opts["confirm_prompts"] = (
        confirm_plan(opts, deps.task(opts["task"]), deps.attempts) if opts["task"] else (0, 0))
    opts["started_at"] = deps.clock()
    run_id = state.get("run_id") or new_id()
    original = Candidate(id=new_id(), text=state["prompt"].strip(), origin="original")
    calls, errors = _score_on_dev(deps, opts, [original], opts["budget"])
    unfit_note, unfit_error = _unfit_inputs(original, len(deps.task(opts["task"]).dev)
                                            if opts["task"] else 0)
    errors += unfit_error
    misses, right, reflect_calls, reflect_errors = (
        _reflect(deps, opts, original, 0, opts["budget"] - calls) if not unfit_error
        else ([], [], 0, []))
    errors += reflect_errors
    deps.record(lambda s: _record_start(s, run_id, opts, original))
    event = "prepare: run " + run_id + (
        f", original scores {original.dev_score:.0%} on {len(deps.task(opts['task']).dev)}"
        " dev examples" if original.dev_score is not None else "")
    past, recall_event = _recall_past(deps, original.text)
    failed = failure_finding(misses, REFLECTION_SIZE)
    findings = [*past, *([failed] if failed is not None else [])]
    update: dict[str, Any] = {"options": opts, "run_id": run_id, "generation": 0, "round": 0,
              "candidates": {original.id: original.model_dump()},
              "population_ids": [original.id], "calls_used": calls + reflect_calls,
              "calls_by_phase": {_scoring_phase(opts): calls, "reflection": reflect_calls},
              "events": [event, *unfit_note, *recall_event,
                         *([f"reflection: {failed.issue}"] if failed is not None else [])],
              "errors": errors, "findings": [f.model_dump() for f in findings],
              "bootstrapped": _rows(right)}
    if opts["train_evidence"] and not errors:
        update = _with_free_choice_made(deps, update, original)
        errors = list(update["errors"])
    if errors:
        return Command(update=update, goto="finish")
    if not opts["agents"]:
        return Command(update=update, goto="propose")
    sends = [Send("analyse", AnalyseTask(prompt=original.text, perspective=p,
                                         finding_id=f"F{i + 1}", run_id=run_id,
                                         failures=failure_lines(misses)))
             for i, p in enumerate(PERSPECTIVES)]
    return Command(update=update, goto=sends)

def analyse(task: AnalyseTask, deps: OptimizeDeps) -> dict[str, Any]:
    model = deps.model_for("analyst", None)
    try:
        finding, calls = analyse_perspective(model, task["prompt"], task["perspective"],
                                             task["finding_id"], attempts=deps.attempts,
                                             failures=task.get("failures", []))
    except StructuredOutputError as exc:
        return {"calls_used": exc.attempts, "calls_by_phase": {"analysis": exc.attempts},
                "events": [f"analyst/{task['perspective']}: no valid finding ({exc.error})"]}
    except ModelError as exc:
        return {"calls_used": 1, "calls_by_phase": {"analysis": 1},
                "errors": [f"analyst: {exc}"]}
    deps.record(lambda s: records.save_message(
        s, task["run_id"], f"analyst/{task['perspective']}", finding.issue,
        finding.model_dump()))
    return {"findings": [finding.model_dump()], "calls_used": calls,
            "calls_by_phase": {"analysis": calls},
            "events": [f"analyst/{task['perspective']}: {finding.issue[:80]}"]}

def propose(state: OptimizeState, deps: OptimizeDeps) -> Command[Any]:
    if state.get("errors"):
        return Command(goto="finish")
    opts = state["options"]
    original = _candidate(state["candidates"][state["population_ids"][0]])
    findings = [Finding.model_validate(f) for f in state.get("findings", [])]
    train = deps.task(opts["task"]).train if opts["task"] else None
    # With a labelled task the cheap, strong candidates come first (the instruction with
    # training demonstrations: what a user gets for free); rewrites take what is left.
    rewrites = 1 if opts["agents"] else 0  # slots the creative agent gets at the least
    seeds = (fill_population(original, [], train, max(opts["population"] - rewrites, 1),
                             opts["seed"], _examples(state.get("bootstrapped", [])),
                             knn=bool(opts.get("knn_seed")))
             if train is not None else [])
    # With train evidence the free prompts are made and scored already: not again.
    free_ids = [i for i in (state.get("free_choice") or {}).get("ids", [])[1:]
                if state["candidates"][i].get("dev_score") is not None]
    made = {state["candidates"][i]["text"] for i in free_ids}
    seeds = [c for c in seeds if c.text not in made]
    new, calls, errors, events = (
        _new_rewrites(deps, state, original, findings, opts["population"] - len(seeds))
        if opts["agents"] else ([], 0, [], []))
    new, leak_events = _without_leaks(deps, opts, seeds + new)
    events += leak_events
    if train is None:
        new += fill_population(original, new, None, opts["population"], opts["seed"])
    dev_calls, dev_errors = _score_on_dev(deps, opts, new, _remaining(deps, state, calls))
    population = [original.id, *free_ids, *(c.id for c in new)]
    update: dict[str, Any] = {
        "candidates": {c.id: c.model_dump() for c in new}, "population_ids": population,
        "generation": 1, "round": 0, "calls_used": calls + dev_calls,
        "calls_by_phase": {"proposals": calls, _scoring_phase(opts): dev_calls},
        "errors": errors + dev_errors,
        "events": [*events, f"creative: {len(new)} candidates "
                            f"({', '.join(c.origin for c in new)})"],
    }
    deps.record(lambda s: records.save_candidates(s, state["run_id"],
                                                  [c.model_dump() for c in new]))
    return _after_candidates(deps, state, update)

def vote(task: VoteTask, deps: OptimizeDeps) -> dict[str, Any]:
    voter = VoterSpec(**task["voter"])
    model = deps.model_for("validator", voter.temperature)
    ballots: list[Ballot] = []
    calls = 0
    cap = task.get("budget", len(task["candidates"]) * deps.attempts)
    for candidate in task["candidates"]:
        if deps.stop.is_set():  # fail the branch: a resume casts these ballots again
            raise OptimizeStopped(f"{voter.name} stopped after {len(ballots)} ballots")
        if cap - calls < 1:
            ballots.append(Ballot(voter=voter.name, candidate_id=candidate["id"],
                                  decision="abstain", valid=False, round=task["round"],
                                  generation=task["generation"],
                                  rationale="invalid ballot: no budget left for it"))
            continue
        evidence = _evidence(task["candidates"][0], candidate)
        try:
            ballot, used = cast_ballot(model, voter, task["original"], candidate["id"],
                                       candidate["text"], evidence=evidence,
                                       debate=task["debate"], round_number=task["round"],
                                       generation=task["generation"],
                                       attempts=min(deps.attempts, cap - calls))
        except ModelError as exc:
            return {"ballots": [b.model_dump() for b in ballots], "calls_used": calls + 1,
                    "calls_by_phase": {"ballots": calls + 1},
                    "errors": [f"{voter.name}: {exc}"]}
        ballots.append(ballot)
        calls += used
    return {"ballots": [b.model_dump() for b in ballots], "calls_used": calls,
            "calls_by_phase": {"ballots": calls}}

def _evidence(original: Mapping[str, Any], candidate: Mapping[str, Any]) -> str:
    """What the prompts did: dev accuracy with a task, else the target's sample answers."""
    if candidate.get("dev_score") is not None and original.get("dev_score") is not None:
        # Accuracy is measured, so the voters' job is the veto: what dev cannot see.
        return (f"Measured on the task's dev examples: candidate "
                f"{candidate['dev_score']:.0%} correct, original {original['dev_score']:.0%}. "
                "Reject the candidate only if it changes what the task asks, is unsafe, or "
                "breaks the answer format; otherwise accept it.")
    if candidate.get("sample_output") is None:
        return ""
    said = [f"The target model's answer to the {which} prompt:\n"
            f"{quote(entry.get('sample_output') or '(none)', 'target_answer')}"
            for which, entry in (("original", original), ("candidate", candidate))]
    return "\n".join(said)


def tally(state: OptimizeState, deps: OptimizeDeps) -> Command[Any]:
    opts, population = state["options"], state["population_ids"]
    current = [Ballot.model_validate(b) for b in state.get("ballots", [])
               if b["generation"] == state["generation"] and b["round"] == state["round"]]
    rule = make_rule(opts["vote_rule"], opts["min_agreement"])
    weights = _reliability(deps, current) if opts["vote_rule"] == "reliability" else None
    outcome = rule.decide(current, _voted_ids(state, population), weights)
    scores = mean_scores(current)
    deps.record(lambda s: records.save_ballots(s, state["run_id"],
                                               [b.model_dump() for b in current]))
    update: dict[str, Any] = {
        "consensus": outcome.model_dump(), "consensus_scores": scores,
        "events": [f"consensus g{state['generation']} r{state['round']}: {outcome.reason} "
                   f"({outcome.invalid_ballots} invalid, {outcome.abstentions} abstained)"]}
    debate_ok = (not outcome.reached and state["round"] < opts["debate_rounds"]
                 and not state.get("errors")
                 and _remaining(deps, state) >= _vote_cost(opts, population))
    if debate_ok:
        rationales = "\n".join(f"- {b.voter} on {b.candidate_id}: {b.decision}, "
                               f"{b.rationale[:120]}" for b in current if b.valid)
        merged = {**state, "round": state["round"] + 1}
        return Command(update={**update, "round": state["round"] + 1},
                       goto=_vote_sends(deps, merged, population, state["round"] + 1,
                                       rationales))
    return Command(update={**update, "accepted_ids": outcome.accepted}, goto="evolve")

def evolve(state: OptimizeState, deps: OptimizeDeps) -> Command[Any]:
    opts, generation = state["options"], state["generation"]
    population = [_candidate(state["candidates"][c]) for c in state["population_ids"]]
    scores = {**state.get("consensus_scores", {})}
    measured = bool(opts["task"])
    best = max(fitness(c, scores, measured) for c in population)
    history = [*state.get("best_by_generation", []), best]
    stop = stop_reason(failed=bool(state.get("errors")), generation=generation,
                       max_generations=opts["generations"], remaining=_remaining(deps, state),
                       vote_cost=_vote_cost(opts, state["population_ids"]), history=history,
                       out_of_time=_out_of_time(deps, state))
    if stop:
        return Command(update={"best_by_generation": [best], "stop_reason": stop},
                       goto="finish")
    # The parent offspring() breeds from, so the failures shown are that parent's.
    elite = breeding_parents(population, scores, 1, measured=measured,
                             original=population[0].text)[0]
    misses, right, reflect_calls, reflect_errors = _reflect(
        deps, opts, elite, generation, _remaining(deps, state) - deps.attempts)
    children, calls, errors, notes = offspring(
        population, scores, known_texts=[c["text"] for c in state["candidates"].values()],
        ballots=state.get("ballots", []), generation=generation + 1, size=opts["population"],
        seed=opts["seed"], train=deps.task(opts["task"]).train if opts["task"] else None,
        mutator=(deps.model_for("optimizer", None)
                 if opts["agents"] and _remaining(deps, state, reflect_calls) >= deps.attempts
                 else None),
        attempts=deps.attempts, failures=failure_lines(misses),
        history=_history(state["candidates"]), bootstrapped=right,
        original=population[0].text)
    children, leak_events = _without_leaks(deps, opts, children)
    leak_events += notes
    errors += reflect_errors
    calls_by_phase = {"proposals": calls, "reflection": reflect_calls}
    calls += reflect_calls
    if not children and not errors:
        return Command(update={"best_by_generation": [best], "calls_used": calls,
                               "calls_by_phase": calls_by_phase, "events": leak_events,
                               "stop_reason": "no new candidates"}, goto="finish")
    dev_calls, dev_errors = _score_on_dev(deps, opts, children, _remaining(deps, state, calls))
    elites = [c.id for c in select_elites(population[1:], scores, 2, measured)]
    update: dict[str, Any] = {
        "best_by_generation": [best], "generation": generation + 1, "round": 0,
        "candidates": {c.id: c.model_dump() for c in children},
        "population_ids": [population[0].id, *elites, *[c.id for c in children]],
        "calls_used": calls + dev_calls, "errors": errors + dev_errors,
        "bootstrapped": _rows(right),
        "calls_by_phase": {**calls_by_phase, _scoring_phase(opts): dev_calls},
        "events": [*leak_events, f"optimizer g{generation}: best {best:.2f}; "
                   f"{len(children)} offspring for generation {generation + 1}"],
    }
    deps.record(lambda s: records.save_candidates(s, state["run_id"],
                                                  [c.model_dump() for c in children]))
    # _after_candidates adds this generation's calls to the state's: hand it the state
    # itself (a merged one counted this generation twice and lost the earlier ones).
    return _after_candidates(deps, state, update)




def create_optimize_graph(deps: OptimizeDeps) -> StateGraph:
    """The optimize graph, uncompiled. Compile with a checkpointer for resumable runs."""
    graph = StateGraph(OptimizeState, input_schema=OptimizeInput, output_schema=OptimizeOutput)
    graph.add_node("prepare", partial(prepare, deps=deps),
                   destinations=("analyse", "propose", "finish"))
    # Branch nodes take their Send payload, not the graph state: say so with input_schema.
    graph.add_node("analyse", partial(analyse, deps=deps), input_schema=AnalyseTask)  # type: ignore[arg-type]
    graph.add_node("propose", partial(propose, deps=deps),
                   destinations=("vote", "evolve", "finish"))
    graph.add_node("vote", partial(vote, deps=deps), input_schema=VoteTask)  # type: ignore[arg-type]
    graph.add_node("tally", partial(tally, deps=deps), destinations=("vote", "evolve"))
    graph.add_node("evolve", partial(evolve, deps=deps),
                   destinations=("vote", "evolve", "finish"))
    graph.add_node("finish", partial(finish, deps=deps))
    graph.add_edge(START, "prepare")
    graph.add_edge("analyse", "propose")
    graph.add_edge("vote", "tally")
    graph.add_edge("finish", END)
    return graph




def _record_start(session: Any, run_id: str, opts: dict[str, Any], original: Candidate) -> None:
    records.start_run(session, "optimize", opts, run_id)
    records.save_candidates(session, run_id, [original.model_dump()])


def _after_candidates(deps: OptimizeDeps, state: Mapping[str, Any], update: dict[str, Any]
                      ) -> Command[Any]:
    """Send the new population to the voters, or stop when it cannot be voted on."""
    merged = {**state, **update,
              "candidates": {**state.get("candidates", {}), **update.get("candidates", {})},
              "calls_used": state.get("calls_used", 0) + update.get("calls_used", 0)}
    population = update["population_ids"]
    if update.get("errors") or state.get("errors"):
        return Command(update={**update, "stop_reason": "model failure"}, goto="finish")
    if len(population) < 2:
        return Command(update={**update, "stop_reason": "no candidates"}, goto="finish")
    if _left(deps, merged) < _vote_cost(merged["options"], population):
        reason = "time limit reached" if _out_of_time(deps, merged) else "budget exhausted"
        return Command(update={**update, "stop_reason": reason}, goto="finish")
    if not merged["options"]["agents"] or not _voted_ids(merged, population):
        return Command(update=update, goto="evolve")  # nothing for the validators to veto
    return Command(update=update, goto=_vote_sends(deps, merged, population, 0))


def _new_rewrites(deps: OptimizeDeps, state: OptimizeState, original: Candidate,
                  findings: list[Finding], slots: int
                  ) -> tuple[list[Candidate], int, list[str], list[str]]:
    """Up to ``slots`` model-written rewrites, each distinct from the rest."""
    model = deps.model_for("creative", None)
    new: list[Candidate] = []
    calls, events, unusable = 0, [], list[StructuredOutputError]()
    for style in range(slots * 2):
        if deps.stop.is_set():
            raise OptimizeStopped(f"creative stopped after {len(new)} rewrites")
        if len(new) >= slots or _remaining(deps, state, calls) < deps.attempts:
            break
        try:
            reply, used = propose_rewrite(model, original.text, findings, style,
                                          [original.text] + [c.text for c in new],
                                          attempts=deps.attempts)
        except StructuredOutputError as exc:
            calls += exc.attempts
            unusable.append(exc)
            events.append(f"creative: style {style} gave no valid rewrite")
            continue
        except ModelError as exc:
            return new, calls + 1, [f"creative: {exc}"], events
        calls += used
        if not keeps_the_task(reply.prompt, original.text):
            events.append(f"creative: style {style} wrote no usable instruction (a statement, "
                          "or the review frame copied); dropped")
        elif is_distinct(reply.prompt, [original.text] + [c.text for c in new]):
            new.append(Candidate(id=new_id(), text=reply.prompt, origin="rewrite", generation=1,
                                 parents=[original.id], addresses=reply.addresses))
        else:
            events.append(f"creative: style {style} was a paraphrase; dropped")
    if unusable and not new:
        events.append(proposer_note("creative", unusable[-1], len(unusable)))
    return new, calls, [], events


def _reliability(deps: OptimizeDeps, ballots: list[Ballot]) -> dict[str, float] | None:
    if deps.store is None:
        return None
    with deps.store.session() as session:
        return records.voter_reliability(session, {b.voter for b in ballots})


def finish(state: OptimizeState, deps: OptimizeDeps) -> dict[str, Any]:
    """Pick the final prompt, measure it on the held-out test split, record the run."""
    opts = state.get("options") or {}
    candidates = {k: _candidate(v) for k, v in state.get("candidates", {}).items()}
    original = candidates[state["population_ids"][0]]
    scores = state.get("consensus_scores", {})
    final, guard, phases, errors = _final_choice(deps, state, original, candidates, scores)
    searched = deps.clock()
    test, phases["test"], test_errors = _test_scores(deps, opts, original, final)
    started = float(opts.get("started_at", searched))
    result = _result(state, original, final, scores, test, phases) | {
        "guard": guard, "search_seconds": round(searched - started, 2),
        "seconds": round(deps.clock() - started, 2)}
    if not opts.get("task"):  # who gave the scores: a reader must know how much they weigh
        result["judge"] = model_identity(deps.model_for("validator", None))[0]
    measured, accepted = bool(opts.get("task")), set(state.get("accepted_ids", []))
    flagged = [c.model_dump() | {"score": None if measured and c.dev_score is None
                                 else fitness(c, scores, measured),
                                 "accepted": c.id in accepted,
                                 "final": c.id == final.id} for c in candidates.values()]
    deps.record(lambda s: records.save_candidates(s, state["run_id"], flagged))
    deps.record(lambda s: records.finish_run(
        s, state["run_id"], status="failed" if state.get("errors") else "succeeded",
        outputs=result, calls_used=result["calls_used"],
        error="; ".join(state.get("errors", [])) or None))
    _remember_result(deps, result)
    return {"result": result, "calls_used": sum(phases.values()), "calls_by_phase": phases,
            "errors": errors + test_errors,
            "events": [f"finish: {result['stop_reason']}; optimized {result['optimized_score']}"
                       f" vs original {result['original_score']}"]}


def _final_choice(deps: OptimizeDeps, state: OptimizeState, original: Candidate,
                  candidates: dict[str, Candidate], scores: dict[str, float]
                  ) -> tuple[Candidate, dict[str, Any] | None, dict[str, int], list[str]]:
    """The final prompt, the guard's verdict (with a task), calls by phase, errors."""
    opts = state.get("options") or {}
    if not opts.get("task"):
        accepted = set(state.get("accepted_ids", []))
        eligible = [original] + [c for c in candidates.values() if c.id in accepted]
        # The original wins ties: a change must earn its place.
        return (max(eligible, key=lambda c: (fitness(c, scores), c.id == original.id)),
                None, {}, [])
    # Measured accuracy decides, behind a paired test; ballots only veto or break ties.
    vetoed = vetoed_ids(state.get("ballots", []), original.id)
    evidence = (state.get("free_choice") or {}).get("evidence")
    control = candidates[evidence["chosen"]] if evidence else original
    # With the free choice made on train, the searched prompts are weighed against it.
    free = set(evidence["right"]) if evidence else set()
    rivals = [c for c in candidates.values() if c.id not in free or c.id == control.id]
    ranked = finalists(control, rivals, vetoed, scores)
    confirm, calls, errors = _confirm(deps, state, control, ranked)
    confirm_on = "more examples"
    if not confirm and not errors and evidence is None:
        confirm, calls, errors = _cross_check(deps, state, original, ranked)
        confirm_on = CROSS_CHECKED
    final, guard = guarded_choice(control, rivals, vetoed, scores, confirm, confirm_on)
    if evidence is not None:
        guard = with_free_choice(guard, final, control, original, evidence)
    return final, guard | {"vetoed": sorted(vetoed)}, {"confirmation": calls}, errors


# Of the time limit, the share the free choice may take before the search: a BBH prompt
# with five long examples costs several seconds a call, and the train run of three
# prompts could otherwise spend all of it; the search gets the rest.
FREE_TIME_SHARE = 0.5


def _with_free_choice_made(deps: OptimizeDeps, update: dict[str, Any], original: Candidate
                           ) -> dict[str, Any]:
    """``prepare``'s update with the free choice made (``_free_choice``): the free
    prompts among the candidates, the choice in ``free_choice``, the calls counted."""
    free, evidence, calls, errors = _free_choice(deps, update, original)
    made = free[1:]  # the original leads the free prompts and is a candidate already
    where = (f"the free choice on train and dev: {evidence['right']}" if evidence
             else "the free choice: too few answers in the time or budget; dev decides")
    return {**update, "candidates": {**update["candidates"],
                                     **{c.id: c.model_dump() for c in made}},
            "calls_used": update["calls_used"] + calls, "errors": [*update["errors"], *errors],
            "calls_by_phase": {**update["calls_by_phase"], "free_choice": calls},
            "events": [*update["events"], where],
            "free_choice": {"ids": [c.id for c in free], "evidence": evidence}}


def _free_choice(deps: OptimizeDeps, state: Mapping[str, Any], original: Candidate
                 ) -> tuple[list[Candidate], dict[str, Any] | None, int, list[str]]:
    """The free prompts (``free_dynamic_texts``) scored on dev, then run on the last
    training examples what is left pays for (each input leaving itself out of its
    examples), within ``FREE_TIME_SHARE`` of the time limit; (the free prompts, the
    evidence for the guard, calls, errors). The evidence names the one right most often
    on train + dev; it is None with fewer than ``MIN_CONFIRM`` training answers each,
    and the guard then decides on dev as it does without train evidence."""
    opts, task = state["options"], deps.task(state["options"]["task"])
    if opts.get("time_limit"):
        opts = {**opts, "time_limit": float(opts["time_limit"]) * FREE_TIME_SHARE}
    free = [original, *(Candidate(id=new_id(), text=text, origin="demonstrations",
                                  generation=0, parents=[original.id], baseline=True)
                        for text in free_dynamic_texts(original.text)[1:])]
    calls, errors = _score(deps, opts, free[1:], task.dev, _left(deps, state), len(task.dev))
    scored = [c for c in free if c.dev_hits is not None]
    size = min(TRAIN_EVIDENCE_SIZE, len(task.train), _train_in_time(deps, opts, len(task.dev)),
               (_left(deps, state, calls) + REFLECTION_SIZE) // max(len(scored), 1))
    if errors or len(scored) < 2 or size < MIN_CONFIRM:
        return free, None, calls, errors
    # The last ones: the reflection ran the instruction on those, so they are cached.
    hits, more, errors = _interleaved_hits(deps, opts, scored, task.train[-size:])
    if not hits:
        return free, None, calls + more, errors
    chosen, counts, dev = leader_on_evidence(scored, hits)
    answered = len(next(iter(hits.values())))
    return free, evidence_record(chosen, counts, answered, dev), calls + more, errors


def _train_in_time(deps: OptimizeDeps, opts: Mapping[str, Any], dev_size: int) -> int:
    """Training examples the free prompts can all answer in the time ``opts`` leaves, at
    the rate of their dev runs so far (the run's time over dev's examples); no bound
    without a limit. Fewer than ``MIN_CONFIRM`` skips the train run, and its time goes to
    the search instead of answers too few to decide on."""
    if not opts.get("time_limit"):
        return TRAIN_EVIDENCE_SIZE
    now, started = deps.clock(), float(opts["started_at"])
    per_example = max(now - started, 1e-6) / max(dev_size, 1)
    return max(0, int((started + float(opts["time_limit"]) - now) / per_example))


TRAIN_CHUNK = 8  # training examples each free prompt answers before the next takes its turn


def _interleaved_hits(deps: OptimizeDeps, opts: Mapping[str, Any], prompts: list[Candidate],
                      examples: list[Example]
                      ) -> tuple[dict[str, list[bool]], int, list[str]]:
    """``_hits_by_id`` on the training examples, the prompts taking turns a chunk at a
    time: when the time limit comes, every prompt has answered nearly the same prefix,
    where one after the other would leave the last (the slowest, + 5 nearest) with few."""
    hits: dict[str, list[bool]] = {c.id: [] for c in prompts}
    calls = 0
    for start in range(0, len(examples), TRAIN_CHUNK):
        chunk = examples[start:start + TRAIN_CHUNK]
        got, used, errors = _hits_by_id(deps, opts, prompts, chunk, "the training examples")
        calls += used
        if errors:
            return {}, calls, errors
        if any(len(h) < len(chunk) for h in got.values()) or len(got) < len(prompts):
            break  # the time limit came during this chunk; the finished ones stand
        for key, value in got.items():
            hits[key] += value
    done = min(len(h) for h in hits.values())
    return ({k: h[:done] for k, h in hits.items()} if done >= MIN_CONFIRM else {}), calls, []


CROSS_CHECKED = "training examples it does not show (each leaves itself out)"


def _cross_check(deps: OptimizeDeps, state: OptimizeState, original: Candidate,
                 ranked: list[Candidate]) -> tuple[dict[str, list[bool]], int, list[str]]:
    """Without a confirmation slice (a small task, or no budget for one), the right/wrong
    answers of the original and of a free seed that dev alone cannot decide for
    (``undecided_seed``) on the training examples the seed does not show, as far as
    what is left pays; (hits by candidate id, calls, errors). The seed runs as it will
    once chosen, picking from every labelled example but the input itself: 13 dev
    examples (instruction induction's cause_and_effect) cannot tell a 20-point gain
    from luck, 26 often can."""
    seed, opts = undecided_seed(original, ranked), state["options"]
    if seed is None:
        return {}, 0, []
    shown = {e.input for e in split_demonstrations(seed.text)[1]}
    train = [e for e in deps.task(opts["task"]).train if e.input not in shown]
    examples = train[:max(0, _left(deps, state)) // 2]
    if not examples:
        return {}, 0, []
    return _hits_by_id(deps, opts, [original, seed], examples, "the training examples",
                       pool="labelled")


def _confirm(deps: OptimizeDeps, state: OptimizeState, original: Candidate,
             ranked: list[Candidate]) -> tuple[dict[str, list[bool]], int, list[str]]:
    """The right/wrong answers of the original and the ``finalists`` on the task's
    confirmation slice, when there is a leader and the budget pays for the slice; both
    finalists only when the plan and what is left pay for it, else the one the guard
    judges (``confirmation_order``); (hits by candidate id, calls, errors)."""
    opts, left = state["options"], _left(deps, state)
    size = int(opts.get("confirm_examples", 0))
    paid = min(int(opts.get("confirm_prompts", 2)), left // size if size else 0)
    ranked = confirmation_order(original, ranked)[:max(1, paid - 1)]
    size = min(size, left // (1 + len(ranked)))
    if not ranked or size < MIN_CONFIRM:
        return {}, 0, []
    examples = deps.task(opts["task"]).confirm[:size]
    return _hits_by_id(deps, opts, [original, *ranked], examples, "the confirmation examples")


def _hits_by_id(deps: OptimizeDeps, opts: Mapping[str, Any], candidates: list[Candidate],
                examples: list[Example], where: str, pool: DemoPool = "train"
                ) -> tuple[dict[str, list[bool]], int, list[str]]:
    """Right/wrong answers of each candidate on ``examples`` by candidate id (none when
    the target failed: the guard then decides on dev alone), calls, errors. When the
    time limit ends a run early, the examples every candidate answered (a prefix, so
    still paired), and none when they are fewer than ``MIN_CONFIRM``."""
    runs, calls, errors = _run_prompts(deps, opts, {c.id: c for c in candidates}, examples,
                                       where, pool, _time_up(deps, opts))
    done = min((len(r.hits) for r in runs.values()), default=0)
    if errors or len(runs) < len(candidates) or done < min(MIN_CONFIRM, len(examples)):
        return {}, calls, errors
    return {k: r.hits[:done] for k, r in runs.items()}, calls, errors


def _run_prompts(deps: OptimizeDeps, opts: Mapping[str, Any], prompts: dict[str, Candidate],
                 examples: list[Example], where: str,
                 pool: DemoPool = "train", time_up: Callable[[], bool] | None = None
                 ) -> tuple[dict[str, EvalResult], int, list[str]]:
    """Each prompt run on ``examples`` by the target (answers cached), a dynamic one picking
    from ``pool`` (see ``OptimizeDeps.demos_for``), until ``time_up``; (results by name,
    calls, errors)."""
    target, results, calls = deps.model_for("target", 0.0), {}, 0
    gold_answers = _gold_answers(deps, opts)
    try:
        for name, candidate in prompts.items():
            results[name] = evaluate_prompt(target, candidate.text, examples,
                                            scorer=_scorer(deps, opts),
                                            cache=deps.answer_cache,
                                            demos_for=deps.demos_for(opts["task"], pool),
                                            gold_answers=gold_answers, time_up=time_up,
                                            anchors=deps.anchors(opts["task"]))
            calls += results[name].calls
            if not results[name].finished:
                break
    except Exception as exc:
        typed = as_model_error(exc, target)
        if typed is None:
            raise
        return results, calls, [f"target model failed on {where}: {typed}"]
    return results, calls, []


def _recall_past(deps: OptimizeDeps, text: str) -> tuple[list[Finding], list[str]]:
    """Findings from past optimizations of similar prompts that improved them."""
    if deps.memory is None:
        return [], []
    try:
        found = deps.memory.recall(text, 3, kind="optimization", min_similarity=0.6)
    except MemoryError_ as exc:
        return [], [f"memory: recall failed ({exc})"]
    useful = [m for m in found if m.details.get("gain", 0) > 0 and m.details.get("optimized")]
    findings = [Finding(
        id=f"M{i + 1}", perspective="memory", severity=2,
        issue=f"A similar past prompt scored {m.details['gain']:+.2f} better once rewritten"[:240],
        evidence=m.text[:240],
        suggestion=f"Consider a change like: {m.details['optimized']}"[:240])
        for i, m in enumerate(useful)]
    return findings, [f"memory: {len(found)} similar past optimization(s), "
                      f"{len(findings)} that improved"]


def _remember_result(deps: OptimizeDeps, result: dict[str, Any]) -> None:
    """Keep what this run learned: the prompt, its best rewrite and the gain."""
    if deps.memory is None or result["stop_reason"] == "model failure":
        return
    gain = round(result["optimized_score"] - result["original_score"], 4)
    try:
        deps.memory.remember(result["original"], "optimization", None, {
            "optimized": result["optimized"][:1000], "gain": gain,
            "score_kind": result["score_kind"], "run_id": result["run_id"]})
    except MemoryError_:
        pass  # memory is an aid; the run's record in the store is what must not be lost


def _test_scores(deps: OptimizeDeps, opts: dict[str, Any], original: Candidate,
                 final: Candidate) -> tuple[dict[str, float], int, list[str]]:
    if not opts.get("task"):
        return {}, 0, []
    runs, calls, errors = _run_prompts(deps, opts, {"original": original, "optimized": final},
                                       deps.task(opts["task"]).test, "the test split",
                                       pool="labelled")
    return {k: r.accuracy for k, r in runs.items()}, calls, errors


def _result(state: OptimizeState, original: Candidate, final: Candidate,
            scores: dict[str, float], test: dict[str, float], extra: dict[str, int]
            ) -> dict[str, Any]:
    opts = state.get("options") or {}
    votes = [b for b in state.get("ballots", []) if b["candidate_id"] == final.id]
    return {
        "run_id": state["run_id"],
        "original": original.text,
        "optimized": final.text,
        "optimized_id": final.id,
        "changed": final.id != original.id,
        "original_score": round(fitness(original, scores, bool(opts.get("task"))), 4),
        "optimized_score": round(fitness(final, scores, bool(opts.get("task"))), 4),
        "score_kind": "dev accuracy" if opts.get("task") else "validator score (0-1)",
        "test_original": test.get("original"),
        "test_optimized": test.get("optimized"),
        "votes": votes,
        "consensus": state.get("consensus"),
        "generations": state.get("generation", 0),
        "best_by_generation": state.get("best_by_generation", []),
        "calls_used": state.get("calls_used", 0) + sum(extra.values()),
        "calls_by_phase": {k: v for k, v in add_counts(state.get("calls_by_phase"),
                                                      extra).items() if v},
        "stop_reason": state.get("stop_reason") or ("model failure" if state.get("errors")
                                                    else "finished"),
        "errors": state.get("errors", []),
        # What a user must know about the run (e.g. a proposer whose replies were unusable).
        "notes": list(dict.fromkeys(e[len("note: "):] for e in state.get("events", [])
                                    if e.startswith("note: "))),
        "options": {k: v for k, v in opts.items() if k != "started_at"},
    }
