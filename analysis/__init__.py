"""Statistics and analysis over what the store recorded.

Public modules: ``stats`` (bootstrap intervals, McNemar, paired permutation, Holm),
``experiments`` (an experiment's cells, comparisons and best models), ``metrics``
(windowed run and model metrics), ``anomalies`` (robust anomaly detection and alerts),
``experiment_report`` (Markdown and self-contained HTML reports).

Imports only ``knowledge`` below it.
"""

__all__ = ["anomalies", "experiment_report", "experiments", "metrics", "stats"]
