"""The agent command's look-up: not found (127) versus found but not executable (126)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgate.errors import CommandNotExecutable, CommandNotFound
from hgate.session.pty_runner import check_command


def make(path: Path, mode: int) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_executable_file_by_path_is_accepted(tmp_path: Path) -> None:
    check_command(str(make(tmp_path / "agent", 0o755)))


def test_relative_path_is_taken_from_cwd(tmp_path: Path) -> None:
    make(tmp_path / "agent", 0o755)
    check_command("./agent", cwd=str(tmp_path))
    with pytest.raises(CommandNotFound):
        check_command("./agent", cwd=str(tmp_path / "elsewhere"))


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFound, match="agent command not found") as raised:
        check_command(str(tmp_path / "missing"))
    assert raised.value.exit_code == 127
    assert not isinstance(raised.value, CommandNotExecutable)


def test_file_without_execute_bit_is_not_executable(tmp_path: Path) -> None:
    make(tmp_path / "noexec.sh", 0o644)
    with pytest.raises(CommandNotExecutable) as raised:
        check_command("./noexec.sh", cwd=str(tmp_path))
    assert raised.value.exit_code == 126
    assert raised.value.message == "agent command is not executable: ./noexec.sh"


def test_directory_is_not_executable(tmp_path: Path) -> None:
    """Before: "not executable ... (chmod +x it, ...)", advice that cannot help a directory."""
    with pytest.raises(CommandNotExecutable) as raised:
        check_command(str(tmp_path))
    assert raised.value.message == f"agent command is a directory: {tmp_path}"
    assert "chmod" not in str(raised.value.remedy)


def test_bare_name_found_on_path(tmp_path: Path) -> None:
    make(tmp_path / "agent", 0o755)
    check_command("agent", path=str(tmp_path))


def test_bare_name_absent_from_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFound) as raised:
        check_command("agent", path=str(tmp_path))
    assert raised.value.exit_code == 127


def test_bare_name_only_unexecutable_on_path_is_not_executable(tmp_path: Path) -> None:
    make(tmp_path / "agent", 0o644)
    with pytest.raises(CommandNotExecutable):
        check_command("agent", path=str(tmp_path))


def test_executable_later_on_path_wins_over_an_unexecutable_one(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    make(first / "agent", 0o644)
    make(second / "agent", 0o755)
    check_command("agent", path=f"{first}:{second}")


def test_directory_on_path_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "agent").mkdir()
    with pytest.raises(CommandNotFound) as raised:
        check_command("agent", path=str(tmp_path))
    assert not isinstance(raised.value, CommandNotExecutable)


def test_names_with_spaces_are_quoted(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFound, match="'no such agent'"):
        check_command("no such agent", path=str(tmp_path))
