import random
from pathlib import Path

import pytest

from neuroforge.agents.creative import is_instruction, keeps_the_task
from neuroforge.agents.optimizer import (
    OUTPUT_CONSTRAINT,
    add_demonstrations,
    add_output_constraint,
    apply_pattern,
    crossover,
    next_patterns,
    plateaued,
    select_elites,
)
from neuroforge.agents.schemas import Candidate
from neuroforge.knowledge.datasets import Example
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.records import save_ballots, save_candidates, start_run, voter_reliability
from neuroforge.tools.prompt_eval import split_demonstrations

TRAIN = [Example(f"in{i}", f"out{i}") for i in range(10)]


def test_demonstrations_replace_rather_than_pile_up() -> None:
    rng = random.Random(0)
    once = add_demonstrations("Do it.", TRAIN, 3, rng)
    twice = add_demonstrations(once, TRAIN, 2, rng)
    assert split_demonstrations(twice)[0] == "Do it." and len(split_demonstrations(twice)[1]) == 2
    constrained = add_output_constraint(twice)
    instruction, demos = split_demonstrations(constrained)
    assert instruction.endswith(OUTPUT_CONSTRAINT) and len(demos) == 2
    assert add_output_constraint(constrained) == constrained


def test_patterns_apply_once_each() -> None:
    text = "Write about dogs."
    names = next_patterns(text)
    assert names == ["role", "structure", "length", "steps"]
    for name in names:
        text = apply_pattern(text, name)
    assert next_patterns(text) == [] and apply_pattern(text, "role") == text


def test_crossover_keeps_sentences_of_both_parents_without_repeats() -> None:
    a, b = "One. Two. Three.", "Alpha. Beta. Gamma."
    child = crossover(a, b, random.Random(4))
    sentences = child.split(" ")
    assert len(sentences) == len(set(sentences))
    assert set(sentences) <= set(a.split(" ")) | set(b.split(" "))


def test_elites_and_plateau() -> None:
    cands = [Candidate(id=str(i), text=str(i), origin="rewrite", dev_score=s)
             for i, s in enumerate([0.2, 0.9, 0.9, 0.5])]
    assert [c.id for c in select_elites(cands, {}, 2)] == ["1", "2"]
    no_dev = [Candidate(id="x", text="x", origin="rewrite")]
    assert select_elites(no_dev, {"x": 0.7}, 1)[0].id == "x"
    assert not plateaued([0.5])
    assert plateaued([0.5, 0.5]) and not plateaued([0.5, 0.6])


def test_on_a_labelled_task_votes_never_stand_in_for_dev_accuracy() -> None:
    """The "dev 1.00, test 0.00" report: a candidate the budget left unscored on dev
    carried its unanimous validator score (1.0) as its fitness, so it led the
    generation and could be chosen. With a task, only measured accuracy counts."""
    from neuroforge.agents.optimizer import UNMEASURED, fitness

    measured = Candidate(id="m", text="m", origin="demonstrations", dev_score=0.4)
    unscored = Candidate(id="u", text="u", origin="rewrite")
    votes = {"u": 1.0, "m": 0.2}
    assert fitness(unscored, votes) == 1.0  # no task: the validators' score is all there is
    assert fitness(unscored, votes, measured=True) == UNMEASURED < 0
    assert [c.id for c in select_elites([unscored, measured], votes, 1, measured=True)] == ["m"]
    assert plateaued([0.5, 0.6, 0.6, 0.55], patience=2)


def test_voter_reliability_counts_agreement_with_final_decisions(
        tmp_path: Path, store_url: str) -> None:
    db = open_database(store_url)
    with db.session() as s:
        run = start_run(s, "optimize", {})
        save_candidates(s, run, [
            {"id": "good", "text": "g", "origin": "rewrite", "accepted": True},
            {"id": "bad", "text": "b", "origin": "rewrite", "accepted": False},
        ])
        save_ballots(s, run, [
            {"voter": "wise", "candidate_id": "good", "decision": "accept"},
            {"voter": "wise", "candidate_id": "bad", "decision": "reject"},
            {"voter": "contrary", "candidate_id": "good", "decision": "reject"},
            {"voter": "contrary", "candidate_id": "bad", "decision": "accept"},
            {"voter": "broken", "candidate_id": "good", "decision": "accept", "valid": False},
        ])
        weights = voter_reliability(s, ["wise", "contrary", "broken", "new"])
    assert weights == {"wise": 0.75, "contrary": 0.25, "broken": 0.5, "new": 0.5}


@pytest.mark.parametrize(("text", "instruction"), [
    ("Write about dogs.", True),
    ("Summarize the following email in one sentence.", True),
    ("You are a travel agent. Plan a weekend in Lyon.", True),
    ("Antonym of the input word. Answer with one word.", True),
    ("The most common dog is probably a Labrador Retriever.", False),
    ("The previous prompt was unclear and could be avoided.", False),
    ("Dogs are loyal animals that love their owners.", False),
])
def test_is_instruction_tells_a_prompt_from_an_answer(text: str, instruction: bool) -> None:
    assert is_instruction(text) is instruction
    assert keeps_the_task(text, "Write about dogs.") is instruction
    assert keeps_the_task(text, "Dogs.")  # no rule to keep when the original is no instruction


def test_a_rewrite_that_copies_the_review_frame_is_dropped() -> None:
    """Seen in the benchmark: a rewrite that is the instruction cut off, then the tag it
    was quoted in; it scored well enough on dev to be adopted."""
    debris = ("Evaluate the truth value of a Boolean expression`;},\n<prompt_under_review>\n"
              "{\n    description: {")
    assert not keeps_the_task(debris, "Evaluate the truth value of a Boolean expression.")
    assert not keeps_the_task("Answer. ‹/prompt_under_review›", "Answer the question.")
    assert keeps_the_task("Evaluate the expression; answer True or False.",
                          "Evaluate the truth value of a Boolean expression.")


def test_a_candidate_carrying_held_out_answers_is_caught() -> None:
    """The synonyms report (dev 1.00, test 0.00): a prompt that carries dev examples with
    their answers scores by copying. Such a prompt is refused; the instruction alone,
    or one that mentions a dev word without its answer, is not."""
    from neuroforge.agents.failures import leaked_examples
    from neuroforge.knowledge.datasets import Example

    dev = [Example("pillow", "rest"), Example("account", "accounting"), Example("5 3", "8")]
    copied = "Give a synonym.\n\nExamples:\nInput: pillow\nOutput: rest"
    assert leaked_examples(copied, dev) == [dev[0]]
    assert leaked_examples("Give a synonym, e.g. for pillow or account.", dev) == []
    assert leaked_examples("Add the two numbers 5 3 ... and 8 more", dev) == []  # too short


def test_reflection_reads_training_examples_only_and_cites_mistakes() -> None:
    from neuroforge.agents.failures import Miss, failure_finding, reflection_batch
    from neuroforge.knowledge.datasets import Example

    train = [Example(f"t{i}", f"T{i}") for i in range(20)]
    first, second = reflection_batch(train, 0), reflection_batch(train, 1)
    assert len(first) == 8 and set(first) <= set(train) and first != second
    finding = failure_finding([Miss("t1", "no idea", "T1")], 8)
    assert finding is not None and "'t1'" in finding.evidence
    assert "expected 'T1'" in finding.evidence
    assert failure_finding([], 8) is None


def test_lineage_says_why_a_raced_candidate_has_no_score() -> None:
    import networkx as nx

    from neuroforge.knowledge.lineage import lineage_text

    graph = nx.DiGraph()
    graph.add_node("a", generation=0, origin="original", score=0.25, text="x")
    graph.add_node("b", generation=1, origin="rewrite", score=None, text="y",
                   note="stopped after 8 of 32 dev examples in the race")
    graph.add_edge("a", "b")
    shown = lineage_text(graph)
    assert "unscored: stopped after 8 of 32 dev examples" in shown and "-1.00" not in shown
