"""``neuroforge config | db | models | doctor | runs``: the installation and what it recorded."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from neuroforge.cli.common import JsonFlag, console, errors, fail, print_json, settings
from neuroforge.settings import Settings, masked_settings

__all__ = ["config_app", "db_app", "doctor", "models_app", "runs"]

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="The knowledge store's schema.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: discover and profile models.",
                         no_args_is_help=True)


@config_app.command("show")
def config_show(as_json: JsonFlag = False) -> None:
    """Print the effective settings (secrets masked) and where they came from."""
    data = masked_settings(settings())
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(f"[bold]{key}[/]", str(value))
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Bring the knowledge store's schema to the current revision."""
    from neuroforge.knowledge.db import DatabaseError, current_revision
    from neuroforge.wiring import open_store

    try:
        store = open_store(settings())
    except DatabaseError as exc:
        fail(str(exc))
    revision = current_revision(store.engine)
    if as_json:
        print_json({"url": store.url, "revision": revision})
    else:
        console.print(f"{store.url} is at schema revision {revision}")


@db_app.command("status")
def db_status(as_json: JsonFlag = False) -> None:
    """Show the database URL and its schema revision, without changing anything."""
    from neuroforge.knowledge.db import (
        DatabaseError,
        current_revision,
        head_revision,
        open_database,
    )

    current = settings()
    try:
        store = open_database(current.effective_database_url, upgrade=False)
        revision = current_revision(store.engine)
    except DatabaseError as exc:
        fail(str(exc))
    data: dict[str, Any] = {"url": store.url, "revision": revision, "head": head_revision()}
    data["up_to_date"] = revision == data["head"]
    if as_json:
        print_json(data)
    else:
        state = "up to date" if data["up_to_date"] else "needs `neuroforge db upgrade`"
        console.print(f"{data['url']}: revision {revision} (code head {data['head']}), {state}")


def _discover_and_sync(current: Settings) -> tuple[list[Any], str | None, str | None]:
    from neuroforge.knowledge.registry import list_models, sync_models
    from neuroforge.wiring import discover, open_store

    discovery = discover(current)
    with open_store(current).session() as session:
        sync_models(session, discovery)
        return list_models(session), discovery.ollama_error, discovery.openai_error


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """Discover models (embedded, Ollama, an OpenAI-compatible server) and list them with
    their latest profile."""
    summaries, ollama_error, openai_error = _discover_and_sync(settings())
    if as_json:
        print_json({"models": [s.as_dict() for s in summaries], "ollama_error": ollama_error,
                    "openai_error": openai_error})
        return
    table = Table("model", "backend", "available", "p50 ms", "tok/s", "valid JSON", "profiled")
    for s in summaries:
        p = s.profile or {}
        table.add_row(
            s.name, s.backend, "yes" if s.available else "no",
            str(p.get("latency_p50_ms", "-")), str(p.get("tokens_per_s", "-")),
            f"{p['structured_valid_rate']:.0%}" if p else "-",
            str(p.get("created_at", "never"))[:19],
        )
    console.print(table)
    for note in (ollama_error, openai_error):
        if note:
            errors.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


@models_app.command("profile")
def models_profile(
    name: Annotated[str | None, typer.Argument(help="Model to profile; default: all available.")]
    = None,
    probes: Annotated[int, typer.Option(min=1, max=50, help="How many probes (of 50).")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Measure latency, tokens/s and structured-output validity on a probe set, and store it."""
    from neuroforge.knowledge.registry import record_profile
    from neuroforge.models.backends import ModelError, create_chat_model
    from neuroforge.models.profiler import profile_models, spread_probes
    from neuroforge.wiring import llm_config, open_store

    current = settings()
    summaries, _, _ = _discover_and_sync(current)
    known = {s.name: s for s in summaries if s.available}
    if name == "embedded":
        name = next(s.name for s in summaries if s.backend == "embedded")
    if name is not None and name not in known:
        fail(f"unknown or unavailable model {name!r}; available: {', '.join(known) or 'none'}", 2)
    chosen, store, config = spread_probes(probes), open_store(current), llm_config(current)

    def record(model: str, stats: Any) -> None:
        with store.session() as session:
            record_profile(session, model, stats)
        if not as_json:
            console.print(
                f"  p50 {stats.latency_p50_ms:.0f} ms, p95 {stats.latency_p95_ms:.0f} ms, "
                f"{stats.tokens_per_s:.0f} tok/s, first token {stats.first_token_ms or 0:.0f} ms, "
                f"valid JSON {stats.structured_valid_rate:.0%} "
                f"({stats.first_try_valid_rate:.0%} first try), errors {stats.error_rate:.0%}")

    def started(model: str) -> None:
        if not as_json:
            console.print(f"profiling [bold]{model}[/] on {len(chosen)} probes ...")

    try:
        results = profile_models(
            [name] if name else list(known),
            lambda model: create_chat_model(model, config, temperature=0.2), record,
            probes=chosen, max_attempts=current.budgets.structured_attempts, on_start=started)
    except ModelError as exc:
        fail(str(exc))
    if as_json:
        print_json({"profiles": results})


def doctor(as_json: JsonFlag = False) -> None:
    """Check the embedded model, embeddings, Ollama, database and Chroma; say what to fix."""
    from neuroforge.doctor import run_checks

    checks = run_checks(settings())
    if as_json:
        print_json({"checks": [c.as_dict() for c in checks],
                    "ok": all(c.status != "fail" for c in checks)})
    else:
        marks = {"ok": "[green]ok[/]  ", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
        for c in checks:
            console.print(f"{marks[c.status]} {c.name}: {c.detail}", highlight=False)
            if c.fix and c.status != "ok":
                console.print(f"      fix: {c.fix}", highlight=False)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def runs(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List recent runs of every graph."""
    from neuroforge.knowledge.records import recent_runs
    from neuroforge.wiring import open_store

    with open_store(settings()).session() as session:
        data = recent_runs(session, limit)
    if as_json:
        print_json({"runs": data})
        return
    table = Table("run", "graph", "status", "started", "seconds", "calls")
    for r in data:
        table.add_row(r["id"], r["graph"], r["status"], r["started_at"][:19],
                      "-" if r["seconds"] is None else f"{r['seconds']:.1f}",
                      "-" if r["calls_used"] is None else str(r["calls_used"]))
    console.print(table)
