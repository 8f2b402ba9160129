"""Code a shell reads from where the line does not show it: stdin, sourced files, traps,
and the environment (BASH_ENV, ENV, exported functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgate.guard import UNPARSABLE_RULE, CommandGuard, Matcher, Rule

GUARD = CommandGuard([Rule(name="no-rm", action="block", matcher=Matcher(programs=("rm",)))])


@pytest.mark.parametrize(
    "line",
    [
        "echo 'rm -rf /' | bash",
        "cat job.sh | sudo sh",
        "bash < ./job.sh",
        "bash -s < ./job.sh",
        "sh",
        "bash -i",
        "x=$'y'; echo 'rm -rf /' | bash",  # the fallback reader too
    ],
)
def test_a_shell_reading_its_commands_from_stdin_is_unparsable(line: str) -> None:
    verdict = GUARD.check_line(line)
    assert (verdict.action, verdict.rule) == ("block", UNPARSABLE_RULE), line
    assert "reads its commands from stdin" in verdict.reason


@pytest.mark.parametrize(
    "line", ["bash <<< 'ls'", "bash <<EOF\nls\nEOF", "bash --version", "bash -c ls", "ls | cat"]
)
def test_a_shell_whose_input_is_checked_is_not(line: str) -> None:
    assert GUARD.check_line(line).action == "allow", line


def test_a_rule_that_names_the_pipe_still_decides() -> None:
    rule = Rule(name="no-curl-sh", action="block", matcher=Matcher(piped_to=("sh",)))
    verdict = CommandGuard([rule]).check_line("curl -s x | sh")
    assert (verdict.action, verdict.rule) == ("block", "no-curl-sh")


def test_a_sourced_file_is_checked_by_its_contents(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("echo hi\nrm -rf /\n")
    (tmp_path / "ok.sh").write_text("echo hi\n")

    def read(name: str) -> str:
        return (tmp_path / name).read_text()

    for line in (". ./job.sh", "source job.sh", "builtin source -- job.sh", "true && . job.sh"):
        verdict = GUARD.check_line(line, read_script=read)
        assert (verdict.action, verdict.rule) == ("block", "no-rm"), line
    assert GUARD.check_line("source ok.sh", read_script=read).action == "allow"
    missing = GUARD.check_line(". ./missing.sh", read_script=read)
    assert (missing.action, missing.rule) == ("block", UNPARSABLE_RULE)
    assert "cannot be checked" in missing.reason


def test_a_sourced_file_is_checked_even_without_a_script_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.sh").write_text("rm -rf /\n")
    assert GUARD.check_line(". ./job.sh").rule == "no-rm"


@pytest.mark.parametrize(
    "line",
    ["trap 'rm -rf /' EXIT", "trap -- 'rm -rf /' EXIT INT", "bash -c \"trap 'rm -rf x' EXIT\""],
)
def test_a_trap_string_is_checked_as_code(line: str) -> None:
    assert GUARD.check_line(line).rule == "no-rm", line


def test_trap_without_a_handler_string_is_ordinary() -> None:
    assert GUARD.check_line("trap - EXIT").action == "allow"
    assert GUARD.check_line("trap -p").action == "allow"


@pytest.mark.parametrize(
    "line",
    [
        "BASH_ENV=./job.sh bash -c true",
        "export BASH_ENV=./job.sh",
        "declare -x BASH_ENV=./job.sh",
        "BASH_ENV=./job.sh",
        "env BASH_ENV=./job.sh bash -c true",
        "env 'BASH_FUNC_f%%=() { rm -rf /; }' bash -c f",
        "sudo BASH_FUNC_ls%%='() { rm -rf /; }' bash -c ls",
        "BASH_ENV=$'./job.sh' bash -c true",  # the fallback reader too
    ],
)
def test_environment_that_makes_a_shell_run_unseen_code_is_refused(line: str) -> None:
    verdict = GUARD.check_line(line)
    assert (verdict.action, verdict.rule) == ("block", UNPARSABLE_RULE), line


def test_an_ordinary_environment_is_not() -> None:
    assert GUARD.check_line("A=1 B_ENV=2 env C=3 bash -c true").action == "allow"
    assert GUARD.check_line("ENV=prod make build").action == "allow"  # only sh -i reads ENV
