"""What one process opens once and shares: a store engine per URL, and model discovery
for a short while.

A long-lived process (the Studio server, a script routing thousands of tasks) would
otherwise open a new engine, and file handles, and probe Ollama on every call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["DISCOVERY_TTL_S", "clear", "shared_store", "recent_discovery"]

T = TypeVar("T")
DISCOVERY_TTL_S = 15.0  # how long a process trusts what Ollama listed
_STORES: dict[str, Any] = {}
_DISCOVERIES: dict[Hashable, tuple[float, Any]] = {}
_LOCK = threading.Lock()


def _file_present(url: str) -> bool:
    # A SQLite file deleted or moved since it was opened must be opened (and created) anew.
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file()


def shared_store(url: str, open_new: Callable[[], T]) -> T:
    """The store engine for ``url`` this process already has, or ``open_new()``."""
    with _LOCK:
        if url not in _STORES or not _file_present(url):
            _STORES[url] = open_new()
        return _STORES[url]  # type: ignore[no-any-return]


def recent_discovery(key: Hashable, ttl_s: float, discover: Callable[[], T]) -> tuple[T, bool]:
    """(discovery, fresh): the one made under ``key`` within ``ttl_s`` seconds, or a new one."""
    with _LOCK:
        cached = _DISCOVERIES.get(key)
    if cached is not None and time.monotonic() - cached[0] < ttl_s:
        return cached[1], False
    found = discover()
    with _LOCK:
        _DISCOVERIES[key] = (time.monotonic(), found)
    return found, True


def clear() -> None:
    """Forget everything cached (tests, and after settings change in-process)."""
    with _LOCK:
        for store in _STORES.values():
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()  # a server keeps idle pooled connections open otherwise
        _STORES.clear()
        _DISCOVERIES.clear()
