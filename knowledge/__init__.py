"""The knowledge store: SQLAlchemy schema and sessions, migrations, model registry.

Imports nothing from the layers above it (agents, graphs, tools, neuroforge).
"""

__all__ = ["db", "ollama_api", "registry", "schema"]
