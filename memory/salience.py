"""Which parts of a user's turn are worth keeping in long-term memory.

A rule, not a model: the embedded 135M model cannot reliably tell a fact from
chatter, and a rule is predictable and testable. Kept: declarative sentences about
the user or their work (first-person cues) and anything the user asks to remember.
Questions, requests and commands ("Tell me a story", "Can you ..."), small talk, and
anything that looks like a secret (passwords, keys, tokens, card numbers) are not kept.
"""

from __future__ import annotations

import re

__all__ = ["salient_facts"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# "me" is not a cue: it is mostly the object of a request ("tell me", "give me").
_FIRST_PERSON = re.compile(
    r"\b(i|i'm|i am|i've|i'd|my|mine|we|we're|our|ours)\b", re.IGNORECASE)
_REQUEST = re.compile(
    r"^(please\s+)?(tell|write|give|show|explain|describe|list|make|create|generate|help|"
    r"translate|summari[sz]e|find|let|send|draft|compose|suggest|recommend|answer|"
    r"calculate|compute|solve|fix|say|read|open|run|go|stop|do|don't|try|imagine|"
    r"pretend|act|continue|repeat)\b|^(can|could|would|will|should)\s+(you|we|i)\b|"
    r"^(i want you|i need you|i'd like you)\b", re.IGNORECASE)
_SECRET = re.compile(
    r"\b(password|passcode|passphrase|pin|api[ _-]?key|secret|token|private key|"
    r"credit card|card number|cvv|ssn|social security)\b|\b(?:\d[ -]?){13,19}\b|"
    r"\b(sk|pk|ghp|xox[bp])[-_][A-Za-z0-9_-]{8,}", re.IGNORECASE)
_REMEMBER = re.compile(r"^\s*(please\s+)?(remember|note|keep in mind)( that)?\s*[:,]?\s*",
                       re.IGNORECASE)
_SMALL_TALK = re.compile(r"^(hi|hello|hey|thanks|thank you|ok|okay|bye)\b", re.IGNORECASE)


def salient_facts(text: str, max_facts: int = 5) -> list[str]:
    """Sentences of ``text`` worth remembering, cleaned, at most ``max_facts``."""
    if not isinstance(text, str) or text.lstrip().startswith("/"):
        return []
    facts: list[str] = []
    for sentence in _SENTENCE.split(" ".join(text.split())):
        sentence = sentence.strip()
        asked = bool(_REMEMBER.match(sentence))
        body = _REMEMBER.sub("", sentence).strip()
        words = body.split()
        if not (3 <= len(words) <= 60) or body.endswith("?") or _SMALL_TALK.match(body):
            continue
        if _REQUEST.match(body) or _SECRET.search(body):
            continue
        if asked or _FIRST_PERSON.search(body):
            facts.append(body[0].upper() + body[1:])
        if len(facts) >= max_facts:
            break
    return facts
