"""Creative: proposes rewrites that differ in kind, not just in wording."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from neuroforge.agents.prompts import CREATIVE_SYSTEM, CREATIVE_USER, REWRITE_STYLES, quote_prompt
from neuroforge.agents.schemas import Finding, RewriteReply
from neuroforge.models.structured import structured_reply

__all__ = [
    "PARAPHRASE_JACCARD", "format_findings", "is_distinct", "is_instruction", "keeps_the_task",
    "propose_rewrite", "word_set",
]

# Two prompts sharing this share of their content words are paraphrases of each other.
PARAPHRASE_JACCARD = 0.7
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    "a an the of to and or in on for with is are be it this that as by your you".split()
)


def word_set(text: str) -> frozenset[str]:
    """Content words of ``text`` (lower-case, stop words dropped)."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


def _jaccard(a: str, b: str) -> float:
    wa, wb = word_set(a), word_set(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


def is_distinct(
    text: str,
    others: Sequence[str],
    similarity: Callable[[str, str], float] = _jaccard,
    threshold: float = PARAPHRASE_JACCARD,
) -> bool:
    """True when ``text`` is not a paraphrase (or copy) of any of ``others``."""
    return bool(text.strip()) and all(similarity(text, other) < threshold for other in others)


# Cues that a text asks for something rather than saying something: an imperative
# verb opening a sentence, addressing the reader, or stating a requirement.
_IMPERATIVE = re.compile(
    r"(?:^|[.!?:\n]\s*)(?:please\s+)?(write|summari[sz]e|explain|describe|list|give|generate|"
    r"create|translate|answer|classify|extract|identify|find|name|rewrite|convert|compare|"
    r"draft|compose|outline|suggest|provide|produce|return|output|respond|reply|tell|make|"
    r"state|label|rate|score|count|calculate|compute|solve|determine|choose|select|pick|"
    r"sort|rank|fix|correct|edit|complete|fill|format|use|include|avoid|keep|focus|act|"
    r"imagine|consider|read|analy[sz]e|evaluate|review|check|decide|predict|spell|define|"
    r"do|don't|never|always|only|start|begin|end|add|remove|turn|change|map)\b",
    re.IGNORECASE)
_DIRECTIVE = re.compile(r"\b(you|your|please|must|should|shall|need to|task|instruction|"
                        r"respond|answer with|in the format|the following|given)\b",
                        re.IGNORECASE)


def is_instruction(text: str) -> bool:
    """True when ``text`` reads as an instruction to a model, not as a statement.

    A rule, not the judge: a 135M validator scores "The most common dog is probably a
    Labrador Retriever." (an answer to "Write about dogs.") as a great prompt.
    """
    return bool(_IMPERATIVE.search(text.strip()) or _DIRECTIVE.search(text))


# The frame a prompt under review is shown in: a rewrite that copies it (a small model
# echoing its input, e.g. "...operators`;},\n<prompt_under_review>\n{") is debris that
# a target may still happen to score well with, and no prompt a user would keep.
_FRAME = re.compile(r"[<‹]\s*/?\s*prompt_under_review", re.IGNORECASE)


def keeps_the_task(candidate: str, original: str) -> bool:
    """A rewrite must still be an instruction wherever the original was one, and must
    not carry the review frame it was shown in."""
    if _FRAME.search(candidate) and not _FRAME.search(original):
        return False
    return is_instruction(candidate) or not is_instruction(original)


def format_findings(findings: Sequence[Finding]) -> str:
    """Findings as short numbered lines for a prompt."""
    if not findings:
        return "(no findings)"
    # The target's mistakes are the evidence a rewrite must answer: show them.
    return "\n".join(
        f"{f.id} [{f.perspective}, severity {f.severity}]: {f.issue} -> {f.suggestion}"
        + (f" ({f.evidence})" if f.perspective == "failures" else "")
        for f in findings
    )


def propose_rewrite(
    model: BaseChatModel,
    prompt: str,
    findings: Sequence[Finding],
    style_index: int,
    existing: Sequence[str],
    *,
    attempts: int = 3,
) -> tuple[RewriteReply, int]:
    """One rewrite of ``prompt`` in style ``style_index`` and the calls it took."""
    style = REWRITE_STYLES[style_index % len(REWRITE_STYLES)]
    # Existing versions may carry the same injected text as the original: quote them too.
    listed = "\n".join(quote_prompt(text[:300]) for text in existing) or "(none yet)"
    messages = [
        SystemMessage(CREATIVE_SYSTEM),
        HumanMessage(CREATIVE_USER.format(quoted=quote_prompt(prompt),
                                          findings=format_findings(findings),
                                          style=style, existing=listed)),
    ]
    reply = structured_reply(model, messages, RewriteReply, max_attempts=attempts)
    known = {f.id for f in findings}
    value = reply.value.model_copy(
        update={"prompt": reply.value.prompt.strip(),
                "addresses": [a for a in reply.value.addresses if a in known]}
    )
    return value, reply.attempts
