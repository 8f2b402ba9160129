"""Words read by bashlex get bash's quote removal: `""'ssh' host` runs `ssh`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hgate.guard import CommandGuard, Matcher, Rule, parse_line
from hgate.guard.shell_line import parsers_used


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ("\"\"'ssh' host", ("ssh", "host")),
        ("rm -rf \"\"'/'", ("rm", "-rf", "/")),
        ('"r"\'m\' -rf ""\'/\'""', ("rm", "-rf", "/")),
        ("\"\"\\s'sh' host", ("ssh", "host")),
        ('echo "a"\'"b"\'c', ("echo", 'a"b"c')),
        ("echo \"$(id)\"'x'", ("echo", "$(id)x")),
    ],
)
def test_a_word_after_a_double_quoted_part_loses_all_its_quotes(
    line: str, argv: tuple[str, ...]
) -> None:
    with parsers_used() as used:
        commands = parse_line(line)
    assert commands[-1].argv == argv
    assert used == {"bashlex"}


def test_redirection_targets_lose_their_quotes_too() -> None:
    (command,) = parse_line("echo x > \"\"'/etc/passwd'")
    assert command.redirects == ("/etc/passwd",)


def test_a_blocked_program_hidden_in_quotes_is_blocked() -> None:
    guard = CommandGuard([Rule(name="no-ssh", action="block", matcher=Matcher(programs=("ssh",)))])
    assert guard.check_line("\"\"'ssh' host").rule == "no-ssh"
    assert guard.check_line('bash -c "\\"\\"\'ssh\' host"').rule == "no-ssh"


WORDS = ["\"\"'s'", '"s"\'s\'"s"', '""\\\'', "\"\"'#'", "\"a b\"'c d'", "\"\"'\\'", "\"\\\\\"'s'"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("word", WORDS)
def test_values_agree_with_bash(word: str) -> None:
    line = f"printf '<%s>' {word}"
    real = subprocess.run(["bash", "--norc", "-c", line], capture_output=True, text=True)
    (command,) = parse_line(line)
    assert "".join(f"<{arg}>" for arg in command.argv[2:]) == real.stdout
