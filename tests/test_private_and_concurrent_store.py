"""A new data directory is private, and several processes may open it at once."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from neuroforge.knowledge.db import open_database
from neuroforge.settings import load_settings
from neuroforge.wiring import checkpointer, open_store

OPEN_STORE = """
import sys
from neuroforge.knowledge.db import open_database
open_database(sys.argv[1]).session().__enter__()
print("opened")
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_data_dir_and_files_are_owner_only(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "fresh" / "data"
    monkeypatch.setenv("NEUROFORGE_DATA_DIR", str(data))
    monkeypatch.delenv("NEUROFORGE_DATABASE_URL", raising=False)
    settings = load_settings()
    open_store(settings)
    with checkpointer(settings):
        pass
    assert _mode(data) == 0o700
    assert _mode(data / "neuroforge.db") == 0o600
    assert _mode(Path(settings.checkpoint_path)) == 0o600


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert _mode(tmp_path) == 0o755 and _mode(tmp_path / "db.sqlite") == 0o600


def test_six_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'store.db'}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_STORE, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(6)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    failures = [err[-300:] for (out, err), p in zip(outcomes, procs, strict=True)
                if p.returncode != 0 or "opened" not in out]
    assert not failures  # before the lock: "table experiments already exists"
