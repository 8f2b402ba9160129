"""Shell lines to commands: every command is found wherever bash would run it."""

from __future__ import annotations

import pytest

from hgate.guard import UnparsableLine, parse_line, parse_shell_args, unwrap


def names(text: str) -> list[str]:
    return [command.name for command in parse_line(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ls -la", ["ls"]),
        ("curl -s x | sh", ["curl", "sh"]),
        ("a && b || c; d &", ["a", "b", "c", "d"]),
        ("(cd /; rm -rf x)", ["cd", "rm"]),
        ("{ ls; }", ["ls"]),
        ("echo $(rm -rf /) `id`", ["rm", "id", "echo"]),  # substitutions run first
        ("x=$(whoami)", ["whoami"]),
        ("diff <(ls a) <(ls b)", ["ls", "ls", "diff"]),
        ("for i in 1 2; do rm $i; done", ["rm"]),
        ("if true; then ls; fi", ["true", "ls"]),
        ("while read l; do echo $l; done < f", ["read", "echo"]),
        ("f() { rm -rf /; }; f", ["rm", "f"]),
        ("cat > $(mktemp) < in", ["mktemp", "cat"]),
        ("bash -c 'rm -rf /tmp/x | tee log'", ["bash", "rm", "tee"]),
        ("sh -ec \"sh -c 'id'\"", ["sh", "sh", "id"]),
        ("bash -o pipefail -lc 'make test'", ["bash", "make"]),
        ("eval 'uname -a; id'", ["eval", "uname", "id"]),
        ("su -c 'apt-get update' root", ["su", "apt-get"]),
        ("find . -name '*.o' -exec rm -f {} \\;", ["find", "rm"]),
        ("bash <<EOF\nrm -rf /srv\nEOF", ["bash", "rm"]),
        ("", []),
        ("# a comment", []),
    ],
)
def test_every_command_is_found(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_wrappers_are_seen_through() -> None:
    (command,) = parse_line("A=1 sudo -u deploy env B=2 timeout -s KILL 5 nice -n 5 rm -rf /srv")
    assert command.argv == ("rm", "-rf", "/srv")
    assert command.wrappers == ("sudo", "env", "timeout", "nice")


@pytest.mark.parametrize(
    ("argv", "inner", "wrappers"),
    [
        (("nohup", "rm", "x"), ("rm", "x"), ("nohup",)),
        (("xargs", "-0", "-n", "1", "rm"), ("rm",), ("xargs",)),
        (("exec", "-a", "name", "rm", "x"), ("rm", "x"), ("exec",)),
        (("command", "rm", "x"), ("rm", "x"), ("command",)),
        (("command", "-v", "rm"), ("command", "-v", "rm"), ()),
        (("env", "-S", "rm -rf /"), ("rm", "-rf", "/"), ("env",)),
        (("nice", "-10", "make"), ("make",), ("nice",)),
        (("sudo", "--", "id"), ("id",), ("sudo",)),
        (("timeout", "--kill-after=3", "10", "sleep", "1"), ("sleep", "1"), ("timeout",)),
        (("sudo",), ("sudo",), ()),
    ],
)
def test_unwrap(argv: tuple[str, ...], inner: tuple[str, ...], wrappers: tuple[str, ...]) -> None:
    assert unwrap(argv) == (inner, wrappers)


def test_pipeline_stages_know_what_reads_their_output() -> None:
    first, second, third = parse_line("curl -s x | tee f | sudo bash")
    assert (first.name, first.piped_to) == ("curl", ("tee", "bash"))
    assert second.piped_to == ("bash",)
    assert third.piped_to == ()


def test_redirection_targets_and_computed_programs_are_recorded() -> None:
    (command,) = parse_line("$TOOL < /proc/1/environ > out")
    assert command.dynamic
    assert command.redirects == ("/proc/1/environ", "out")


def test_nesting_is_followed_up_to_a_limit() -> None:
    assert [c.name for c in parse_line("sh -c 'bash -c id'", depth=6)] == ["sh", "bash", "id"]
    with pytest.raises(UnparsableLine, match="nested more than 8 levels"):
        parse_line("sh -c 'bash -c id'", depth=7)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("echo 'unterminated", "cannot parse"),
        ("case x in a) rm -rf /;;", "cannot parse"),
        ("[[ -f x && ls", "cannot parse"),
        ("echo ${x:-$(rm -rf /)", "cannot parse"),
        ("bash -c 'echo \"unterminated'", "cannot parse"),
        ("a\0b", "NUL"),
    ],
)
def test_unparsable_lines_say_why(text: str, reason: str) -> None:
    with pytest.raises(UnparsableLine, match=reason):
        parse_line(text)


@pytest.mark.parametrize(
    ("args", "mode", "command", "script"),
    [
        (("-c", "ls"), "command", "ls", None),
        (("-lc", "ls", "arg0"), "command", "ls", None),
        (("-e", "-u", "-c", "ls"), "command", "ls", None),
        (("-o", "pipefail", "-c", "ls"), "command", "ls", None),
        (("--login", "-xc", "ls"), "command", "ls", None),
        (("--rcfile", "rc", "script.sh", "a"), "script", None, "script.sh"),
        (("script.sh",), "script", None, "script.sh"),
        (("-s", "a"), "stdin", None, None),
        (("-i",), "interactive", None, None),
        ((), "stdin", None, None),
        (("-c",), "stdin", None, None),
    ],
)
def test_shell_invocations(
    args: tuple[str, ...], mode: str, command: str | None, script: str | None
) -> None:
    invocation = parse_shell_args(args)
    assert (invocation.mode, invocation.command, invocation.script) == (mode, command, script)
