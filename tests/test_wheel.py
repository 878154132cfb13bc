"""The wheel installs one top-level package, and lives beside packages named like our folders.

``openai-agents`` installs a top-level ``agents`` and the PyPI package ``tools`` a
top-level ``tools``: both collided with NeuroForge's old layout. This builds the real
wheel, installs it with both into a fresh venv and imports all three.
"""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.wheel


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", out, ROOT, cwd=out)
    [built] = out.glob("neuroforge_lab-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"neuroforge"}
    for layer in ("agents", "graphs", "tools", "models", "analysis", "memory", "knowledge"):
        assert f"neuroforge/{layer}/__init__.py" in names
    assert "neuroforge/knowledge/migrations/env.py" in names  # package data travels too
    assert any(n.endswith("entry_points.txt") for n in names)


def test_it_imports_next_to_openai_agents_and_tools(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # Our dependencies come from the project's environment (no second 2 GB install);
    # the wheel and the two colliding packages go into the fresh venv itself.
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                cwd=tmp_path).stdout.strip()
    Path(site, "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "openai-agents", "tools"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and "No matching distribution" in installed.stderr:
        pytest.skip("openai-agents / tools cannot be fetched from the package registry here")
    assert installed.returncode == 0, installed.stderr[-3000:]
    _run(python, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=tmp_path, env=env)
    check = (
        "import agents, tools, neuroforge\n"
        "from agents import Agent\n"  # openai-agents' own API still works
        "import neuroforge.agents.consensus, neuroforge.models.backends\n"
        "import neuroforge.tools.router.router, neuroforge.graphs.optimize\n"
        f"assert agents.__file__.startswith({site!r}), agents.__file__\n"
        f"assert tools.__file__.startswith({site!r}), tools.__file__\n"
        f"assert neuroforge.__file__.startswith({site!r}), neuroforge.__file__\n"
        "assert neuroforge.agents.consensus.RULES\n"
        "print('ok')\n"
    )
    done = _run(python, "-c", check, cwd=tmp_path, env=env)
    assert done.stdout.strip() == "ok"
    cli = _run(venv / "bin" / "neuroforge", "--version", cwd=tmp_path, env=env)
    assert cli.stdout.startswith("neuroforge ")
