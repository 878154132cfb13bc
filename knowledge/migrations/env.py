"""Alembic environment: runs on the connection ``neuroforge.knowledge.db`` hands it."""

from alembic import context

from neuroforge.knowledge.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place: batch mode copies the table.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
