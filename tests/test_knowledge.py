from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from neuroforge.knowledge.db import (
    DatabaseError,
    current_revision,
    head_revision,
    open_database,
    upgrade_database,
)
from neuroforge.knowledge.records import recent_runs
from neuroforge.knowledge.registry import (
    DiscoveredModel,
    Discovery,
    ProfileStats,
    list_models,
    record_profile,
    sync_models,
)
from neuroforge.knowledge.schema import PromptVersion, RoutingDecision, Run, Vote, utcnow


def test_new_database_is_created_at_head(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'sub' / 'nf.db'}")
    assert current_revision(db.engine) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert {"runs", "votes", "prompt_versions", "routing_outcomes", "alerts"} <= tables


def test_old_database_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    assert upgrade_database(engine, "0001") == "0001"
    assert "alerts" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO models (name, backend, location, details, available, discovered_at, "
            "last_seen_at) VALUES ('m', 'embedded', '/x.gguf', '{}', 1, '2026-01-01', "
            "'2026-01-01')"
        ))
        conn.execute(text(
            "INSERT INTO model_profiles (model_id, created_at, probes, latency_p50_ms, "
            "latency_p95_ms, tokens_per_s, structured_valid_rate, first_try_valid_rate, "
            "error_rate, details) VALUES (1, '2026-01-01', 10, 400, 900, 40, 1, 0.9, 0, '{}')"
        ))
    engine.dispose()
    db = open_database(url)  # opening upgrades
    assert current_revision(db.engine) == head_revision()
    assert "memories" in inspect(db.engine).get_table_names()
    columns = {c["name"] for c in inspect(db.engine).get_columns("model_profiles")}
    assert "first_token_ms" in columns
    with db.session() as session:
        [summary] = list_models(session)
    assert summary.name == "m" and summary.profile and summary.profile["latency_p50_ms"] == 400


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_database(url).engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseError, match="newer version"):
        open_database(url)


def test_foreign_tables_without_version_are_not_touched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE runs (id TEXT PRIMARY KEY, precious TEXT)"))
        conn.execute(text("INSERT INTO runs VALUES ('1', 'keep me')"))
    with pytest.raises(DatabaseError, match="no schema version"):
        open_database(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT precious FROM runs")).scalar() == "keep me"


@pytest.mark.parametrize(
    "url", ["not a url", "nosuchdialect://x/y", "sqlite:////proc/forbidden/nf.db"]
)
def test_bad_urls_give_database_errors(url: str) -> None:
    with pytest.raises(DatabaseError):
        open_database(url)


def test_runs_votes_and_prompt_lineage_round_trip(tmp_path: Path, store_url: str) -> None:
    db = open_database(store_url)
    with db.session() as session:
        run = Run(graph="optimize", inputs={"prompt": "Summarize."})
        session.add(run)
        session.flush()
        original = PromptVersion(run_id=run.id, text="Summarize.", origin="original")
        a = PromptVersion(run_id=run.id, text="Summarize in 3 bullets.", origin="rewrite",
                          generation=1, parents=[original])
        b = PromptVersion(run_id=run.id, text="Summarize for a CEO.", origin="rewrite",
                          generation=1, parents=[original])
        child = PromptVersion(run_id=run.id, text="3 bullets for a CEO.", origin="crossover",
                              generation=2, parents=[a, b], score=8.5)
        session.add_all([original, a, b, child])
        session.add(Vote(run_id=run.id, subject_kind="prompt", subject_id="x", voter="v1",
                         decision="accept", score=8.0, rationale="clear"))
        run_id = run.id
    with db.session() as session:
        child = session.scalar(select(PromptVersion).where(PromptVersion.origin == "crossover"))
        assert child is not None
        assert sorted(p.text for p in child.parents) == sorted(
            ["Summarize in 3 bullets.", "Summarize for a CEO."]
        )
        assert session.get(Run, run_id).inputs == {"prompt": "Summarize."}
    # Deleting the run cascades to its votes and prompts (SQLite foreign keys are on).
    with db.session() as session:
        session.delete(session.get(Run, run_id))
    with db.session() as session:
        assert session.scalars(select(Vote)).all() == []
        assert session.scalars(select(PromptVersion)).all() == []


def _stats(p50: float) -> ProfileStats:
    return ProfileStats(probes=10, latency_p50_ms=p50, latency_p95_ms=p50 * 2, tokens_per_s=50,
                        first_token_ms=120, structured_valid_rate=1.0, first_try_valid_rate=0.9,
                        error_rate=0.0)


def test_registry_sync_marks_vanished_models_and_keeps_profiles(
        tmp_path: Path, store_url: str) -> None:
    db = open_database(store_url)
    embedded = DiscoveredModel("smollm2-135m", "embedded", "/m.gguf")
    llama = DiscoveredModel("llama3.2:3b", "ollama", "http://h:11434")
    with db.session() as session:
        sync_models(session, Discovery([embedded, llama], None))
        record_profile(session, "llama3.2:3b", _stats(300))
        record_profile(session, "llama3.2:3b", _stats(200))
    # Ollama unreachable: its models keep their availability.
    with db.session() as session:
        sync_models(session, Discovery([embedded], "Ollama at http://h:11434 is not reachable"))
        by_name = {s.name: s for s in list_models(session)}
    assert by_name["llama3.2:3b"].available
    assert by_name["llama3.2:3b"].profile["latency_p50_ms"] == 200  # the latest
    # Ollama reachable and the model is gone: unavailable.
    with db.session() as session:
        sync_models(session, Discovery([embedded], None))
        by_name = {s.name: s for s in list_models(session)}
    assert not by_name["llama3.2:3b"].available
    assert [s.backend for s in by_name.values()][0] == "embedded"
    with db.session() as session, pytest.raises(KeyError, match="not in the registry"):
        record_profile(session, "ghost", _stats(1))


def test_recent_runs_lists_route_decisions_beside_graph_runs(
        tmp_path: Path, store_url: str) -> None:
    db = open_database(store_url)
    with db.session() as session:
        session.add(Run(id="old", graph="optimize", status="succeeded",
                        started_at=utcnow() - timedelta(minutes=5)))
        session.add(RoutingDecision(id="d1", task="2+2?", chosen_model="tiny", method="rules"))
    with db.session() as session:
        listed = recent_runs(session)
    assert [(r["id"], r["graph"]) for r in listed] == [("d1", "route"), ("old", "optimize")]
    assert listed[0]["status"] == "chose tiny"
