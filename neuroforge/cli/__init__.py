"""The ``neuroforge`` command line: one module per command family, assembled here.

Each family module parses, calls one function below the shell, and prints. Heavy
libraries (torch, langchain, llama.cpp, chromadb) are imported inside the commands
that need them, so ``neuroforge --help`` starts fast.
"""

from __future__ import annotations

import errno
import sys
from typing import Annotated

import typer
from rich.markup import escape

from neuroforge import __version__
from neuroforge.cli import (
    admin,
    autopilot,
    chat,
    experiment,
    experiment_work,
    memory,
    optimize,
    route,
)
from neuroforge.cli.common import errors

__all__ = ["app", "main"]

app = typer.Typer(
    help="NeuroForge: local-first multi-agent prompt engineering and model routing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"neuroforge {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """NeuroForge: local-first multi-agent prompt engineering and model routing."""


# The map: every command and the module that holds it.
app.command("optimize")(optimize.optimize)
app.command("lineage")(optimize.lineage)
app.command("demo")(optimize.demo)
app.command("route")(route.route)
app.add_typer(route.router_app, name="router")
app.command("chat")(chat.chat)
app.add_typer(memory.memory_app, name="memory")
experiment.experiment_app.command("work")(experiment_work.experiment_work)
app.add_typer(experiment.experiment_app, name="experiment")
app.add_typer(autopilot.autopilot_app, name="autopilot")
app.command("monitor")(autopilot.monitor)
app.add_typer(admin.models_app, name="models")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.config_app, name="config")
app.command("doctor")(admin.doctor)
app.command("runs")(admin.runs)


# Disk full, read-only file system, permission denied, quota: the store cannot be written.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT,
                  errno.ENOTDIR}  # and a file where the data folder goes


def main() -> None:
    """Console-script entry point.

    Storage failures any command can meet (a bad database URL, a server that is down, a
    read-only or full disk) end here as one line, not a traceback.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.knowledge.redaction import mask_secrets

    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
    except (DatabaseError, SQLAlchemyError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in STORAGE_ERRNOS:
            raise
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        errors.print(f"[bold red]error:[/] storage failed: {escape(mask_secrets(reason))}. "
                     "Finished work is kept; `neuroforge runs` lists interrupted runs, and "
                     "`--resume RUN_ID` continues one once the cause is fixed.",
                     highlight=False)
        sys.exit(1)
