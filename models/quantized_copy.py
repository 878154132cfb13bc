"""A faster copy of the bundled GGUF file: its weights requantized once to Q8_0.

Why: the bundled SmolLM2-135M file is Q4_1, and llama.cpp on x86 has its fast matrix
kernels (repacked blocks, tinyBLAS) for Q8_0 and Q4_0 but not for Q4_1, which falls
back to one dot product per row. On the 2-core EPYC of the benchmarks the Q8_0 copy
reads ~1,350-token prompts 1.6-1.8x faster and decodes 1.1-1.2x faster
(``benchmarks/embedded_speed.py``). Q8_0 keeps each Q4_1 weight to within 1/254 of its
block's largest weight, so most answers stay the same (97 % of 2,560 on eight prompt
tasks), not all; nothing is downloaded.

The copy is written once per source file (its name carries the source's size and
modification time, so an upgraded package makes a new one and the old is removed),
through a temporary name renamed into place: a run that dies half-way leaves no
half-written model behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

__all__ = ["Quantization", "QuantizedCopyError", "copy_path", "ensure_copy"]

Quantization = Literal["bundled", "q8_0"]
# The llama.cpp file type each copy is written as (a name in ``llama_cpp``).
_FTYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0"}
_LOCK = threading.Lock()


class QuantizedCopyError(FileNotFoundError):
    """The requantized copy could not be written (the directory is not writable, the
    disk is full, llama.cpp refused the source)."""


def copy_path(source: Path, directory: Path, quantization: Quantization) -> Path:
    """Where the ``quantization`` copy of ``source`` lives in ``directory`` (it may not
    exist yet). The name changes when the source file does."""
    stat = source.stat()
    stamp = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return directory / f"{source.stem}.{quantization}-{stamp.hexdigest()[:12]}.gguf"


def ensure_copy(source: Path, directory: Path, quantization: Quantization) -> Path:
    """The ``quantization`` copy of ``source`` in ``directory``, written first if it is
    not there (about a second for the bundled 135M model); "bundled" is ``source``
    itself. Older copies of the same source are removed once the new one is in place.
    Raises ``QuantizedCopyError`` with the reason when it cannot be written."""
    if quantization == "bundled":
        return source
    try:
        target = copy_path(source, directory, quantization)
    except OSError as exc:
        raise QuantizedCopyError(f"embedded model file not found: {source} "
                                 f"({exc.strerror or exc})") from exc
    with _LOCK:
        if target.is_file():
            return target
        _write(source, target, quantization)
    for old in directory.glob(f"{source.stem}.{quantization}-*.gguf"):
        if old != target:
            with contextlib.suppress(OSError):
                old.unlink()
    return target


def _write(source: Path, target: Path, quantization: Quantization) -> None:
    """Requantize ``source`` into ``target`` through a temporary file in the same
    directory, renamed into place when complete."""
    import llama_cpp

    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    hint = "; set NEUROFORGE_EMBEDDED_QUANTIZATION=bundled to run the bundled file as is"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QuantizedCopyError(f"cannot write the {quantization} copy of the embedded "
                                 f"model in {target.parent}: {exc.strerror or exc}{hint}"
                                 ) from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, _FTYPES[quantization])
    params.allow_requantize = True  # the source is already quantized (Q4_1)
    params.nthread = os.cpu_count() or 1
    with _quiet_llama_cpp():
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(),
                                                ctypes.byref(params))
    if failed or not partial.is_file():
        with contextlib.suppress(OSError):
            partial.unlink()
        raise QuantizedCopyError(f"cannot write the {quantization} copy of {source} in "
                                 f"{target.parent} (llama.cpp gave up: full disk, or a file "
                                 f"it cannot read){hint}")
    os.replace(partial, target)


@contextlib.contextmanager
def _quiet_llama_cpp() -> Iterator[None]:
    """llama.cpp logs every tensor it quantizes; its Python callback prints what the
    ``llama-cpp-python`` logger's level lets through, so hold that to errors."""
    import llama_cpp.llama  # noqa: F401  (registers the log callback)

    logger = logging.getLogger("llama-cpp-python")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)
