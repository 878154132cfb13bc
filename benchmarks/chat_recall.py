"""Does chat use what it remembers? Facts told in one session, asked in a new one.

A small scripted set of (fact, question, answer words): each fact is told in its own
session, then asked about from a fresh session, through the real chat graph on the
embedded model with Chroma long-term memory. An answer counts when it contains one of
the answer words (case-insensitive). The same questions go to the same model with no
long-term memory (the free baseline: what it guesses), in the same run.
Also reported: recall@3 (was the fact among the memories put in the prompt?), which
separates retrieval failures from the model ignoring what it was given.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from neuroforge.graphs.chat import ChatDeps, create_chat_graph
from neuroforge.knowledge.db import open_database
from neuroforge.memory.long_term import open_long_term
from neuroforge.models.backends import LLMConfig, create_chat_model

# (what the user says, what they ask later, words an answer must contain one of)
CONVERSATIONS = [
    ("My sister lives in Toronto.", "Where does my sister live?", ["toronto"]),
    ("My dog is called Biscuit.", "What is my dog's name?", ["biscuit"]),
    ("I work as a nurse at a hospital in Leeds.", "What is my job?", ["nurse"]),
    ("My favourite colour is teal.", "What is my favourite colour?", ["teal"]),
    ("I was born in 1987.", "In which year was I born?", ["1987"]),
    ("My daughter plays the cello.", "Which instrument does my daughter play?", ["cello"]),
    ("I am allergic to peanuts.", "What am I allergic to?", ["peanut"]),
    ("My car is a red Volvo.", "What car do I drive?", ["volvo"]),
    ("Our team meeting is every Tuesday.", "On which day is our team meeting?", ["tuesday"]),
    ("I speak Portuguese and Japanese.", "Which languages do I speak?",
     ["portuguese", "japanese"]),
    ("My favourite food is lasagne.", "What is my favourite food?", ["lasagne", "lasagna"]),
    ("My brother's name is Tomasz.", "What is my brother called?", ["tomasz"]),
]


def _ask(graph: Any, text: str, session: str) -> dict[str, Any]:
    config = {"configurable": {"thread_id": session}}
    return dict(graph.invoke({"messages": [HumanMessage(text)], "session_id": session},
                             config))


def _graph(folder: Path, with_memory: bool) -> Any:
    model = create_chat_model(None, LLMConfig(backend="embedded", max_tokens=64),
                              temperature=0.0)
    memory = open_long_term(open_database(f"sqlite:///{folder / 'nf.db'}"),
                            folder / "chroma") if with_memory else None
    saver = SqliteSaver(sqlite3.connect(folder / "ck.sqlite", check_same_thread=False))
    return create_chat_graph(ChatDeps(chat_model=lambda _name: model, memory=memory)
                             ).compile(checkpointer=saver)


def _run(with_memory: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        graph = _graph(Path(tmp), with_memory)
        for i, (fact, _question, _words) in enumerate(CONVERSATIONS):
            _ask(graph, fact, f"tell-{i}")
        answered, recalled, rows = 0, 0, []
        started = time.perf_counter()
        for i, (fact, question, words) in enumerate(CONVERSATIONS):
            state = _ask(graph, question, f"ask-{i}")
            answer = state["messages"][-1].text
            hit = any(w in answer.lower() for w in words)
            found = any(m["text"] == fact for m in state.get("recalled", [])[:3])
            answered, recalled = answered + hit, recalled + found
            rows.append({"question": question, "answer": answer[:200], "correct": hit,
                         "fact_recalled": found})
        return {"answered_with_the_fact": round(answered / len(CONVERSATIONS), 3),
                "recall_at_3": round(recalled / len(CONVERSATIONS), 3) if with_memory
                else None, "seconds_per_question": round(
                    (time.perf_counter() - started) / len(CONVERSATIONS), 2),
                "rows": rows}


def run() -> dict[str, Any]:
    """Share of recall questions answered with the fact, with and without memory."""
    with_memory = _run(with_memory=True)
    without = _run(with_memory=False)
    return {"conversations": len(CONVERSATIONS), "model": "smollm2-135m (embedded)",
            "with_long_term_memory": with_memory, "baseline_no_memory": without}
