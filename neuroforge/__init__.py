"""NeuroForge: local-first multi-agent prompt engineering and model routing.

The one installed namespace. Layers, top to bottom (no import runs upwards):
the shell here (``cli``, ``settings``, ``wiring``, ``process_cache``, ``scheduler``,
``studio``, ``doctor``),
``graphs``, ``agents``, ``tools``, ``models`` and ``analysis``, ``memory``, ``knowledge``.
"""

import os

# Offline by construction: no model hub, no telemetry, no version checks.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "LANGSMITH_TRACING": "false",
}.items():
    os.environ.setdefault(_name, _value)

__all__ = [
    "agents", "analysis", "cli", "doctor", "graphs", "knowledge", "memory", "models",
    "process_cache", "scheduler", "settings", "studio", "tools", "wiring",
]
__version__ = "0.2.0"
