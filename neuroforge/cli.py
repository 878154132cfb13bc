"""The ``neuroforge`` command line.

Heavy libraries (torch, langchain, llama.cpp, chromadb) are imported inside the
commands that need them, so ``neuroforge --help`` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.settings import Settings, load_settings, masked_settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="NeuroForge: local-first multi-agent prompt engineering and model routing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: discover and profile models.",
                         no_args_is_help=True)
db_app = typer.Typer(help="The knowledge store's schema.", no_args_is_help=True)
router_app = typer.Typer(help="The neural router: train and evaluate.", no_args_is_help=True)
memory_app = typer.Typer(help="Long-term memory: search, forget, export.", no_args_is_help=True)
autopilot_app = typer.Typer(help="Autonomous optimization: run, schedule, roll back.",
                            no_args_is_help=True)
experiment_app = typer.Typer(help="Experiments: prompts x models on a labelled dataset.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")
app.add_typer(autopilot_app, name="autopilot")
app.add_typer(memory_app, name="memory")
app.add_typer(config_app, name="config")
app.add_typer(router_app, name="router")
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # never break paths in messages
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


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
def db_upgrade() -> None:
    """Bring the knowledge store's schema to the current revision."""
    from knowledge.db import DatabaseError, current_revision
    from neuroforge.runtime import open_store

    try:
        store = open_store(settings())
    except DatabaseError as exc:
        fail(str(exc))
    console.print(f"{store.url} is at schema revision {current_revision(store.engine)}")


@db_app.command("status")
def db_status(as_json: JsonFlag = False) -> None:
    """Show the database URL and its schema revision, without changing anything."""
    from knowledge.db import DatabaseError, current_revision, head_revision, open_database

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


def _discover_and_sync(current: Settings) -> tuple[list[Any], str | None]:
    from knowledge.registry import list_models, sync_models
    from neuroforge.runtime import discover, open_store

    discovery = discover(current)
    store = open_store(current)
    with store.session() as session:
        sync_models(session, discovery)
        return list_models(session), discovery.ollama_error


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """Discover models (embedded + Ollama) and list them with their latest profile."""
    current = settings()
    summaries, ollama_error = _discover_and_sync(current)
    if as_json:
        print_json({"models": [s.as_dict() for s in summaries], "ollama_error": ollama_error})
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
    if ollama_error:
        errors.print(f"[yellow]note:[/] {ollama_error}", highlight=False)


@models_app.command("profile")
def models_profile(
    name: Annotated[str | None, typer.Argument(help="Model to profile; default: all available.")]
    = None,
    probes: Annotated[int, typer.Option(min=1, max=50, help="How many probes (of 50).")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Measure latency, tokens/s and structured-output validity on a probe set, and store it."""
    from agents.llm import ModelError, create_chat_model
    from agents.probes import PROBES
    from agents.profiler import profile_chat_model
    from knowledge.registry import record_profile
    from neuroforge.runtime import llm_config, open_store

    current = settings()
    summaries, _ = _discover_and_sync(current)
    known = {s.name: s for s in summaries if s.available}
    if name == "embedded":
        name = next(s.name for s in summaries if s.backend == "embedded")
    if name is not None and name not in known:
        fail(f"unknown or unavailable model {name!r}; available: {', '.join(known) or 'none'}", 2)
    targets = [name] if name else list(known)
    # Spread the probe subset over all ten kinds rather than taking the first kind only.
    chosen = [PROBES[(i % 10) * 5 + (i // 10) % 5] for i in range(probes)]
    results = []
    for target in targets:
        model = create_chat_model(target, llm_config(current), temperature=0.2)
        if not as_json:
            console.print(f"profiling [bold]{target}[/] on {len(chosen)} probes ...")
        try:
            stats, _outcomes = profile_chat_model(
                model, probes=chosen, max_attempts=current.budgets.structured_attempts
            )
        except ModelError as exc:
            fail(str(exc))
        with open_store(current).session() as session:
            record_profile(session, target, stats)
        results.append({"model": target, **stats.__dict__})
        if not as_json:
            console.print(
                f"  p50 {stats.latency_p50_ms:.0f} ms, p95 {stats.latency_p95_ms:.0f} ms, "
                f"{stats.tokens_per_s:.0f} tok/s, first token "
                f"{stats.first_token_ms or 0:.0f} ms, valid JSON "
                f"{stats.structured_valid_rate:.0%} ({stats.first_try_valid_rate:.0%} first try), "
                f"errors {stats.error_rate:.0%}"
            )
    if as_json:
        print_json({"profiles": results})


@app.command()
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


@app.command()
def optimize(
    prompt: Annotated[str, typer.Argument(help="The prompt to improve, or - to read stdin.")]
    = "",
    task: Annotated[str | None, typer.Option(help="Labelled task file (JSONL {input, output}, "
                                             "BIG-Bench Hard or instruction-induction JSON).")]
    = None,
    generations: Annotated[int, typer.Option(help="Evolution generations.")] = 3,
    population: Annotated[int, typer.Option(help="Candidates per generation.")] = 4,
    voters: Annotated[int, typer.Option(help="Validators voting on each candidate.")] = 3,
    min_agreement: Annotated[float, typer.Option(help="Share of votes needed (0-1].")] = 0.5,
    vote_rule: Annotated[str, typer.Option(help="majority, supermajority, score, borda, "
                                           "reliability.")] = "majority",
    debate_rounds: Annotated[int, typer.Option(help="Re-votes when no consensus.")] = 1,
    budget: Annotated[int | None, typer.Option(help="Most model calls to spend.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits and operators.")] = 0,
    resume: Annotated[str | None, typer.Option(help="Resume an interrupted run by id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Improve a prompt: analysts, rewrites, validator votes and evolution; prints the result."""
    from agents.llm import ModelError
    from graphs.optimize import OptimizeInputError, resolve_options
    from knowledge.datasets import TaskFileError, load_task
    from knowledge.db import DatabaseError
    from neuroforge.optimize_cli import read_prompt, render_result, run_optimize

    current = settings()
    state: dict[str, Any] | None = None
    if not resume:
        state = {"prompt": read_prompt(prompt), "task": task, "generations": generations,
                 "population": population, "voters": voters, "min_agreement": min_agreement,
                 "vote_rule": vote_rule, "debate_rounds": debate_rounds, "seed": seed,
                 "budget": budget or current.budgets.max_model_calls}
        try:
            resolve_options(state)  # type: ignore[arg-type]
            if task:
                load_task(task)
        except (OptimizeInputError, TaskFileError) as exc:
            fail(str(exc), 2)
    try:
        result = run_optimize(current, state, resume=resume,
                              progress=None if as_json else errors)
    except KeyboardInterrupt:
        fail("interrupted; progress is saved. Continue with "
             f"`neuroforge optimize --resume {resume or '<run id shown above>'}`", 130)
    except (LookupError, DatabaseError, ModelError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        render_result(console, result)


@app.command()
def lineage(
    run_id: Annotated[str, typer.Argument(help="Run id printed by `neuroforge optimize`.")],
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a mermaid flowchart.")]
    = False,
) -> None:
    """Print the prompt lineage of an optimization run as a tree (or mermaid)."""
    from knowledge.lineage import LineageError, lineage_graph, lineage_mermaid, lineage_text
    from neuroforge.runtime import open_store

    with open_store(settings()).session() as session:
        try:
            graph = lineage_graph(session, run_id)
        except LineageError as exc:
            fail(str(exc), 2)
    sys.stdout.write((lineage_mermaid(graph) if mermaid else lineage_text(graph)) + "\n")


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List recent runs of every graph."""
    from sqlalchemy import select

    from knowledge.schema import Run
    from neuroforge.runtime import open_store

    with open_store(settings()).session() as session:
        rows = session.scalars(select(Run).order_by(Run.started_at.desc()).limit(limit)).all()
        data: list[dict[str, Any]] = [{"id": r.id, "graph": r.graph, "status": r.status,
                 "started_at": r.started_at.isoformat(), "seconds": r.seconds,
                 "calls_used": r.calls_used} for r in rows]
    if as_json:
        print_json({"runs": data})
        return
    table = Table("run", "graph", "status", "started", "seconds", "calls")
    for r in data:
        table.add_row(r["id"], r["graph"], r["status"], r["started_at"][:19],
                      "-" if r["seconds"] is None else f"{r['seconds']:.1f}", str(r["calls_used"]))
    console.print(table)


@app.command()
def route(
    task: Annotated[str, typer.Argument(help="The task to route, or - to read stdin.")] = "",
    execute: Annotated[bool, typer.Option("--execute", help="Run the task on the chosen "
                                          "model and record the judged outcome.")] = False,
    cost_weight: Annotated[float, typer.Option(min=0.0, help="Lambda: how much cost counts "
                                               "against predicted quality.")] = 0.0,
    as_json: JsonFlag = False,
) -> None:
    """Choose the best local model for a task by weighted vote (neural router, agent, memory)."""
    from agents.llm import ModelError
    from graphs.route import RouteInputError, create_route_graph
    from knowledge.db import DatabaseError
    from neuroforge.optimize_cli import read_prompt
    from neuroforge.runtime import load_router, route_deps

    current = settings()
    text = read_prompt(task)
    _router, why = load_router(current)
    try:
        graph = create_route_graph(route_deps(current)).compile()
        out = graph.invoke({"task": text, "execute": execute, "cost_weight": cost_weight})
    except (RouteInputError, DatabaseError, ModelError) as exc:
        fail(str(exc), 2 if isinstance(exc, RouteInputError) else 1)
    out["router_note"] = why
    if as_json:
        print_json(out)
        return
    decision = out["decision"]
    if why:
        errors.print(f"[yellow]note:[/] {why}; rules decide for the neural voter", highlight=False)
    for vote in decision["votes"]:
        console.print(f"  {vote['voter']:>12}: {vote['model'] or '(abstained)'} "
                      f"conf {vote['confidence']:.2f} - {vote['rationale']}", highlight=False)
    console.print(f"[bold]chosen: {decision['model']}[/] - {decision['reason']}",
                  highlight=False)
    if "answer" in out:
        console.print(out["answer"], highlight=False, markup=False)
        if out.get("outcome", {}).get("quality") is not None:
            console.print(f"judged quality {out['outcome']['quality']:.1f}, recorded")
    for event in out.get("events", []):
        if event.startswith("execute: failed"):
            errors.print(f"[red]{event}[/]", highlight=False)


@router_app.command("train")
def router_train(
    data: Annotated[str | None, typer.Option(help="Routing table: RouteLLM CSV (file or "
                                             "folder) or JSONL.")] = None,
    from_records: Annotated[bool, typer.Option("--from-records", help="Train on recorded "
                                               "outcomes; adopt only if better.")] = False,
    held_out: Annotated[float, typer.Option(min=0.05, max=0.9)] = 0.3,
    seed: int = 0,
    as_json: JsonFlag = False,
) -> None:
    """Train the neural router, measure it on held-out data, and save it."""
    from neuroforge.route_cli import print_metrics, train_command

    if (data is None) == (not from_records):
        fail("give exactly one of --data PATH or --from-records", 2)
    metrics = train_command(settings(), data, from_records, held_out, seed)
    print_json(metrics) if as_json else print_metrics(console, metrics)


@router_app.command("eval")
def router_eval(
    data: Annotated[str, typer.Option(help="Routing table to evaluate on.")],
    held_out: Annotated[float, typer.Option(min=0.05, max=0.9)] = 0.3,
    seed: int = 0,
    as_json: JsonFlag = False,
) -> None:
    """Router and baselines (random, always-one, oracle, kNN) on the same held-out split."""
    from neuroforge.route_cli import eval_command, print_metrics

    metrics = eval_command(settings(), data, held_out, seed)
    print_json(metrics) if as_json else print_metrics(console, metrics)


@app.command()
def chat(
    session: Annotated[str | None, typer.Option(help="Resume this session id.")] = None,
    model: Annotated[str | None, typer.Option(help="Answer with this model; no routing.")]
    = None,
) -> None:
    """A chat session: recalls memories, routes each turn, streams answers; /help inside."""
    from knowledge.db import DatabaseError
    from memory.long_term import MemoryError_
    from neuroforge.chat_cli import run_chat

    try:
        run_chat(settings(), session, model)
    except (DatabaseError, MemoryError_) as exc:
        fail(str(exc))


def _long_term() -> Any:
    from knowledge.db import DatabaseError
    from memory.long_term import MemoryError_
    from neuroforge.runtime import long_term_memory

    try:
        return long_term_memory(settings())
    except (DatabaseError, MemoryError_) as exc:
        fail(str(exc))


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    kind: Annotated[str | None, typer.Option(help="fact, optimization or routing.")] = None,
    session: Annotated[str | None, typer.Option(help="Only this chat session's.")] = None,
    since_days: Annotated[float | None, typer.Option(min=0, help="Only the last N days.")]
    = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """The memories most relevant to QUERY, with where they came from."""
    import time

    from memory.long_term import MemoryError_

    since = time.time() - since_days * 86400 if since_days is not None else None
    try:
        found = _long_term().recall(query, k, kind=kind, session_id=session, since=since)
    except MemoryError_ as exc:
        fail(str(exc), 2)
    if as_json:
        print_json({"query": query, "memories": [m.as_dict() for m in found]})
        return
    for m in found:
        console.print(f"{m.similarity:.2f}  {m.text}  [dim]({m.provenance()}, id {m.id})[/]",
                      highlight=False)
    if not found:
        errors.print("no memories match")


@memory_app.command("forget")
def memory_forget(
    session: Annotated[str | None, typer.Option(help="Forget everything from this session.")]
    = None,
    memory_id: Annotated[str | None, typer.Option("--id", help="Forget one memory.")] = None,
) -> None:
    """Delete memories for good, from Chroma and from the database."""
    from memory.long_term import MemoryError_

    if (session is None) == (memory_id is None):
        fail("give exactly one of --session ID or --id ID", 2)
    try:
        count = _long_term().forget(session_id=session, memory_id=memory_id)
    except MemoryError_ as exc:
        fail(str(exc))
    if count == 0:
        fail(f"nothing to forget: no memory {'of session ' + session if session else memory_id}"
             , 1)
    console.print(f"forgot {count} memor{'y' if count == 1 else 'ies'}")


@memory_app.command("export")
def memory_export(
    file: Annotated[str, typer.Argument(help="JSONL file to write.")],
) -> None:
    """Write every memory as JSON lines (id, kind, session, text, details, times)."""
    from pathlib import Path

    target = Path(file).expanduser()
    if not target.parent.is_dir():
        fail(f"cannot write {target}: the folder {target.parent} does not exist", 2)
    try:
        count = _long_term().export(target)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}", 2)
    console.print(f"exported {count} memories to {target}")


@app.command()
def monitor(
    days: Annotated[float, typer.Option(min=0.01, help="How far back to look.")] = 7.0,
    window_minutes: Annotated[float, typer.Option(min=1, help="Window width.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Metrics per model and graph over time windows, anomalies, and stored alerts."""
    from sqlalchemy import select

    from agents.monitor import detect, store_alerts
    from knowledge.db import DatabaseError
    from knowledge.metrics import collect_series, series_as_dict
    from knowledge.schema import Alert
    from neuroforge.runtime import open_store

    try:
        store = open_store(settings())
    except DatabaseError as exc:
        fail(str(exc))
    with store.session() as session:
        series = collect_series(session, days=days, window_minutes=window_minutes)
        anomalies = detect(series)
        store_alerts(session, anomalies, [s.subject for s in series])
        alerts = [{"id": a.id, "kind": a.kind, "subject": a.subject, "severity": a.severity,
                   "message": a.message, "count": a.count, "resolved": a.resolved,
                   "first_seen": a.first_seen.isoformat(), "last_seen": a.last_seen.isoformat()}
                  for a in session.scalars(select(Alert).order_by(Alert.last_seen.desc()))]
    if as_json:
        print_json({"series": [series_as_dict(s) for s in series],
                    "anomalies": [a.as_dict() for a in anomalies], "alerts": alerts})
        return
    table = Table("subject", "windows", "p50 ms", "p95 ms", "errors", "invalid", "quality",
                  "regret", "tok/s")
    table.columns[0].overflow = "fold"  # a model name must stay readable in a narrow terminal
    for s in series:
        v = s.latest()

        def cell(key: str, fmt: str = "{:.0f}", values: dict[str, float] = v) -> str:
            return fmt.format(values[key]) if key in values else "-"

        table.add_row(s.subject, str(len(s.windows)), cell("latency_p50_ms"),
                      cell("latency_p95_ms"), cell("error_rate", "{:.0%}"),
                      cell("invalid_rate", "{:.0%}"), cell("quality", "{:.2f}"),
                      cell("regret", "{:.2f}"), cell("tokens_per_s"))
    console.print(table if series else "no runs, outcomes or votes recorded in this period")
    for alert in alerts:
        if not alert["resolved"]:
            console.print(f"[{'red' if alert['severity'] == 'critical' else 'yellow'}]"
                          f"{alert['severity']}[/] {alert['message']} (seen {alert['count']}x)",
                          highlight=False)


@autopilot_app.command("run")
def autopilot_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Propose and vote; apply nothing.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """One autopilot run: monitor, propose actions, vote, apply the approved ones, report."""
    from agents.llm import ModelError
    from knowledge.db import DatabaseError
    from neuroforge.autopilot_cli import print_report, run_autopilot
    from neuroforge.scheduler import AutopilotBusyError, autopilot_lock

    current = settings()
    try:
        with autopilot_lock(current):
            report = run_autopilot(current, dry_run)
    except (AutopilotBusyError, DatabaseError, ModelError) as exc:
        fail(str(exc))
    print_json(report) if as_json else print_report(console, report)


@autopilot_app.command("rollback")
def autopilot_rollback(
    action_id: Annotated[str, typer.Argument(help="An applied action's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Undo an applied autopilot action (restores what it changed)."""
    from neuroforge.autopilot_cli import rollback_action

    try:
        result = rollback_action(settings(), action_id)
    except (LookupError, ValueError) as exc:
        fail(str(exc), 2)
    if as_json:
        print_json(result)
    else:
        console.print(f"rolled back {result['id']} ({result['kind']}): {result['rolled_back']}",
                      highlight=False)


@autopilot_app.command("schedule")
def autopilot_schedule(
    cron: Annotated[str, typer.Option(help="5-field cron expression, UTC.")] = "0 3 * * *",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Scheduled runs apply nothing.")]
    = False,
) -> None:
    """Run the autopilot on a cron schedule until SIGTERM; one run at a time."""
    from neuroforge.autopilot_cli import run_autopilot
    from neuroforge.scheduler import parse_cron, run_scheduler

    current = settings()
    try:
        parse_cron(cron)
    except ValueError as exc:
        fail(str(exc), 2)

    def log(message: str) -> None:
        errors.print(f"[dim]scheduler[/] {message}", highlight=False)

    run_scheduler(current, cron, lambda fire: run_autopilot(current, dry_run, fire), log)


@experiment_app.command("run")
def experiment_run(
    file: Annotated[Path, typer.Argument(help="Experiment file (.yaml, .yml or .toml).")],
    no_cache: Annotated[bool, typer.Option("--no-cache",
                                           help="Make every repeat a fresh model call.")]
    = False,
    resume: Annotated[str | None, typer.Option(help="Run id of an interrupted run to finish.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Run an experiment with a live progress bar; finished cells are stored as they finish."""
    from graphs.experiment import ExperimentError
    from knowledge.db import DatabaseError
    from knowledge.experiment_spec import ExperimentSpecError, load_spec
    from neuroforge.experiment_cli import check_models, run_experiment
    from neuroforge.experiment_report import markdown_summary

    current = settings()
    try:
        spec = load_spec(file)
    except ExperimentSpecError as exc:
        fail(str(exc), 2)
    problems = check_models(current, spec)
    if problems:
        fail("; ".join(problems), 2)
    try:
        state = run_experiment(current, spec, no_cache=no_cache, resume=resume,
                               show_progress=not as_json, console=errors)
    except (ExperimentError, DatabaseError) as exc:
        fail(str(exc), 2)
    summary = state["summary"]
    if as_json:
        print_json({"run_id": state["run_id"], "experiment": spec.name, **summary})
        return
    meta = {"run_id": state["run_id"], "name": spec.name,
            "status": "partial" if summary["errors"] else "succeeded"}
    console.print(markdown_summary(summary, meta), highlight=False, markup=False,
                  soft_wrap=True)
    console.print(f"report: neuroforge experiment report {state['run_id']} --out report.html",
                  highlight=False)


@experiment_app.command("list")
def experiment_list(as_json: JsonFlag = False) -> None:
    """Recent experiment runs, newest first."""
    from knowledge.experiments import list_experiment_runs
    from neuroforge.runtime import open_store

    with open_store(settings()).session() as session:
        found = list_experiment_runs(session)
    if as_json:
        print_json({"runs": found})
        return
    if not found:
        console.print("no experiment runs yet; start one with `neuroforge experiment run FILE`")
        return
    table = Table("run", "experiment", "status", "started (UTC)", "cells", "best cell")
    for r in found:
        best = dict(r["best"] or {})
        cell = best.pop("cell", None)
        shown = f"{cell}: {next(iter(best.values())):.3f}" if cell and best else "-"
        table.add_row(r["run_id"], r["experiment"], r["status"], r["started_at"][:19],
                      f"{r['cells']}/{r['planned'] or '?'}", shown)
    console.print(table)


@experiment_app.command("strengths")
def experiment_strengths(
    target: Annotated[str | None, typer.Argument(
        help='A category or dataset, e.g. "lexical" or "antonyms"; default: all.')] = None,
    as_json: JsonFlag = False,
) -> None:
    """Which model is strongest where: the knowledge graph built from finished experiments."""
    from knowledge.strengths import strength_graph, strongest_models
    from neuroforge.runtime import open_store

    with open_store(settings()).session() as session:
        graph = strength_graph(session)
    measured = sorted(n for n, d in graph.nodes(data=True) if d["kind"] != "model")
    targets = measured
    if target is not None:
        targets = [t for t in measured if graph.nodes[t]["name"] == target or t == target]
        if not targets:
            known = ", ".join(measured) or "none yet"
            fail(f"no experiment measured {target!r}; known: {known}", 2)
    ranked = {t: strongest_models(graph, t) for t in targets}
    if as_json:
        print_json(ranked)
        return
    if not ranked:
        console.print("no finished experiments yet; run `neuroforge experiment run FILE`")
        return
    table = Table("category / dataset", "model", "strength", "examples", "cells")
    for name, models in ranked.items():
        for i, entry in enumerate(models):
            table.add_row(name if i == 0 else "", entry["model"], f"{entry['strength']:.3f}",
                          str(entry["examples"]), str(entry["cells"]))
    console.print(table)


@experiment_app.command("report")
def experiment_report(
    run_id: Annotated[str, typer.Argument(help="An experiment run id (see `experiment list`).")],
    out: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Print a run's Markdown summary; with --out also write the HTML report with plots."""
    from neuroforge.experiment_cli import load_report, report_paths
    from neuroforge.experiment_report import html_report, markdown_summary
    from neuroforge.runtime import open_store

    try:
        summary, rows, meta = load_report(open_store(settings()), run_id)
    except LookupError as exc:
        fail(str(exc), 2)
    if out is not None:
        target = report_paths(out)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html_report(summary, rows, meta), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}")
    if as_json:
        print_json({**meta, **summary, "html": str(report_paths(out)) if out else None})
        return
    console.print(markdown_summary(summary, meta), highlight=False, markup=False,
                  soft_wrap=True)
    if out is not None:
        console.print(f"HTML report written to {report_paths(out)}", highlight=False)


DEMO_PROMPT = "Write about dogs."


@app.command()
def demo() -> None:
    """The main job offline: optimize a prompt with the embedded model, then show its lineage."""
    from neuroforge.doctor import run_checks
    from neuroforge.optimize_cli import render_result, run_optimize

    current = settings().model_copy(update={"backend": "embedded"})
    console.rule("NeuroForge demo: prompt optimization on the embedded model (offline)")
    for check in run_checks(current):
        console.print(f"{check.status:4} {check.name}: {check.detail}", highlight=False)
    console.print(f"\noptimizing: [bold]{DEMO_PROMPT}[/]\n")
    state = {"prompt": DEMO_PROMPT, "generations": 2, "population": 3, "voters": 3,
             "budget": 120}
    result = run_optimize(current, state, resume=None, progress=errors)
    render_result(console, result)
    lineage(result["run_id"], mermaid=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
