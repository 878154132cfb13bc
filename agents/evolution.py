"""The optimizer's evolution policy: which candidates a generation gets, and when to stop.

The operators themselves live in ``agents.optimizer``; this module decides how they
are combined. Everything here takes plain values, so the graph only moves state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from neuroforge.agents.creative import is_distinct, keeps_the_task
from neuroforge.agents.optimizer import (
    add_demonstrations,
    add_output_constraint,
    apply_pattern,
    crossover,
    fitness,
    hold_to_answers,
    instruction_of,
    mutate_with_feedback,
    next_patterns,
    plateaued,
    read_by_knn,
    select_elites,
    swap_demonstrations,
)
from neuroforge.agents.schemas import Ballot, Candidate
from neuroforge.analysis.stats import mcnemar
from neuroforge.knowledge.datasets import Example
from neuroforge.knowledge.schema import new_id
from neuroforge.models.backends import ModelError
from neuroforge.models.structured import StructuredOutputError
from neuroforge.tools.answer_choices import closed_answer_set
from neuroforge.tools.knn_answers import parse_knn
from neuroforge.tools.nearest_demos import dynamic_prompt

__all__ = [
    "DEMOS_K", "FINALISTS", "GUARD_ALPHA", "GUARD_MARGIN", "MIN_CONFIRM", "MORE_NEAREST_K",
    "breeding_parents", "confirmation_order", "fill_population", "finalists", "guard_rule",
    "guarded_choice", "undecided_seed",
    "mean_scores", "offspring",
    "proposer_note", "stop_reason", "vetoed_ids",
]


DEMOS_K = 3  # demonstrations per seed: what "the instruction plus a few examples" means
# Per-input demonstrations for the best instruction in later generations: how many to
# show is searched (3 in the seeds, this many after), as DSPy searches demo counts. With
# the original instruction it is a free seed: which free few-shot form is best is no
# search result to discount. Left "searched", it had to beat the nearest-3 seed by the
# guard's rule and was never adopted in 31 benchmark tasks, though it beat that seed on
# dev and the slice on 5 tasks of 6, then 3 of 4.
MORE_NEAREST_K = 5


def fill_population(original: Candidate, new: Sequence[Candidate], train: Sequence[Example] | None,
                    population: int, seed: int, bootstrapped: Sequence[Example] = (),
                    knn: bool = False) -> list[Candidate]:
    """Operator-made candidates that fill the population when rewrites fell short.

    With a labelled task (``train`` given): three random demonstrations from train,
    the three nearest to each input (dynamic few-shot); when the task has a closed answer
    set (``closed_answer_set``), with ``knn`` the three random with answers read by kNN
    prompting (``never_cut``: its anchors are paid before its first answer, so a
    first-rung cut would waste them), and the three nearest with replies held to it;
    three bootstrapped ones (train
    examples the target already answers right with the original, as DSPy bootstraps),
    five random, another draw of three, and an output constraint; without one:
    well-known patterns.
    """
    rng = random.Random(seed)
    texts = [original.text, *(c.text for c in new)]
    free: set[str] = set()  # the free baselines: the race never cuts them
    if train is not None:
        # Random draws vary a lot on small models: one of three first (the free
        # baseline itself, so the search starts from it), the nearest examples per
        # input, which no single draw can match on mixed tasks, then the rest.
        random3 = add_demonstrations(original.text, train, DEMOS_K, rng)
        nearest3 = dynamic_prompt(original.text, DEMOS_K)
        free = {random3, nearest3}
        options = [("demonstrations", random3), ("demonstrations", nearest3)]
        choices = closed_answer_set(train)
        if choices is not None and knn:
            # kNN first: with the free prompts, it was right on 220 of 576 dev and slice
            # answers of 9 closed-set tasks where the held nearest-3 seed was on 205 (the
            # guard's rule, choosing on one part and judged on the other); with agents
            # a rewrite takes the fourth slot.
            options.append(("mutation", read_by_knn(random3)))
        if choices is not None:
            options.append(("mutation", hold_to_answers(nearest3, choices)))
        if len(bootstrapped) >= DEMOS_K:
            options.append(("demonstrations", add_demonstrations(
                original.text, bootstrapped, DEMOS_K, rng)))
        options += [("demonstrations", add_demonstrations(original.text, train, 5, rng)),
                    ("demonstrations", add_demonstrations(original.text, train, DEMOS_K, rng)),
                    ("mutation", add_output_constraint(original.text))]
    else:
        options = [("mutation", apply_pattern(original.text, name))
                   for name in next_patterns(original.text)]
    filled: list[Candidate] = []
    for origin, text in options:
        if len(new) + len(filled) >= population:
            break
        if text not in texts:
            texts.append(text)
            filled.append(Candidate(id=new_id(), text=text, origin=origin,  # type: ignore[arg-type]
                                    generation=1, parents=[original.id],
                                    baseline=text in free, never_cut=parse_knn(text) is not None))
    return filled


def breeding_parents(population: Sequence[Candidate], scores: Mapping[str, float],
                     count: int, *, measured: bool, original: str = "") -> list[Candidate]:
    """The ``count`` candidates the next generation is bred from: the fittest, as
    ``select_elites`` ranks them, except that with a labelled task (``measured``) a
    challenger that ties the original instruction (text ``original``) on dev goes first.

    Why: the original's own variants (its nearest-5 and held seeds) exist from the
    generation before, so breeding from it again on a tie makes nothing new, while the
    challenger's variants (the nearest-5 seed held to the answers) are never built.
    Which prompt is adopted is still the guard's decision, not this order's.
    """
    by_id = dict(scores)
    ranked = select_elites(population, by_id, len(population), measured=measured)
    if measured and original and ranked and ranked[0].text == original:
        best = fitness(ranked[0], by_id, measured)
        # ranked is sorted by fitness, so the challengers that tie it come right after it
        tied = 1 + sum(fitness(c, by_id, measured) == best for c in ranked[1:])
        ranked = [*ranked[1:tied], ranked[0], *ranked[tied:]]
    return ranked[:count]


def offspring(population: Sequence[Candidate], scores: Mapping[str, float], *,
              known_texts: Sequence[str], ballots: Sequence[Mapping[str, Any]],
              generation: int, size: int, seed: int, train: Sequence[Example] | None,
              mutator: BaseChatModel | None, attempts: int, failures: Sequence[str] = (),
              history: Sequence[str] = (), bootstrapped: Sequence[Example] = (),
              original: str = "") -> tuple[list[Candidate], int, list[str], list[str]]:
    """Children of the elites for ``generation``: (children, model calls, errors, notes).

    A feedback mutation by ``mutator`` (``None``: no budget or no agents) shown the
    target's mistakes and earlier instructions with their scores (``history``); with a
    task, the best instruction with its ``MORE_NEAREST_K`` nearest examples per input
    (``never_cut``: the race scores it on all of dev; a free seed when that instruction
    is ``original``'s: a user gets it for free, as the 3 nearest), the best with replies
    held to a closed answer set, each elite's instruction with the other's demonstrations
    (searched jointly), the best with ``bootstrapped`` ones (training examples it answers
    right); then a crossover of the two elites and operator variants of the best."""
    rng = random.Random(seed * 1000 + generation)
    elites = breeding_parents(population, scores, 2, measured=train is not None, original=original)
    first, second = elites[0], elites[-1]
    known = list(known_texts)
    children: list[Candidate] = []

    def add(text: str, origin: str, parents: list[str], never_cut: bool = False,
            baseline: bool = False, reworded: bool = True) -> None:
        # Judged on the instructions: demonstrations are data, not the instruction.
        if (len(children) < size and _new_enough(text, known, reworded)
                and keeps_the_task(instruction_of(text), instruction_of(first.text))):
            known.append(text)
            children.append(Candidate(id=new_id(), text=text, origin=origin,  # type: ignore[arg-type]
                                      generation=generation, parents=parents,
                                      never_cut=never_cut, baseline=baseline))

    # What the target got wrong (training examples) first, then what the voters said.
    feedback = [*failures, *(b["rationale"] for b in ballots
                             if b["candidate_id"] == first.id and b.get("valid"))]
    rewrite, calls, errors, unusable = _proposed(mutator, first, feedback, attempts, history)
    if rewrite is not None:
        add(rewrite, "mutation", [first.id])
    if train is not None:
        # With the original instruction: a free seed (see MORE_NEAREST_K).
        add(dynamic_prompt(instruction_of(first.text), MORE_NEAREST_K), "demonstrations",
            [first.id], never_cut=True,
            baseline=bool(original) and instruction_of(first.text) == instruction_of(original))
        if (choices := closed_answer_set(train)) is not None:
            add(hold_to_answers(first.text, choices), "mutation", [first.id], reworded=False)
    if train is not None and second.id != first.id:
        add(swap_demonstrations(first.text, second.text), "crossover", [first.id, second.id])
        add(swap_demonstrations(second.text, first.text), "crossover", [second.id, first.id])
    if train is not None and len(bootstrapped) >= DEMOS_K:
        add(add_demonstrations(first.text, bootstrapped, DEMOS_K, rng), "demonstrations",
            [first.id])
    if second.id != first.id:
        add(crossover(first.text, second.text, rng), "crossover", [first.id, second.id])
    if train is not None:
        add(add_output_constraint(first.text), "mutation", [first.id])
        add(add_demonstrations(first.text, train, DEMOS_K, rng), "demonstrations", [first.id])
    else:
        for name in next_patterns(first.text)[:2]:
            add(apply_pattern(first.text, name), "mutation", [first.id])
    return children, calls, errors, [proposer_note("optimizer", unusable, 1)] if unusable else []


def _new_enough(text: str, known: Sequence[str], reworded: bool) -> bool:
    """Whether ``text`` may join ``known``: a rewording must paraphrase none of it; a
    variant run another way (an answer-choices line added) need only be new, since one
    added line in a long prompt reads as a copy to a word-overlap check."""
    return is_distinct(text, known, threshold=0.98) if reworded else text not in known


def _proposed(mutator: BaseChatModel | None, best: Candidate, feedback: Sequence[str],
              attempts: int, history: Sequence[str]
              ) -> tuple[str | None, int, list[str], StructuredOutputError | None]:
    """The proposer's rewrite of ``best`` (``None`` when there is no proposer or it
    failed), its calls, errors, and its unusable reply if that is why there is none."""
    if mutator is None:
        return None, 0, [], None
    try:
        text, calls = mutate_with_feedback(mutator, best.text, feedback,
                                           attempts=attempts, history=history)
    except StructuredOutputError as exc:
        return None, exc.attempts, [], exc
    except ModelError as exc:
        return None, 0, [f"optimizer: {exc}"], None
    # The proposer rewrites the instruction; the best demonstrations stay with it.
    return swap_demonstrations(text, best.text), calls, [], None


def proposer_note(role: str, failure: StructuredOutputError, tries: int) -> str:
    """One line for a proposer model whose replies were unusable: what it said and what to
    do (the run goes on with the seeds and operators)."""
    said = " ".join(failure.last_reply.split())[:80] or "(nothing)"
    return (f"note: the {role} model {failure.model} gave no usable rewrite in {tries} "
            f"tries (its last reply: {said!r}); the search went on with demonstrations and "
            f"operators. A stronger proposer helps: NEUROFORGE_MODELS__{role.upper()}=<model>")


def stop_reason(*, failed: bool, generation: int, max_generations: int, remaining: int,
                vote_cost: int, history: Sequence[float], out_of_time: bool = False
                ) -> str | None:
    """Why the search stops after ``generation``, or ``None`` to go on. ``out_of_time``:
    the time limit, not the budget, bounds ``remaining``; with nothing left, candidates
    the time cannot score would plateau the scores, so the time is named."""
    if failed:
        return "model failure"
    if generation >= max_generations:
        return "generation limit"
    if (out_of_time and remaining <= 0) or remaining < vote_cost:
        return "time limit reached" if out_of_time else "budget exhausted"
    if plateaued(history):
        return "scores plateaued"
    return None


def mean_scores(ballots: Sequence[Ballot]) -> dict[str, float]:
    """Mean validator score per candidate, scaled to 0-1."""
    sums: dict[str, list[float]] = {}
    for b in ballots:
        if b.valid and b.score is not None:
            sums.setdefault(b.candidate_id, []).append(b.score / 10)
    return {c: round(sum(v) / len(v), 4) for c, v in sums.items()}


GUARD_ALPHA = 0.05
# Or a stated margin: 32 dev examples rarely make a 20-point gain significant (8 right
# where the original was wrong against 2: p = 0.11), and losing it to the instruction
# alone costs more than the rare large lead won by chance (which the p < 0.2 bound,
# e.g. 4 against 0, keeps rare).
GUARD_MARGIN, MARGIN_ALPHA = 0.10, 0.2


def vetoed_ids(ballots: Sequence[Mapping[str, Any]], original_id: str = "") -> set[str]:
    """Candidates every valid ballot rejected (any round; the original, a control, never):
    with a labelled task, validators veto (meaning changed, unsafe, format broken) rather
    than re-score what dev accuracy measures. Unanimity, because a veto overrides a
    measurement and a small judge rejects often; invalid ballots and abstentions never
    veto. A reject counts only from a voter who accepted the original in the same round:
    one who rejected it, or whose ballot on it was invalid, says nothing about the change
    (a 135M judge rejects both, and sank candidates 31 points better on dev that way)."""
    def key(ballot: Mapping[str, Any]) -> tuple[Any, ...]:
        return ballot.get("voter"), ballot.get("generation"), ballot.get("round")

    # The voter's word on the original in that round; none at all: the reject stands.
    control = {key(b): b.get("decision") if b.get("valid") else "invalid" for b in ballots
               if b.get("candidate_id") == original_id}
    tally: dict[str, list[bool]] = {}
    for ballot in ballots:
        if ballot.get("valid") and ballot.get("decision") in ("accept", "reject"):
            informative = (ballot["decision"] == "reject"
                           and control.get(key(ballot), "accept") == "accept")
            tally.setdefault(ballot["candidate_id"], []).append(informative)
    return {c for c, rejects in tally.items() if all(rejects) and c != original_id}


FINALISTS = 2  # challengers the confirmation slice decides between: the race's last rung
# Fewer confirmation examples than this are never run as a slice, and never refuse a
# leader behind on them: on a handful, one unlucky answer would refuse a real improvement.
MIN_CONFIRM = 16


def finalists(original: Candidate, candidates: Sequence[Candidate],
              vetoed: set[str] | None = None, votes: Mapping[str, float] | None = None,
              size: int = FINALISTS) -> list[Candidate]:
    """Up to ``size`` candidates that beat the original on dev and that the validators
    did not veto, best first: dev accuracy, then their score in ``votes``, then a
    demonstration set (on equal terms, the earlier candidate). The best free seed
    (``baseline``) among them is always one: what the search found is measured against
    what it was given for free."""
    vetoed, votes = vetoed or set(), votes or {}
    if original.dev_hits is None:
        return []
    ahead = [c for c in candidates if c.dev_hits is not None and c.id != original.id
             and c.id not in vetoed and _ahead_on_dev(c, original)]
    ranked = sorted(ahead, key=lambda c: (-(c.dev_score or 0.0), -votes.get(c.id, 0.0),
                                          c.origin != "demonstrations"))
    picked = ranked[:size]
    seed = next((c for c in ranked if c.baseline), None)
    if seed is not None and size > 1 and all(c.id != seed.id for c in picked):
        picked = picked[:size - 1] + [seed]
    return picked


def guard_rule(hits: Sequence[bool], base: Sequence[bool]) -> tuple[str | None, float, float]:
    """The rule by which ``hits`` beats ``base`` on the same examples: "paired test"
    (McNemar p < ``GUARD_ALPHA``), "margin" (ahead by ``GUARD_MARGIN`` with p <
    ``MARGIN_ALPHA``) or ``None``; with the p-value and the gain."""
    test = mcnemar(list(hits), list(base))
    gain = (sum(hits) - sum(base)) / len(hits)
    if test.p_value < GUARD_ALPHA:
        return "paired test", test.p_value, gain
    if gain >= GUARD_MARGIN and test.p_value < MARGIN_ALPHA:
        return "margin", test.p_value, gain
    return None, test.p_value, gain


def _shared_dev(*candidates: Candidate) -> int:
    """How many dev examples every one of ``candidates`` answered. Dev is scored in one
    order, so a run the time limit cut short (it still gets a score from half of dev on)
    covers a prefix of it, and the first ``_shared_dev`` answers are paired."""
    return min(len(c.dev_hits or []) for c in candidates)


def _ahead_on_dev(candidate: Candidate, original: Candidate) -> bool:
    """Whether ``candidate`` was right more often than the original on the dev examples
    both answered."""
    shared = _shared_dev(candidate, original)
    return sum(_hits(candidate, {}, False, shared)) > sum(_hits(original, {}, False, shared))


def _hits(candidate: Candidate, confirm: Mapping[str, list[bool]], slice_too: bool,
          dev_examples: int | None = None) -> list[bool]:
    """Right/wrong on the first ``dev_examples`` of dev (all it answered by default), then
    on the confirmation slice when ``slice_too``."""
    return (list(candidate.dev_hits or [])[:dev_examples] +
            (confirm[candidate.id] if slice_too else []))


def _slice_leader(ranked: Sequence[Candidate], original: Candidate,
                  confirm: Mapping[str, list[bool]]
                  ) -> tuple[Candidate, dict[str, int], dict[str, Any]]:
    """The finalist right most often on dev and the confirmation slice together (ties:
    the better on dev), those counts for each finalist run on the slice beside the
    original, and how a searched leader fared against the free seed among them. The
    pick among the best few on dev alone is the winner's curse: with twice the examples
    the lucky one is less often chosen. A searched leader must beat the seed by the
    guard's rule, as the seed must beat the original: it was picked from many
    candidates on the same dev set, the seed from a few (in the benchmark, searched
    leaders 1 and 5 examples in 64 ahead of the runner-up each ended 6 points below
    the free nearest-3 baseline on test)."""
    theirs, shared = confirm.get(original.id, []), _shared_dev(original, *ranked)
    raced = {c.id: sum(_hits(c, confirm, True, shared)) for c in ranked
             if theirs and len(confirm.get(c.id, [])) == len(theirs)}
    best = max((c for c in ranked if c.id in raced), key=lambda c: raced[c.id],
               default=ranked[0])
    seed = next((c for c in ranked if c.baseline), None)
    # A slice that paid for one challenger went to the seed (``confirmation_order``):
    # the searched dev leader, not on it, is still weighed against the seed on dev.
    searched = ranked[0] if best.baseline and ranked[0].id not in raced else best
    if searched.baseline or seed is None:
        return best, raced, {}
    slice_too, shared = searched.id in raced and seed.id in raced, _shared_dev(searched, seed)
    rule, p_value, gain = guard_rule(_hits(searched, confirm, slice_too, shared),
                                     _hits(seed, confirm, slice_too, shared))
    behind = slice_too and sum(confirm[searched.id]) < sum(confirm[seed.id])
    over = {"seed": seed.id, "searched": searched.id, "p_value": round(p_value, 6),
            "gain": round(gain, 4), "rule": None if behind else rule}
    return (searched if over["rule"] else seed), raced, {"over_seed": over}


def confirmation_order(original: Candidate, ranked: Sequence[Candidate]) -> list[Candidate]:
    """The ``finalists`` in the order the confirmation slice takes them: first the one
    the guard judges against the original on dev alone (the free seed, when the searched
    leader does not beat it by the guard's rule), then the rest. A slice that pays for
    one challenger then confirms the prompt that is judged; confirming the searched
    leader instead left the seed it gave way to judged on dev alone."""
    if not ranked:
        return []
    judged = _slice_leader(ranked, original, {})[0]
    return [judged, *(c for c in ranked if c.id != judged.id)]


def undecided_seed(original: Candidate, ranked: Sequence[Candidate]) -> Candidate | None:
    """The free seed that leads the ``finalists`` on dev alone (a searched leader gives
    way to it as in ``guarded_choice``) when dev alone does not decide it over the
    original; else None. Such a seed may be checked on the training examples it does
    not show: unlike the rewrites, grounded in the target's mistakes on train, it was
    built from none of them."""
    if not ranked or original.dev_hits is None:
        return None
    leader = _slice_leader(ranked, original, {})[0]
    if not leader.baseline or leader.dev_hits is None:
        return None
    shared = _shared_dev(leader, original)
    rule = guard_rule(_hits(leader, {}, False, shared), _hits(original, {}, False, shared))[0]
    return None if rule else leader


def _nothing_to_adopt(original: Candidate, candidates: Sequence[Candidate],
                      vetoed: set[str] | None) -> dict[str, Any]:
    """The guard's verdict when no candidate beat the original on dev."""
    rivals = [c for c in candidates if c.dev_hits is not None and c.id != original.id
              and c.id not in (vetoed or set())]
    return {"adopted": False, "reason": (
        "no candidate beat the original on dev" if rivals and original.dev_hits is not None
        else "no candidate was scored on dev" + (" and left unvetoed" if vetoed else ""))}


def guarded_choice(original: Candidate, candidates: Sequence[Candidate],
                   vetoed: set[str] | None = None, votes: Mapping[str, float] | None = None,
                   confirm: Mapping[str, list[bool]] | None = None,
                   confirm_on: str = "more examples"
                   ) -> tuple[Candidate, dict[str, Any]]:
    """The final prompt on a labelled task, and why.

    The leader replaces the original only when a paired McNemar test says it is better
    (p < 0.05), or it leads by ``GUARD_MARGIN`` with p < ``MARGIN_ALPHA``: a candidate a
    few examples ahead on 32 by chance is not adopted. ``confirm`` holds right/wrong
    answers on a second dev slice (by candidate id) of the original and the
    ``finalists``: the leader is then the finalist right most often on dev and the slice
    together, the test runs on both, and a leader behind the original on the slice is
    not adopted (from ``MIN_CONFIRM`` examples on). Without it the leader is the first
    finalist, the best on dev. A searched leader gives way to the free seed among the
    finalists unless it beats the seed by the same rule; when that seed then does not
    beat the original, the searched leader is judged against the original as it would
    be with no seed ahead of the original on dev (a weak seed must not keep a
    significant gain out). ``confirm_on`` names what the confirmation examples are, for
    the reason.
    """
    ranked = finalists(original, candidates, vetoed, votes)
    if not ranked:
        return original, _nothing_to_adopt(original, candidates, vetoed)
    extra = confirm or {}
    best, raced, seeded = _slice_leader(ranked, original, extra)
    chosen, verdict = _against_original(best, original, ranked, raced, extra, seeded,
                                        confirm_on)
    over = seeded.get("over_seed")
    if over and over["rule"] is None and not verdict["adopted"]:
        searched = next(c for c in ranked if c.id == over["searched"])
        retried = _against_original(searched, original, ranked, raced, extra,
                                    {"over_seed": {**over, "seed_adopted": False}},
                                    confirm_on)
        if retried[1]["adopted"]:
            return retried
    return chosen, verdict


def _against_original(best: Candidate, original: Candidate, ranked: Sequence[Candidate],
                      raced: Mapping[str, int], extra: Mapping[str, list[bool]],
                      seeded: Mapping[str, Any], confirm_on: str
                      ) -> tuple[Candidate, dict[str, Any]]:
    """``best`` or the original, by the guard's rule on dev (and the confirmation slice
    when ``best`` was run on it), with the verdict ``guarded_choice`` returns."""
    mine = extra[best.id] if best.id in raced else []
    theirs = extra[original.id] if mine else []
    shared = _shared_dev(best, original)
    rule, p_value, gain = guard_rule(_hits(best, extra, bool(mine), shared),
                                     _hits(original, extra, bool(mine), shared))
    dev_gain = (sum(_hits(best, {}, False, shared)) -
                sum(_hits(original, {}, False, shared))) / max(shared, 1)
    verdict: dict[str, Any] = {"candidate": best.id, "test": "mcnemar",
                               "p_value": round(p_value, 6), "dev_gain": round(dev_gain, 4),
                               **seeded}
    where, over = _dev_named(best, original), _over_note(best, ranked, seeded.get("over_seed"))
    if mine:
        if len(raced) > 1:
            verdict["finalists"] = dict(raced)
        slice_gain = (sum(mine) - sum(theirs)) / len(mine)
        verdict |= {"confirm_examples": len(mine), "confirm_on": confirm_on,
                    "confirm_gain": round(slice_gain, 4),
                    "gain": round(gain, 4)}
        where = f"{where} and {len(mine)} {confirm_on}"
        if slice_gain < 0 and len(mine) >= MIN_CONFIRM:
            return original, {**verdict, "adopted": False,
                              "reason": f"ahead on dev but behind by {-slice_gain:.0%} on "
                                        f"{len(mine)} {confirm_on}; the original stays"}
    if rule == "paired test":
        return best, {**verdict, "adopted": True, "rule": rule,
                      "reason": f"better {where} by a paired test (p = {p_value:.3g}){over}"}
    if rule == "margin":
        return best, {**verdict, "adopted": True, "rule": rule,
                      "reason": f"ahead {where} by {gain:.0%} (the margin is "
                                f"{GUARD_MARGIN:.0%}; paired test p = {p_value:.3g} < "
                                f"{MARGIN_ALPHA}){over}"}
    return original, {**verdict, "adopted": False,
                      "reason": f"ahead {where} by {gain:.0%} but not significantly "
                                f"(p = {p_value:.3g} >= {GUARD_ALPHA}) nor by the "
                                f"{GUARD_MARGIN:.0%} margin; the original stays"}


def _dev_named(best: Candidate, original: Candidate) -> str:
    """Where the guard compared the two on dev: all of it, or the part both answered."""
    shared = _shared_dev(best, original)
    if shared == max(len(best.dev_hits or []), len(original.dev_hits or [])):
        return "on dev"
    return f"on the {shared} dev examples both answered before the time limit"


def _over_note(best: Candidate, ranked: Sequence[Candidate],
               over_seed: Mapping[str, Any] | None) -> str:
    """What the reason adds when the chosen finalist is not simply the best on dev."""
    if over_seed and over_seed.get("seed_adopted") is False:
        return (f"; it did not beat the free seed {over_seed['seed']} by the guard's rule "
                f"(p = {over_seed['p_value']:.3g}), but that seed does not beat the "
                "original")
    if over_seed and over_seed["rule"]:
        return (f"; ahead of the free seed {over_seed['seed']} by {over_seed['gain']:.0%} "
                f"({over_seed['rule']}, p = {over_seed['p_value']:.3g})")
    if over_seed:
        return (f"; the free seed, taken over the searched leader {over_seed['searched']} "
                f"that led it by {over_seed['gain']:.0%}, not by the guard's rule "
                f"(p = {over_seed['p_value']:.3g})")
    if best.id != ranked[0].id:
        return (f"; chosen over the dev leader {ranked[0].id}, right less often on dev and "
                "the slice together")
    return ""
