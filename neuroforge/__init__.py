"""NeuroForge's shell: command line, settings, doctor."""

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

__all__ = ["cli", "doctor", "settings"]
__version__ = "0.1.0"
