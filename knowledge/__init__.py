"""The knowledge store: SQLAlchemy schema, sessions and migrations, and what it records.

Public modules: ``db`` (open and upgrade a database), ``schema`` (tables), ``records``
(runs, messages, candidates, ballots), ``registry`` (models and profiles),
``experiments`` and ``experiment_spec`` (experiment files and their stored cells),
``actions`` (autopilot actions), ``overrides`` (settings the autopilot changed),
``lineage`` and ``strengths`` (networkx graphs of prompt lineage and model strengths),
``datasets`` (labelled task files), ``redaction`` (credentials masked wherever they
would leave), ``cell_queue`` (experiment cells shared by worker processes),
``checkpoints`` (LangGraph's SQLite or PostgreSQL checkpointer), ``postgres`` (libpq
connections and advisory locks).

Imports nothing from the layers above it.
"""

__all__ = [
    "actions", "cell_queue", "checkpoints", "datasets", "db", "experiment_spec", "experiments",
    "lineage", "overrides", "postgres", "records", "redaction", "registry", "schema",
    "strengths",
]
