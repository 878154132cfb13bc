"""Engines, sessions and schema migrations for the knowledge store."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "Database",
    "DatabaseError",
    "current_revision",
    "head_revision",
    "one_line",
    "open_database",
    "private_dir",
    "private_file",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class DatabaseError(RuntimeError):
    """The knowledge store cannot be opened or upgraded; the message says why."""


@dataclass(frozen=True)
class Database:
    """An engine and its session factory."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers and a writer coexist.
    # synchronous=NORMAL under WAL survives a process crash (what resumable runs need)
    # and skips an fsync per commit; only an OS crash or power cut can drop the last
    # commits, never corrupt the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` when it has no schema yet."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine, revision: str = "head") -> str:
    """Apply every migration up to ``revision``; returns the revision reached."""
    from alembic import command

    with engine.begin() as connection:
        if inspect(connection).has_table("runs") and not inspect(connection).has_table(
            "alembic_version"
        ):
            raise DatabaseError(
                f"{engine.url.render_as_string(hide_password=True)} has NeuroForge tables but "
                "no schema version; it was not created by NeuroForge's migrations. "
                "Move it aside or point NEUROFORGE_DATABASE_URL elsewhere."
            )
        command.upgrade(_alembic_config(connection), revision)
    reached = current_revision(engine)
    assert reached is not None
    return reached


def one_line(error: object) -> str:
    """An error's text on one line (libpq's messages span several, with hints)."""
    return " ".join(str(error).split()) or type(error).__name__


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by its owner only; an existing one is left.
    Raises ``NotADirectoryError`` naming ``path`` when a file stands there."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file stands where the folder goes", str(path))
    if not path.is_dir():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create an empty ``path`` with mode 0600 in a private folder, unless it exists.

    SQLite gives its -wal and -shm files the database file's mode, so they follow.
    """
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    return path


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Connect to ``url`` (any SQLAlchemy URL) and bring its schema to head.

    Raises ``DatabaseError`` with a readable reason when the URL is malformed, the
    server is unreachable, or the database is newer than this code.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {url!r} ({exc})") from exc
    lock: Any = nullcontext()
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        try:
            private_file(path)
        except OSError as exc:
            raise DatabaseError(f"cannot create the database file {path}: {exc}") from exc
        # Several processes opening a new data directory at once would each run the
        # migrations ("table ... already exists"): one at a time, re-checked under the lock.
        lock = FileLock(str(path) + ".migrate.lock", timeout=120)
    try:
        engine = create_engine(parsed, future=True)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use database URL {parsed!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        if upgrade:
            with lock:
                _upgrade_if_needed(engine)
        else:
            current_revision(engine)
    except Timeout as exc:
        raise DatabaseError(f"another process has held {exc.lock_file} for two minutes while "
                            "upgrading the database; is one stuck?") from exc
    except OperationalError as exc:
        raise DatabaseError(f"cannot open database {parsed!r}: {one_line(exc.orig)}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {parsed!r} failed: {one_line(exc)}") from exc
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def _upgrade_if_needed(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    from alembic.script import ScriptDirectory

    known = {rev.revision for rev in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseError(
            f"the database is at schema revision {current!r}, which this version of "
            "NeuroForge does not know (it was written by a newer version). Upgrade NeuroForge."
        )
    upgrade_database(engine)
