"""The battery: every command against bad input and faults, as a user runs them.

Each case runs the real console script in a subprocess on one shared data directory
that already holds finished work (a run's facts in long-term memory). Every case must
end with a non-zero exit, at most three lines on stderr and no traceback; afterwards
the SQLite store passes ``PRAGMA integrity_check`` and the finished work is all there.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from neuroforge.settings import load_settings
from neuroforge.wiring import long_term_memory
from tests.conftest import closed_port_url

BAD_UTF8 = b"Say \xff hello"


def _files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {"bad_utf8": folder / "bad.txt", "bad_task": folder / "task.jsonl",
            "empty_task": folder / "empty.jsonl", "bad_table": folder / "table.jsonl",
            "bad_spec": folder / "exp.yaml", "huge": folder / "huge.txt",
            "a_file": folder / "a-file", "bad_config": folder / "config.toml"}
    made["bad_utf8"].write_bytes(BAD_UTF8)
    made["bad_task"].write_text('{"input": "a"}\nnot json\n')
    made["empty_task"].write_text("")
    made["bad_table"].write_text('{"prompt": "q", "scores": {"a": 3, "b": 0}}\n')
    made["bad_spec"].write_text("name: [unclosed\n")
    made["huge"].write_text("word " * 400_000)
    made["a_file"].write_text("not a folder")
    made["bad_config"].write_text("[budgets\nmax_tokens = 3\n")
    return made


CASES: list[tuple[str, list[str], bytes]] = [
    ("empty prompt", ["optimize", ""], b""),
    ("empty stdin prompt", ["optimize", "-"], b""),
    ("non-UTF-8 stdin", ["route", "-"], BAD_UTF8),
    ("huge prompt", ["optimize", "-"], b"word " * 400_000),
    ("budget zero", ["optimize", "Summarize it.", "--budget", "0"], b""),
    ("budget not a number", ["optimize", "Summarize it.", "--budget", "many"], b""),
    ("malformed task file", ["optimize", "Label it.", "--task", "{bad_task}"], b""),
    ("empty task file", ["optimize", "Label it.", "--task", "{empty_task}"], b""),
    ("missing task file", ["optimize", "Label it.", "--task", "/no/such.jsonl"], b""),
    ("unknown optimize run", ["optimize", "--resume", "nosuchrun"], b""),
    ("malformed experiment", ["experiment", "run", "{bad_spec}"], b""),
    ("unknown experiment run", ["experiment", "report", "nosuchrun"], b""),
    ("score outside [0, 1]", ["router", "eval", "--data", "{bad_table}"], b""),
    ("missing routing table", ["router", "train", "--data", "/no/such.csv"], b""),
    ("test without train", ["router", "eval", "--test", "{bad_table}"], b""),
    ("empty route task", ["route", ""], b""),
    ("a model list naming nothing", ["route", "Add 2 and 2.", "--models", ",,"], b""),
    ("unusable session id", ["chat", "--session", "../x y"], b"/exit\n"),
    ("memory forget nothing", ["memory", "forget"], b""),
    ("bad forget pattern", ["memory", "forget", "--matching", "(unclosed"], b""),
    ("export to a missing folder", ["memory", "export", "/no/such/dir/out.jsonl"], b""),
    ("unknown lineage run", ["lineage", "nosuchrun"], b""),
    ("bad vote rule", ["optimize", "Summarize it.", "--vote-rule", "dice"], b""),
    ("monitor past the calendar", ["monitor", "--days", "100000000"], b""),
    ("monitor window past the calendar", ["monitor", "--window-minutes", "1e15"], b""),
]


# Faults of the setup rather than of one input: (name, args, environment changes).
SETUP_CASES: list[tuple[str, list[str], dict[str, str]]] = [
    ("data folder is a file", ["runs"], {"NEUROFORGE_DATA_DIR": "{a_file}"}),
    ("config file not TOML", ["runs"], {"NEUROFORGE_CONFIG": "{bad_config}"}),
    ("configured Ollama down", ["optimize", "Summarize it.", "--budget", "40"],
     {"NEUROFORGE_BACKEND": "ollama"}),
    ("chat with Ollama down", ["chat"], {"NEUROFORGE_BACKEND": "ollama"}),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data = tmp_path_factory.mktemp("battery") / "data"
    saved = {k: v for k, v in os.environ.items() if k.startswith("NEUROFORGE_")}
    os.environ["NEUROFORGE_DATA_DIR"] = str(data)
    try:
        memory = long_term_memory(load_settings())
        memory.remember("I moved to Lisbon in spring.", session_id="finished")
        memory.remember("My daughter plays the cello.", session_id="finished")
    finally:
        for key in [k for k in os.environ if k.startswith("NEUROFORGE_")]:
            del os.environ[key]
        os.environ.update(saved)
    return {"data": data, "files": _files(data.parent / "inputs")}


@pytest.mark.parametrize(("name", "args", "stdin"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_and_faults(name: str, args: list[str], stdin: bytes,
                              shared: dict[str, object]) -> None:
    _one_clear_line(name, args, stdin, {}, shared)


@pytest.mark.parametrize(("name", "args", "changes"), SETUP_CASES,
                         ids=[c[0] for c in SETUP_CASES])
def test_faults_of_the_setup(name: str, args: list[str], changes: dict[str, str],
                             shared: dict[str, object]) -> None:
    _one_clear_line(name, args, b"hi\n", changes, shared)


def _one_clear_line(name: str, args: list[str], stdin: bytes, changes: dict[str, str],
                    shared: dict[str, object]) -> None:
    """Run the console script; it must fail with 1-3 lines on stderr and no traceback."""
    files = shared["files"]
    assert isinstance(files, dict)
    named = {k: str(v) for k, v in files.items()}
    argv = [a.format(**named) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROFORGE_")}
    env.update({"NEUROFORGE_DATA_DIR": str(shared["data"]), "NEUROFORGE_BACKEND": "embedded",
                "NEUROFORGE_OLLAMA_BASE_URL": closed_port_url(),
                "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "COLUMNS": "200"})
    env.update({k: v.format(**named) for k, v in changes.items()})
    done = subprocess.run([sys.executable, "-m", "neuroforge", *argv], input=stdin, env=env,
                          capture_output=True, timeout=300)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode != 0, (name, stderr)
    assert "Traceback" not in stderr, (name, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3 or "Usage:" in stderr, (name, stderr)


def test_the_store_is_intact_and_nothing_finished_is_lost(shared: dict[str, object]) -> None:
    data = shared["data"]
    assert isinstance(data, Path)
    with sqlite3.connect(data / "neuroforge.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        texts = {row[0] for row in connection.execute("SELECT text FROM memories")}
    assert {"I moved to Lisbon in spring.", "My daughter plays the cello."} <= texts
