"""Long-term memory: a Chroma collection embedded with the bundled MiniLM, mirrored in the
knowledge store.

Chroma answers "what is relevant"; the ``memories`` table is the durable record that
export reads and that ``forget`` clears together with Chroma. Both share one id.
Near-duplicates (same kind, session and subject, cosine similarity at or above
``MERGE_SIMILARITY``) are merged into the existing memory instead of piling up:
the newer wording replaces the older, the memory's ``count`` goes up, and a numeric
``quality`` in its details becomes the running mean. The subject keeps apart what
must not merge, such as outcomes of one task on two different models.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from filelock import FileLock, Timeout
from sqlalchemy import delete, select

from neuroforge.knowledge.db import Database, private_dir
from neuroforge.knowledge.schema import MemoryRecord, new_id
from neuroforge.memory.embeddings import embed_texts

__all__ = [
    "KINDS",
    "MAX_MEMORY_CHARS",
    "MERGE_SIMILARITY",
    "LongTermMemory",
    "Memory",
    "MemoryError_",
    "MiniLMEmbeddingFunction",
    "NewMemory",
    "open_long_term",
]

T = TypeVar("T")
KINDS = ("fact", "optimization", "routing")
COLLECTION = "neuroforge_memories"
MERGE_SIMILARITY = 0.92
MAX_MEMORY_CHARS = 4000


class MemoryError_(RuntimeError):  # noqa: N801  (``MemoryError`` is a builtin)
    """Long-term memory cannot do what was asked; the message says why."""


class MiniLMEmbeddingFunction:
    """Chroma embedding function over the bundled all-MiniLM-L6-v2.

    Chroma rebuilds embedding functions from their config on many calls, so
    ``__init__`` does nothing and the model itself is cached per process in
    ``neuroforge.memory.embeddings``. Never Chroma's default, which downloads a model.
    """

    def __init__(self) -> None:
        pass

    def __call__(self, input: Sequence[str]) -> list[Any]:  # noqa: A002  (Chroma's name)
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in embed_texts(list(input))]

    def embed_query(self, input: Sequence[str]) -> list[Any]:  # noqa: A002
        """Chroma 1.x calls this for query texts."""
        return self(input)

    @staticmethod
    def name() -> str:
        """The name Chroma stores in the collection's configuration."""
        return "neuroforge-minilm-l6-v2"

    def get_config(self) -> dict[str, Any]:
        """Nothing to configure: the model ships with the package."""
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        """Chroma's way back from a stored configuration."""
        return MiniLMEmbeddingFunction()

    def is_legacy(self) -> bool:
        """Not a pre-1.0 embedding function."""
        return False

    def default_space(self) -> str:
        """Cosine distance: MiniLM vectors are compared by angle."""
        return "cosine"

    def supported_spaces(self) -> list[str]:
        """Spaces that make sense for normalized sentence embeddings."""
        return ["cosine", "ip", "l2"]


@dataclass(frozen=True)
class NewMemory:
    """Something to remember."""

    text: str
    kind: str = "fact"
    session_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None


@dataclass(frozen=True)
class Memory:
    """A stored memory; ``similarity`` is set on recall (cosine, -1..1)."""

    id: str
    kind: str
    text: str
    session_id: str | None
    created_at: float
    updated_at: float
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    similarity: float | None = None
    subject: str | None = None

    def provenance(self) -> str:
        """Where a memory came from, for prompts and listings."""
        when = datetime.fromtimestamp(self.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        where = f"session {self.session_id}" if self.session_id else "global"
        return f"{self.kind}, {where}, {when} UTC, seen {self.count}x"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _check(item: NewMemory) -> NewMemory:
    if not isinstance(item.text, str) or not item.text.strip():
        raise MemoryError_("a memory needs some text; got an empty one")
    if item.kind not in KINDS:
        raise MemoryError_(f"unknown memory kind {item.kind!r}; use one of {', '.join(KINDS)}")
    text = " ".join(item.text.split())
    if len(text) > MAX_MEMORY_CHARS:
        raise MemoryError_(f"a memory has {len(text)} characters; the limit is "
                           f"{MAX_MEMORY_CHARS}")
    return NewMemory(text, item.kind, item.session_id or None, dict(item.details),
                     item.subject or None)


def _where(kind: str | None, session_id: str | None, since: float | None,
           subject: str | None = None) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if subject:
        clauses.append({"subject": subject})
    if kind:
        clauses.append({"kind": kind})
    if session_id:
        clauses.append({"session": session_id})
    if since is not None:
        clauses.append({"created_at": {"$gte": float(since)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _metadata(item: NewMemory, created: float, updated: float, count: int) -> dict[str, Any]:
    # Chroma metadata values must be scalars: details travel as a JSON string.
    return {"kind": item.kind, "session": item.session_id or "", "subject": item.subject or "",
            "created_at": created,
            "updated_at": updated, "count": count,
            "details": json.dumps(dict(item.details), default=str)}


def _from_chroma(memory_id: str, text: str, meta: Mapping[str, Any],
                 distance: float | None = None) -> Memory:
    return Memory(id=memory_id, kind=str(meta["kind"]), text=text,
                  session_id=str(meta.get("session") or "") or None,
                  created_at=float(meta["created_at"]), updated_at=float(meta["updated_at"]),
                  count=int(meta.get("count", 1)),
                  details=json.loads(str(meta.get("details") or "{}")),
                  similarity=None if distance is None else round(1.0 - float(distance), 4),
                  subject=str(meta.get("subject") or "") or None)


def _merged_details(meta: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Newer details win, except ``quality``, which becomes the mean over all merges."""
    old = json.loads(str(meta.get("details") or "{}"))
    merged = {**old, **dict(new)}
    count = int(meta.get("count", 1))
    if isinstance(old.get("quality"), int | float) and isinstance(new.get("quality"),
                                                                  int | float):
        merged["quality"] = round((old["quality"] * count + new["quality"]) / (count + 1), 4)
    return json.dumps(merged, default=str)


@dataclass
class LongTermMemory:
    """A Chroma collection plus its mirror table.

    Chroma's local store is not safe for several processes at once (concurrent chats
    crashed with "Error finding id" and lost facts), so with a local directory every
    Chroma call holds an inter-process file lock, and a call that fails is retried once
    on a freshly opened client (another process may have changed the index under this
    one's cache). Whatever still fails is a ``MemoryError_`` naming the operation.
    """

    collection: Any
    db: Database
    reopen: Callable[[], Any] | None = None
    lock: Any = field(default_factory=nullcontext)

    def _chroma(self, what: str, operation: Callable[[Any], T]) -> T:
        with self.lock:
            try:
                return operation(self.collection)
            except Exception as first:  # Chroma raises many types, all "memory failed"
                if self.reopen is None:
                    raise MemoryError_(f"long-term memory could not {what}: {first}") from first
                try:
                    self.collection = self.reopen()
                    return operation(self.collection)
                except Exception as exc:
                    raise MemoryError_(f"long-term memory could not {what}: {exc}") from exc

    def count(self) -> int:
        """How many memories are stored."""
        return int(self._chroma("count memories", lambda c: c.count()))

    def remember(self, text: str, kind: str = "fact", session_id: str | None = None,
                 details: Mapping[str, Any] | None = None, subject: str | None = None
                 ) -> tuple[Memory, bool]:
        """Store one memory; returns it and whether it merged into an existing one."""
        return self.remember_many([NewMemory(text, kind, session_id, details or {},
                                             subject)])[0]

    def remember_many(self, items: Iterable[NewMemory]) -> list[tuple[Memory, bool]]:
        """Store memories in one batch (one embedding pass, one nearest-neighbour query)."""
        checked = [_check(item) for item in items]
        if not checked:
            return []
        vectors = embed_texts([m.text for m in checked])
        matrix = np.asarray(vectors, dtype=np.float32)  # for in-batch twin checks
        nearest = self._nearest(checked, vectors)
        now = time.time()
        results: list[tuple[Memory, bool]] = []
        fresh: dict[tuple[str, str, str], list[tuple[int, str]]] = {}  # in-batch twins
        upserts: dict[str, tuple[str, list[float], dict[str, Any]]] = {}
        for index, (item, vector, near) in enumerate(zip(checked, vectors, nearest,
                                                         strict=True)):
            scope = (item.kind, item.session_id or "", item.subject or "")
            twin = _batch_twin(matrix, index, fresh.get(scope, []))
            if twin is not None:
                near = (twin, upserts[twin][2])
            if near is not None:
                memory_id, meta = near
                meta = {**meta, "updated_at": now, "count": int(meta.get("count", 1)) + 1,
                        "details": _merged_details(meta, item.details)}
                merged = True
            else:
                memory_id, meta, merged = new_id(), _metadata(item, now, now, 1), False
            upserts[memory_id] = (item.text, vector, meta)
            fresh.setdefault(scope, []).append((index, memory_id))
            results.append((_from_chroma(memory_id, item.text, meta), merged))
        self._write(upserts)
        return results

    def _nearest(self, items: list[NewMemory], vectors: list[list[float]]
                 ) -> list[tuple[str, dict[str, Any]] | None]:
        """The closest stored memory in each item's (kind, session, subject) scope."""
        found: list[tuple[str, dict[str, Any]] | None] = [None] * len(items)
        if self.count() == 0:
            return found
        scopes: dict[tuple[str, str, str], list[int]] = {}
        for index, item in enumerate(items):
            scopes.setdefault((item.kind, item.session_id or "", item.subject or ""),
                              []).append(index)
        for (kind, session, subject), indexes in scopes.items():  # one query per scope
            query = partial(_query_nearest, vectors=[vectors[i] for i in indexes],
                            where={"$and": [{"kind": kind}, {"session": session},
                                            {"subject": subject}]})
            reply = self._chroma("look for near-duplicates", query)
            for index, ids, dists, metas in zip(indexes, reply["ids"], reply["distances"],
                                                reply["metadatas"], strict=True):
                if ids and 1.0 - float(dists[0]) >= MERGE_SIMILARITY:
                    found[index] = (ids[0], dict(metas[0]))
        return found

    def _write(self, upserts: Mapping[str, tuple[str, list[float], dict[str, Any]]]) -> None:
        ids = list(upserts)
        with self.db.session() as session:
            existing = {r.id: r for r in session.scalars(
                select(MemoryRecord).where(MemoryRecord.id.in_(ids)))}
            for memory_id, (text, _vector, meta) in upserts.items():
                row = existing.get(memory_id) or MemoryRecord(
                    id=memory_id, kind=meta["kind"], session_id=meta["session"] or None,
                    created_at=datetime.fromtimestamp(meta["created_at"], UTC))
                row.text, row.count = text, int(meta["count"])
                # The table has no subject column; export reads it from the details.
                subject = {"subject": meta["subject"]} if meta.get("subject") else {}
                row.details = json.loads(meta["details"]) | subject
                row.updated_at = datetime.fromtimestamp(meta["updated_at"], UTC)
                if memory_id not in existing:
                    session.add(row)
            # Chroma second: if it fails the transaction rolls back and nothing is half-written.
            self._chroma("store memories", lambda c: c.upsert(
                ids=ids, documents=[upserts[i][0] for i in ids],
                embeddings=[upserts[i][1] for i in ids], metadatas=[upserts[i][2] for i in ids]))

    def recall(self, query: str, k: int = 5, *, kind: str | None = None,
               session_id: str | None = None, since: float | None = None,
               subject: str | None = None, min_similarity: float = -1.0) -> list[Memory]:
        """The ``k`` memories most relevant to ``query``, best first, after the filters."""
        if not isinstance(query, str) or not query.strip():
            raise MemoryError_("the query is empty; say what to look for")
        if kind is not None and kind not in KINDS:
            raise MemoryError_(f"unknown memory kind {kind!r}; use one of {', '.join(KINDS)}")
        if k < 1 or self.count() == 0:
            return []
        vector = embed_texts([query[:MAX_MEMORY_CHARS]])
        where = _where(kind, session_id, since, subject)
        reply = self._chroma("recall memories", lambda c: c.query(
            query_embeddings=vector, n_results=k, where=where,
            include=["documents", "metadatas", "distances"]))
        memories = [_from_chroma(i, d, m, dist) for i, d, m, dist in zip(
            reply["ids"][0], reply["documents"][0], reply["metadatas"][0],
            reply["distances"][0], strict=True)]
        return [m for m in memories if (m.similarity or 0.0) >= min_similarity]

    def forget(self, *, session_id: str | None = None, memory_id: str | None = None,
               matching: str | None = None) -> int:
        """Delete a session's memories, one memory, or every memory whose text matches the
        regular expression ``matching`` (case-insensitive), from Chroma and the database."""
        if sum(x is not None for x in (session_id, memory_id, matching)) != 1:
            raise MemoryError_("say what to forget: a session id, a memory id or a pattern")
        if matching is not None:
            return self._forget_matching(matching)
        column = MemoryRecord.session_id if session_id else MemoryRecord.id
        value = session_id or memory_id
        with self.db.session() as session:
            ids = list(session.scalars(select(MemoryRecord.id).where(column == value)))
            if memory_id and not ids:
                # A memory Chroma has but the table lost still gets deleted.
                ids = list(self._chroma("look up a memory",
                                        lambda c: c.get(ids=[memory_id]))["ids"])
            if not ids:
                return 0
            session.execute(delete(MemoryRecord).where(MemoryRecord.id.in_(ids)))
            self._chroma("delete memories", lambda c: c.delete(ids=ids))
        return len(ids)

    def _forget_matching(self, pattern: str) -> int:
        try:
            wanted = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise MemoryError_(f"not a valid pattern {pattern!r}: {exc}") from exc
        if not pattern.strip():
            raise MemoryError_("the pattern is empty; it would match every memory")
        with self.db.session() as session:
            rows = session.execute(select(MemoryRecord.id, MemoryRecord.text)).all()
            ids = [row.id for row in rows if wanted.search(row.text)]
            if ids:
                session.execute(delete(MemoryRecord).where(MemoryRecord.id.in_(ids)))
                self._chroma("delete memories", lambda c: c.delete(ids=ids))
        return len(ids)

    def export(self, path: Path) -> int:
        """Write every memory as one JSON object a line; returns how many."""
        count = 0
        tmp = path.with_name(path.name + ".part")
        with self.db.session() as session, tmp.open("w", encoding="utf-8") as out:
            rows = session.scalars(select(MemoryRecord).order_by(MemoryRecord.created_at))
            for row in rows:
                out.write(json.dumps({
                    "id": row.id, "kind": row.kind, "session_id": row.session_id,
                    "text": row.text, "details": row.details, "count": row.count,
                    "created_at": row.created_at.isoformat(),
                    "updated_at": row.updated_at.isoformat()}, ensure_ascii=False) + "\n")
                count += 1
        tmp.replace(path)  # never leave a half-written export under the final name
        return count


def _query_nearest(collection: Any, vectors: list[list[float]], where: dict[str, Any]
                   ) -> Any:
    return collection.query(query_embeddings=vectors, n_results=1, where=where,
                            include=["metadatas", "distances"])


def _batch_twin(matrix: np.ndarray, index: int, seen: list[tuple[int, str]]) -> str | None:
    """The id of an earlier item of the same batch that row ``index`` nearly duplicates."""
    if not seen:
        return None
    similarity = matrix[[i for i, _ in seen]] @ matrix[index]  # rows are unit vectors
    best = int(np.argmax(similarity))
    return seen[best][1] if similarity[best] >= MERGE_SIMILARITY else None


def _open_collection(chroma_dir: Path | None, chroma_url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings

    if chroma_url:
        from urllib.parse import urlparse

        parsed = urlparse(chroma_url)
        host, port = parsed.hostname or "localhost", parsed.port or 8000
        ssl = parsed.scheme == "https"
        # The URL's path names a Chroma database (default tenant), so several NeuroForge
        # deployments can share one server without seeing each other's memories.
        database = parsed.path.strip("/") or chromadb.DEFAULT_DATABASE
        if database != chromadb.DEFAULT_DATABASE:
            admin = chromadb.AdminClient(Settings(chroma_api_impl="chromadb.api.fastapi.FastAPI",
                                                  chroma_server_host=host,
                                                  chroma_server_http_port=port,
                                                  chroma_server_ssl_enabled=ssl))
            try:
                admin.get_database(database)
            except Exception:  # Chroma raises NotFoundError or a plain error by version
                admin.create_database(database)
        client: Any = chromadb.HttpClient(host=host, port=port, ssl=ssl, database=database)
    else:
        assert chroma_dir is not None, "give chroma_dir or chroma_url"
        private_dir(chroma_dir)
        client = chromadb.PersistentClient(path=str(chroma_dir))
    return client.get_or_create_collection(
        COLLECTION, embedding_function=MiniLMEmbeddingFunction(),
        configuration={"hnsw": {"space": "cosine"}})


def _reopen_local(chroma_dir: Path) -> Any:
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # else Chroma hands back the cached client
    return _open_collection(chroma_dir, None)


def open_long_term(db: Database, chroma_dir: Path | None = None,
                   chroma_url: str | None = None) -> LongTermMemory:
    """The memory collection in a local directory, or on a Chroma server by URL."""
    where = chroma_url or str(chroma_dir)
    lock: Any = nullcontext()
    if not chroma_url and chroma_dir is not None:
        lock = FileLock(str(chroma_dir) + ".lock", timeout=60)
    try:
        with lock:
            collection = _open_collection(chroma_dir, chroma_url)
    except Timeout as exc:
        raise MemoryError_(f"long-term memory at {where} has been locked by another process "
                           "for a minute") from exc
    except Exception as exc:  # Chroma raises many types; the user needs the place and reason
        raise MemoryError_(f"cannot open long-term memory at {where}: {exc}") from exc
    if chroma_url or chroma_dir is None:
        return LongTermMemory(collection=collection, db=db)
    return LongTermMemory(collection=collection, db=db, lock=lock,
                          reopen=partial(_reopen_local, chroma_dir))
