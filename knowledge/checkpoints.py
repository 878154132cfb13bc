"""LangGraph checkpointers: a SQLite file, or PostgreSQL (``langgraph-checkpoint-postgres``).

The store's URL is a SQLAlchemy one (``postgresql+psycopg://...``); the saver wants a
libpq one, so the driver suffix is dropped. The saver's own tables are created once,
under an advisory lock, because several workers may start at the same moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neuroforge.knowledge.db import DatabaseError, one_line, private_file
from neuroforge.knowledge.postgres import connect
from neuroforge.knowledge.redaction import mask_url

__all__ = ["postgres_checkpointer", "sqlite_checkpointer"]

SETUP_LOCK_KEY = 0x4E46_4350  # "NFCP": serialises PostgresSaver.setup() across processes


@contextmanager
def sqlite_checkpointer(path: Path) -> Iterator[Any]:
    """A ready ``SqliteSaver`` on the file at ``path`` (created 0600)."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    private_file(path)
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(connection)
        saver.setup()
        yield saver
    finally:
        connection.close()


@contextmanager
def postgres_checkpointer(url: str) -> Iterator[Any]:
    """A ready ``PostgresSaver`` on ``url``; ``DatabaseError`` (password hidden) when the
    server is down, the password is wrong or the database is missing."""
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Error as PsycopgError
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise DatabaseError("PostgreSQL checkpoints need the postgres extra: "
                            "pip install 'neuroforge-lab[postgres]'") from exc
    connection = connect(url, "checkpoints", autocommit=True, prepare_threshold=0,
                         row_factory=dict_row)
    with connection:
        saver = PostgresSaver(connection)
        try:
            connection.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
            try:
                saver.setup()
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
        except PsycopgError as exc:
            raise DatabaseError(f"cannot prepare checkpoints at {mask_url(url)}: "
                                f"{one_line(exc)}") from exc
        yield saver
