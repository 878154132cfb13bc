"""Build the chat graph, stream two turns of a session, and resume it from SQLite.

Run: .venv/bin/python examples/chat_programmatic.py
"""

import sqlite3

from langchain_core.messages import AIMessageChunk, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from neuroforge.graphs.chat import create_chat_graph
from neuroforge.settings import load_settings
from neuroforge.wiring import chat_deps

settings = load_settings(backend="embedded")
settings.data_dir.mkdir(parents=True, exist_ok=True)
saver = SqliteSaver(sqlite3.connect(settings.data_dir / "example-chat.sqlite",
                                    check_same_thread=False))
graph = create_chat_graph(chat_deps(settings)).compile(checkpointer=saver)
config = {"configurable": {"thread_id": "example-session"}}

for text in ["My name is Ada and I like chess.", "What game do I like?"]:
    print(f"you> {text}\nai> ", end="", flush=True)
    turn = {"messages": [HumanMessage(text)], "session_id": "example-session"}
    # "messages" mode yields tokens as the answer node produces them.
    for chunk, meta in graph.stream(turn, config, stream_mode="messages"):
        if meta["langgraph_node"] == "answer" and isinstance(chunk, AIMessageChunk):
            print(chunk.text, end="", flush=True)
    print()

state = graph.get_state(config).values
print(f"{len(state['messages'])} messages in the session; remembered: {state['remembered']}")
