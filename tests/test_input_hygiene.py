"""Bad text input gets one clear line and exit 2, never a traceback or a stored mess."""

import io
import threading

import pytest
from rich.console import Console
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.cli.chat_commands import handle_line
from neuroforge.cli.chat_session import ChatContext
from neuroforge.cli.common import strip_controls, utf8_problem
from neuroforge.settings import load_settings

runner = CliRunner()


def test_version_and_shell_completion() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("neuroforge 0.")
    assert "--install-completion" in runner.invoke(app, ["--help"]).output


def test_budget_zero_is_refused_not_replaced() -> None:
    result = runner.invoke(app, ["optimize", "Summarize the text.", "--budget", "0"])
    assert result.exit_code == 2 and "budget" in result.output
    assert "greater than or equal to 10" in result.output


@pytest.mark.parametrize("command", [["optimize", "-"], ["route", "-"]])
def test_invalid_utf8_on_stdin_is_refused(command: list[str]) -> None:
    result = runner.invoke(app, command, input=b"Say \xff\xfe hello")
    assert result.exit_code == 2, result.output
    assert "not valid UTF-8 (byte 0xff at character 5)" in result.output
    assert "Traceback" not in result.output


def test_invalid_utf8_in_an_argument_is_refused() -> None:
    # Python hands undecodable argv bytes over as lone surrogates.
    result = runner.invoke(app, ["route", "bad \udcff byte"])
    assert result.exit_code == 2 and "task is not valid UTF-8" in result.output


def test_control_characters_are_removed_and_said() -> None:
    assert strip_controls("a\x00b\x1b[31mc\td\ne\x7f") == "ab[31mc\td\ne"
    assert utf8_problem("fine ü text") is None
    result = runner.invoke(app, ["optimize", "Sum\x00marize.", "--budget", "0"])
    assert "removed 1 control character(s) from the prompt" in result.output


def test_a_chat_line_that_is_not_utf8_is_refused_and_the_session_goes_on() -> None:
    said, info = io.StringIO(), io.StringIO()
    ctx = ChatContext(settings=load_settings(), graph=None, session_id="s", model=None,
                      memory=None, out=said.write, info=Console(file=info),
                      stop=threading.Event())
    assert handle_line(ctx, "where \udcff is it?") is True
    assert "not valid UTF-8" in info.getvalue() and said.getvalue() == ""
    assert ctx.unanswered == 1  # a piped session exits 1 for it, after the other lines


@pytest.mark.parametrize("session", ["../../etc/passwd", "a b", "x" * 65, "", "-dash"])
def test_chat_refuses_unusable_session_ids(session: str) -> None:
    from typer.testing import CliRunner

    from neuroforge.cli import app

    result = CliRunner().invoke(app, ["chat", "--session", session], input="/exit\n")
    assert result.exit_code == 2 and "is not usable" in result.output
    assert "Traceback" not in result.output
