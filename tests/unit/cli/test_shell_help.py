"""`hgate shell --help` outside a session is help; inside one, every argument is bash's."""

from __future__ import annotations

from pathlib import Path

from tests.unit.hgate_cli import hgate

EXIT_REFUSED = 126


def test_shell_help_works_outside_a_session() -> None:
    """Before: `hgate: not inside an hgate session`, exit 126."""
    done = hgate("shell", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: hgate shell")
    assert "Exits 126 if the session refuses" in " ".join(done.stdout.split())
    assert done.stderr == ""


def test_inside_a_session_help_is_a_shell_argument(tmp_path: Path) -> None:
    """With HGATE_CONTROL set the line goes to the session (here: none listening)."""
    done = hgate("shell", "--help", env={"HGATE_CONTROL": f"{tmp_path}/no-socket"})
    assert done.returncode == EXIT_REFUSED
    assert "cannot reach the hgate session" in done.stderr


def test_other_arguments_outside_a_session_are_still_refused() -> None:
    done = hgate("shell", "-c", "--help")
    assert done.returncode == EXIT_REFUSED
    assert "not inside an hgate session" in done.stderr
