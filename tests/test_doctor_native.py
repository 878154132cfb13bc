"""``doctor`` reports a llama.cpp build that crashes on this CPU instead of dying with it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuroforge import doctor
from neuroforge.cli import app

# What a llama.cpp compiled with instructions the CPU (or its hypervisor) refuses does:
# the process dies of a signal before Python can say anything.
SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


def test_native_crash_names_the_signal_and_passes_a_python_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "LLAMA_SMOKE", SEGFAULT)
    assert doctor.native_crash("any.gguf") == "crashed with SIGSEGV"
    # An ordinary exception in the child is not a crash: the in-process check reports it.
    monkeypatch.setattr(doctor, "LLAMA_SMOKE", "raise ValueError('no such file')")
    assert doctor.native_crash("any.gguf") is None
    monkeypatch.setattr(doctor, "LLAMA_SMOKE", "import time; time.sleep(30)")
    assert doctor.native_crash("any.gguf", timeout_s=0.5) == "did not answer in 0.5 s"


@pytest.mark.embedded
def test_the_real_build_runs_the_bundled_model() -> None:
    from neuroforge.models.embedded import default_gguf_path

    assert doctor.native_crash(str(default_gguf_path())) is None


def test_doctor_says_how_to_rebuild_when_llama_cpp_crashes(
        isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "LLAMA_SMOKE", SEGFAULT)
    result = CliRunner().invoke(app, ["doctor", "--json"])
    embedded = {c["name"]: c for c in json.loads(result.output)["checks"]}["embedded model"]
    assert embedded["status"] == "fail"
    assert "crashed with SIGSEGV" in embedded["detail"]
    assert "make setup" in embedded["fix"]
    assert result.exit_code != 0


def test_demo_stops_in_one_line_when_llama_cpp_crashes(
        isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "LLAMA_SMOKE", SEGFAULT)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "the demo needs the embedded model: llama.cpp crashed with SIGSEGV" in result.output
    assert "rm -rf .venv && make setup" in result.output
    assert "Traceback" not in result.output


@pytest.mark.embedded
def test_a_test_run_stops_in_one_line_when_llama_cpp_crashes(tmp_path: Path) -> None:
    """The conftest hook: a run that selects embedded tests on a CPU where llama.cpp
    crashes stops before the first of them, in one line, instead of a bare segfault."""
    # A pytest plugin that makes the hook's probe crash the way a bad build does.
    (tmp_path / "crashing_llama.py").write_text(
        f"from neuroforge import doctor\ndoctor.LLAMA_SMOKE = {SEGFAULT!r}\n")
    env = os.environ | {"PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "crashing_llama", f"{Path(__file__).name}::test_the_real_build_runs_the_bundled_model"],
        cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "llama.cpp crashed with SIGSEGV running the bundled model on this CPU" in said
    assert "rm -rf .venv && make setup" in said
    assert "passed" not in said and "Traceback" not in said
