"""What every command family shares: the consoles, failing with one line, settings, JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from neuroforge.settings import Settings, load_settings

__all__ = ["JsonFlag", "console", "errors", "fail", "print_json", "read_text_arg", "settings"]

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # never break paths in messages
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    """Load settings, turning a bad value into a readable message."""
    from pydantic import ValidationError

    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid configuration ({problems}). Check NEUROFORGE_* variables and the "
             "config file (`neuroforge config show` prints its path).", 2)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to standard output."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def read_text_arg(text: str) -> str:
    """The argument itself, or standard input when it is ``-``."""
    if text == "-":
        return sys.stdin.read()
    return text
