"""The real terminal chat in a pseudo-terminal, on the embedded model.

Checks what a person sees: a prompt, answers that arrive in pieces (streaming),
slash commands, Ctrl-C stopping an answer but not the session, and a session that
is remembered across processes and forgotten on request.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.embedded
NEUROFORGE = str(Path(sys.executable).parent / "neuroforge")


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROFORGE_")}
    env.update({"NEUROFORGE_DATA_DIR": str(data_dir), "NEUROFORGE_BACKEND": "embedded",
                "NEUROFORGE_TEMPERATURES__CHAT": "0", "HF_HUB_OFFLINE": "1",
                "TERM": "dumb", "NO_COLOR": "1"})
    return env


def read_until_prompt(child: pexpect.spawn, limit_s: float = 120) -> list[tuple[float, str]]:
    """Everything printed until the next ``you>`` prompt, as (time, text) pieces."""
    pieces: list[tuple[float, str]] = []
    printed = ""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            text = child.read_nonblocking(4096, timeout=1)
        except pexpect.TIMEOUT:
            continue
        pieces.append((time.monotonic(), text))
        printed += text
        # On a loaded machine the pty can hand over the prompt a character at a time, so
        # look for it in everything printed, not in the last few reads.
        if "you> " in printed:
            return pieces
    raise AssertionError(f"no prompt within {limit_s} s; got {printed!r}")


def answer_pieces(pieces: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The non-blank reads between the ``ai>`` label and the next ``you>`` prompt."""
    printed = "".join(text for _, text in pieces)
    answer_at, prompt_at = printed.find("ai> ") + len("ai> "), printed.rfind("you> ")
    answer, end = [], 0
    for at, text in pieces:
        end += len(text)
        if text.strip() and answer_at < end <= prompt_at:
            answer.append((at, text))
    return answer


def test_terminal_chat_streams_and_takes_slash_commands(tmp_path: Path) -> None:
    # A user's terminal delivers Ctrl-C; a test run started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python keeps it ignored. Give
    # the chat the terminal a user has.
    child = pexpect.spawn(NEUROFORGE, ["chat", "--session", "tty1"], env=env_for(tmp_path),
                          encoding="utf-8", timeout=120, dimensions=(40, 200),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        child.expect("you> ")
        child.sendline("/help")
        child.expect("/optimize PROMPT")
        child.expect("you> ")
        child.sendline("Write three sentences about the sea.")
        pieces = read_until_prompt(child)
        answer = answer_pieces(pieces)
        assert len(answer) >= 3, pieces  # the answer came in pieces, not all at once
        assert answer[-1][0] - answer[0][0] > 0.2
        child.sendline("/history")
        child.expect("you> Write three sentences about the sea.")
        child.expect("you> ")
        child.sendline("/memory sea")
        child.expect("you> ")
        child.sendline("Tell me a very long story about a dragon and a knight.")
        # The answer has started ("\S" matched the terminal's echo of the line instead).
        # Interrupt at once: a 135M model can finish a "long" story in about a second, and
        # on a loaded machine a pause here let it end before the Ctrl-C arrived.
        child.expect("ai> ")
        child.sendintr()  # Ctrl-C: stop this answer, keep the session
        child.expect("stopped")
        child.expect("you> ")
        child.sendline("/history")
        child.expect("dragon and a knight")
        child.expect("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def run(args: list[str], data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEUROFORGE, *args], input=stdin, env=env_for(data_dir),
                          capture_output=True, text=True, timeout=300)


def test_a_fact_told_in_one_process_is_recalled_used_and_forgotten(tmp_path: Path) -> None:
    told = run(["chat", "--session", "first"], tmp_path, "My sister lives in Toronto.\n")
    assert told.returncode == 0, told.stderr
    search = ["memory", "search", "where my sister lives", "--json"]
    found = json.loads(run(search, tmp_path).stdout)
    assert found["memories"][0]["text"] == "My sister lives in Toronto."
    assert found["memories"][0]["session_id"] == "first"
    asked = run(["chat"], tmp_path, "Where does my sister live?\n")  # a new session
    assert asked.returncode == 0 and "toronto" in asked.stdout.lower(), asked.stdout
    forgot = run(["memory", "forget", "--session", "first"], tmp_path)
    assert forgot.returncode == 0 and "forgot 1" in forgot.stdout
    after = json.loads(run(search, tmp_path).stdout)
    assert after["memories"] == []


def test_memory_commands_explain_bad_input(tmp_path: Path) -> None:
    both = run(["memory", "forget", "--session", "a", "--id", "b"], tmp_path)
    assert both.returncode == 2 and "exactly one" in both.stderr
    kind = run(["memory", "search", "x", "--kind", "gossip"], tmp_path)
    assert kind.returncode == 2 and "unknown memory kind" in kind.stderr
    folder = run(["memory", "export", str(tmp_path / "no" / "such" / "f.jsonl")], tmp_path)
    assert folder.returncode == 2 and "does not exist" in folder.stderr
    assert "Traceback" not in both.stderr + kind.stderr + folder.stderr


def test_piped_mode_prints_answers_only_and_the_session_on_stderr(tmp_path: Path) -> None:
    done = run(["chat", "--session", "pipe1"], tmp_path, "Say hello.\n/exit\n")
    assert done.returncode == 0, done.stderr
    assert "session pipe1 (new)" in done.stderr
    assert "->" not in done.stdout + done.stderr  # routing lines are for a terminal
    assert "ai>" not in done.stdout and done.stdout.strip()  # the answer, nothing else
    runs = json.loads(run(["runs", "--json"], tmp_path).stdout)["runs"]
    chat = next(r for r in runs if r["graph"] == "chat")
    assert chat["status"] == "succeeded" and chat["calls_used"] == 1  # one turn


def test_a_piped_line_that_is_not_utf8_fails_the_run_after_the_others_are_answered(
        tmp_path: Path) -> None:
    done = subprocess.run([NEUROFORGE, "chat", "--session", "mixed"],
                          input=b"caf\xe9?\nSay hello.\n", env=env_for(tmp_path),
                          capture_output=True, timeout=300)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "not valid UTF-8 (byte 0xe9 at character 4); nothing was sent" in stderr
    assert "1 piped line(s) got no answer" in stderr and "Traceback" not in stderr
    assert done.stdout.strip()  # the good line was still answered
    runs = json.loads(run(["runs", "--json"], tmp_path).stdout)["runs"]
    assert next(r for r in runs if r["graph"] == "chat")["calls_used"] == 1


def test_a_session_says_whether_it_is_new_or_resumed(tmp_path: Path) -> None:
    """A mistyped --session id shows as a new session, not as a history that vanished."""
    first = run(["chat", "--session", "notes"], tmp_path, "Say hello.\n")
    assert first.returncode == 0 and "session notes (new)" in first.stderr, first.stderr
    again = run(["chat", "--session", "notes"], tmp_path, "")
    assert "session notes (resumed after 1 turn)" in again.stderr, again.stderr
    typo = run(["chat", "--session", "nots"], tmp_path, "")
    assert "session nots (new)" in typo.stderr, typo.stderr


def test_six_chats_at_once_keep_every_fact(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Six chat processes on one data directory: none crashes, all 18 facts are kept."""
    env = env_for(tmp_path) | {"NEUROFORGE_BUDGETS__MAX_TOKENS": "16"}
    facts = {i: [f"My cousin number {i} lives in the town of Zorvik{i}.",
                 f"I keep a pet iguana named Pablo{i} at home.",
                 f"I work as a lighthouse keeper on island {i}."] for i in range(6)}
    procs = [subprocess.Popen([NEUROFORGE, "chat", "--session", f"par{i}"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(6)]
    outcomes = [p.communicate("\n".join(facts[i]) + "\n", timeout=600)
                for i, p in enumerate(procs)]
    for p, (_out, err) in zip(procs, outcomes, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err[-2000:]
    from neuroforge.settings import load_settings
    from neuroforge.wiring import long_term_memory

    monkeypatch.setenv("NEUROFORGE_DATA_DIR", str(tmp_path))
    memory = long_term_memory(load_settings())
    for told in facts.values():
        for fact in told:
            found = memory.recall(fact, 1, kind="fact")
            assert found and found[0].text == fact, (fact, found)
    assert memory.count() == 18
