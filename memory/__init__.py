"""Memory: the bundled embedding model, the short-term buffer, Chroma long-term memory.

Public modules: ``embeddings`` (MiniLM, loaded once, lazily), ``buffer`` (token-trimmed
history with a running summary), ``long_term`` (Chroma store mirrored in the knowledge
store), ``salience`` (what counts as a fact), ``outcome_recall`` (routing outcomes by
meaning). Imports only ``knowledge`` below it.
"""

__all__ = ["buffer", "embeddings", "long_term", "outcome_recall", "salience"]
