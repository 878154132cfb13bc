"""The ``neuroforge`` command line: one module per command family, assembled here.

Each family module parses, calls one function below the shell, and prints. Heavy
libraries (torch, langchain, llama.cpp, chromadb) are imported inside the commands
that need them, so ``neuroforge --help`` starts fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from neuroforge import __version__
from neuroforge.cli import admin, autopilot, chat, experiment, memory, optimize, route
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
app.add_typer(experiment.experiment_app, name="experiment")
app.add_typer(autopilot.autopilot_app, name="autopilot")
app.command("monitor")(autopilot.monitor)
app.add_typer(admin.models_app, name="models")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.config_app, name="config")
app.command("doctor")(admin.doctor)
app.command("runs")(admin.runs)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
