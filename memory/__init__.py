"""Memory: the bundled embedding model (short- and long-term stores build on it).

Imports nothing from the layers above it.
"""

__all__ = ["embeddings", "outcome_recall"]
