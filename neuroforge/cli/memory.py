"""``neuroforge memory``: search, forget and export long-term memory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from neuroforge.cli.common import JsonFlag, console, errors, fail, print_json, settings

__all__ = ["memory_app"]

memory_app = typer.Typer(help="Long-term memory: search, forget, export.", no_args_is_help=True)


def _long_term() -> Any:
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.memory.long_term import MemoryError_
    from neuroforge.wiring import long_term_memory

    try:
        return long_term_memory(settings())
    except (DatabaseError, MemoryError_) as exc:
        fail(str(exc))


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    kind: Annotated[str | None, typer.Option(help="fact, optimization or routing.")] = None,
    session: Annotated[str | None, typer.Option(help="Only this chat session's.")] = None,
    since_days: Annotated[float | None, typer.Option(min=0, help="Only the last N days.")]
    = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """The memories most relevant to QUERY, with where they came from."""
    import time

    from neuroforge.memory.long_term import MemoryError_

    since = time.time() - since_days * 86400 if since_days is not None else None
    try:
        found = _long_term().recall(query, k, kind=kind, session_id=session, since=since)
    except MemoryError_ as exc:
        fail(str(exc), 2)
    if as_json:
        print_json({"query": query, "memories": [m.as_dict() for m in found]})
        return
    for m in found:
        console.print(f"{m.similarity:.2f}  {m.text}  [dim]({m.provenance()}, id {m.id})[/]",
                      highlight=False)
    if not found:
        errors.print("no memories match")


@memory_app.command("forget")
def memory_forget(
    session: Annotated[str | None, typer.Option(help="Forget everything from this session.")]
    = None,
    memory_id: Annotated[str | None, typer.Option("--id", help="Forget one memory.")] = None,
    matching: Annotated[str | None, typer.Option(
        "--matching", help="Forget every memory whose text matches this regular expression "
        "(case-insensitive), e.g. 'password|api key'.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete memories for good, from Chroma and from the database."""
    from neuroforge.memory.long_term import MemoryError_

    if sum(x is not None for x in (session, memory_id, matching)) != 1:
        fail("give exactly one of --session ID, --id ID or --matching PATTERN", 2)
    try:
        count = _long_term().forget(session_id=session, memory_id=memory_id, matching=matching)
    except MemoryError_ as exc:
        fail(str(exc), 2 if matching is not None and "pattern" in str(exc) else 1)
    if count == 0:
        what = (f"of session {session}" if session else f"matching {matching!r}" if matching
                else memory_id)
        fail(f"nothing to forget: no memory {what}")
    if as_json:
        print_json({"forgotten": count, "session": session, "id": memory_id,
                    "matching": matching})
    else:
        console.print(f"forgot {count} memor{'y' if count == 1 else 'ies'}")


@memory_app.command("export")
def memory_export(
    file: Annotated[str, typer.Argument(help="JSONL file to write.")],
    as_json: JsonFlag = False,
) -> None:
    """Write every memory as JSON lines (id, kind, session, text, details, times)."""
    target = Path(file).expanduser()
    if not target.parent.is_dir():
        fail(f"cannot write {target}: the folder {target.parent} does not exist", 2)
    try:
        count = _long_term().export(target)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}", 2)
    if as_json:
        print_json({"exported": count, "file": str(target)})
    else:
        console.print(f"exported {count} memories to {target}")
