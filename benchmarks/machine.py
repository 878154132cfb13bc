"""Where a benchmark ran: the CPU a small model's answers depend on."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni")


def cpu_info(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields of ``path`` (empty where there is no such file)."""
    fields: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8") as info:
            for line in info:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def machine() -> dict[str, object]:
    """Where a result was measured: a small model's answers, and so its accuracy, move
    with the CPU (the same prompt scored 36 on one machine and 24 on another). The
    family, model and vector extensions are kept because llama.cpp picks its kernels by
    them, and "AMD EPYC" names CPUs with and without AVX-512."""
    info = cpu_info()
    flags = set(info.get("flags", "").split())
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "cpu": info.get("model name") or platform.processor() or platform.machine(),
            "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
            "simd": [flag for flag in SIMD_FLAGS if flag in flags]}


def measured_at() -> str:
    """Now, in UTC, as every results file writes when it was measured."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
