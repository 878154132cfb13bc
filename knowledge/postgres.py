"""PostgreSQL beside SQLAlchemy: libpq connections (for the checkpointer and locks) and
session advisory locks, which end with their connection, so a killed holder frees them.

psycopg comes with the ``postgres`` extra; without it these raise ``DatabaseError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from neuroforge.knowledge.db import DatabaseError, one_line
from neuroforge.knowledge.redaction import mask_secrets, mask_url

__all__ = ["LockHeld", "advisory_lock", "connect", "is_postgres_url", "libpq_url"]


class LockHeld(RuntimeError):
    """Another session holds the advisory lock."""


def is_postgres_url(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return bool(url) and str(url).startswith(("postgresql:", "postgresql+", "postgres:"))


def libpq_url(url: str) -> str:
    """``url`` as libpq reads it: ``postgresql://user:pw@host:port/db?...``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {mask_url(url)!r}") from exc
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(f"expected a PostgreSQL URL, got {mask_url(url)!r}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def connect(url: str, purpose: str, **options: Any) -> Any:
    """An open psycopg connection to ``url``; ``DatabaseError`` naming ``purpose`` and the
    masked URL when the server is down, the password is wrong or the database is missing."""
    try:
        import psycopg
    except ImportError as exc:
        raise DatabaseError(f"{purpose} on PostgreSQL needs the postgres extra: "
                            "pip install 'neuroforge-lab[postgres]'") from exc
    try:
        return psycopg.connect(libpq_url(url), connect_timeout=10, **options)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot open {purpose} at {mask_url(url)}: "
                            f"{mask_secrets(one_line(exc))}") from exc


@contextmanager
def advisory_lock(url: str, name: str) -> Iterator[None]:
    """Hold the session advisory lock ``name`` in the database at ``url``, or raise
    ``LockHeld`` at once."""
    # A stable signed 64-bit key (Python's hash() changes from process to process).
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with connect(url, f"the {name} lock", autocommit=True) as connection:
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not row or not row[0]:
            raise LockHeld(name)
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
