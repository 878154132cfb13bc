"""The model runtime: backends, the embedded model, structured output, discovery, profiling.

Public modules: ``backends`` (``create_chat_model``, typed ``ModelError``s),
``embedded`` (SmolLM2 in-process through llama.cpp), ``kv_states`` (its saved prompt
beginnings, restored instead of recomputed), ``quantized_copy`` (a Q8_0 copy of the
bundled file, made once, read faster on x86), ``structured`` (schema-constrained
replies with repair and retry), ``ollama_api`` (the Ollama HTTP API), ``openai_api``
(model listing of an OpenAI-compatible server), ``discovery`` (which models exist now),
``probes`` and ``profiler`` (latency, tokens/s, JSON validity), ``next_token`` (the next-token
distribution at the first token of an answer, on any backend).

Imports only ``knowledge`` below it.
"""

__all__ = [
    "backends", "discovery", "embedded", "kv_states", "next_token", "ollama_api",
    "openai_api", "probes", "profiler", "quantized_copy", "structured",
]
