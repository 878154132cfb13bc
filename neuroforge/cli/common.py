"""What every command family shares: the consoles, failing with one line, settings, JSON."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from neuroforge.settings import Settings, load_settings, settings_problems

__all__ = [
    "JsonFlag", "RunInterrupted", "console", "errors", "fail", "print_json", "read_text_arg",
    "settings", "stop_on_interrupt", "strip_controls", "utf8_problem",
]

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # never break paths in messages
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` (credentials masked) as an error and exit with ``code``."""
    from rich.markup import escape

    from neuroforge.knowledge.redaction import mask_secrets

    errors.print(f"[bold red]error:[/] {escape(mask_secrets(message))}", highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    """Load settings, turning a bad value into a readable message."""
    from pydantic import ValidationError

    from neuroforge.settings import ConfigFileError

    try:
        return load_settings()
    except ConfigFileError as exc:
        fail(f"{exc}. Fix it (TOML, UTF-8), or point NEUROFORGE_CONFIG at another file.", 2)
    except ValidationError as exc:
        fail(f"invalid configuration ({settings_problems(exc)}). Check NEUROFORGE_* "
             "variables and the config file (`neuroforge config show` prints its path).", 2)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to standard output (credential-carrying URLs masked)."""
    from neuroforge.knowledge.redaction import mask_secrets

    sys.stdout.write(mask_secrets(json.dumps(data, indent=2, default=str)) + "\n")


def read_text_arg(text: str, what: str = "prompt") -> str:
    """The argument itself, or standard input when it is ``-``, as clean text.

    Text that is not valid UTF-8 is refused with one line (exit 2); control characters
    other than tab and newline are removed, with a note.
    """
    if text == "-":
        text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
    problem = utf8_problem(text)
    if problem:
        fail(f"the {what} {problem}; save it as UTF-8 and try again", 2)
    cleaned = strip_controls(text)
    if len(cleaned) != len(text):
        errors.print(f"note: removed {len(text) - len(cleaned)} control character(s) from "
                     f"the {what}", highlight=False)
    return cleaned


def utf8_problem(text: str) -> str | None:
    """Why ``text`` is not valid UTF-8 (undecodable bytes arrive as lone surrogates)."""
    for position, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            byte = ord(char) - 0xDC00 if "\udc80" <= char <= "\udcff" else None
            shown = f"byte 0x{byte:02x}" if byte is not None else "a lone surrogate"
            return f"is not valid UTF-8 ({shown} at character {position + 1})"
    return None


def strip_controls(text: str) -> str:
    """``text`` without C0/C1 control characters, keeping tab, newline and carriage return."""
    return "".join(c for c in text if c in "\t\n\r" or not (
        ord(c) < 32 or 0x7F <= ord(c) <= 0x9F))


class RunInterrupted(Exception):
    """The user pressed Ctrl-C; the run was saved and marked interrupted."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} interrupted")
        self.run_id = run_id


class RunStopped(Exception):
    """A backend failed where no step could go on without it (``reason``); the run was
    saved and marked interrupted, to be resumed once the backend is back."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} stopped: {reason}")
        self.run_id, self.reason = run_id, reason


@contextmanager
def stop_on_interrupt(stop: threading.Event, console: Any = None,
                      raise_first: bool = True) -> Iterator[None]:
    """On the first Ctrl-C: say so at once, set ``stop`` and raise ``KeyboardInterrupt``.

    Workers that watch ``stop`` finish their current model call and return, so the run
    ends in seconds; a second Ctrl-C is the default one again. With ``raise_first``
    false the first Ctrl-C only sets ``stop`` (quietly), for code that finishes what it
    runs itself once ``stop`` is set.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def first_interrupt(_signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, previous)
        stop.set()
        if not raise_first:
            return
        (console or errors).print("stopping: finishing the model calls in flight "
                                  "(Ctrl-C again to quit at once) ...", highlight=False)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
