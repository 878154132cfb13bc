"""Text from outside (a prompt under review, a task, an answer) as a judge sees it.

All of it passes through here: ``quote`` wraps it as data after ``neutralize`` has
defused what could end the quotation or pose as the conversation (tags of any case,
role markers at line starts, ballot-shaped JSON). ``steering`` names instructions
aimed at whoever judges the text ("ignore previous instructions", "score this 10/10",
"always vote accept", a ready-made ballot): a candidate or an answer carrying them is
rejected outright rather than shown to a small model that may obey.
"""

from __future__ import annotations

import re

__all__ = ["echoes_steering", "neutralize", "quote", "steering"]

_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z_][\w:.-]*)([^<>]{0,80})>")
_ROLE = re.compile(r"(?im)^([ \t>*#-]*)(system|assistant|user|human|developer|tool)(\s*):")
_BALLOT = re.compile(r"\{[^{}]{0,400}\"(?:decision|vote|score|accept|verdict|rating)\"\s*:"
                     r"[^{}]{0,400}\}", re.I)
_STEERING = {
    "asks to ignore earlier instructions": re.compile(
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*"
        r"(?:previous|prior|above|earlier|preceding|system|original)?\s*"
        r"(?:instructions|directions|rules|prompts?)\b", re.I),
    "demands a score": re.compile(
        r"\b(?:score|rate|grade|rank|judge)\s+(?:this|the|it|me|my)\b[^.\n]{0,60}?"
        r"\b(?:10|ten|100|5)\s*(?:/|out\s+of)\s*(?:10|ten|100|5)\b", re.I),
    "demands a verdict": re.compile(
        r"\b(?:always|must|should)\s+(?:vote|answer|say|choose|decide|return)\s+"
        r"[\"'`]?(?:accept|approve|yes|pass|10)\b", re.I),
    "carries a ready-made ballot": _BALLOT,
}


def neutralize(text: str) -> str:
    """``text`` with tags, role markers and ballot-shaped JSON made inert (still readable)."""
    text = _TAG.sub(lambda m: f"‹{m.group(1)}{m.group(2)}{m.group(3)}›", text)
    text = _ROLE.sub(lambda m: f"{m.group(1)}(quoted) {m.group(2)}{m.group(3)}:", text)
    return _BALLOT.sub("(ballot-shaped JSON removed)", text)


def quote(text: str, tag: str) -> str:
    """``text`` as data between ``<tag>`` lines; nothing inside can close them."""
    return f"<{tag}>\n{neutralize(text)}\n</{tag}>"


def steering(text: str) -> list[str]:
    """What in ``text`` is aimed at its judge; empty when nothing is."""
    return [reason for reason, pattern in _STEERING.items() if pattern.search(text)]


def _grams(text: str, size: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def echoes_steering(rationale: str, text: str, size: int = 5) -> bool:
    """Whether ``rationale`` repeats ``size`` words in a row from a steering sentence of
    ``text``: a ballot that parrots what the prompt told its judge to say."""
    sentences = [s for s in re.split(r"(?<=[.!?\n])\s+", text) if steering(s)]
    return bool(sentences) and bool(_grams(rationale, size) & _grams(" ".join(sentences), size))
