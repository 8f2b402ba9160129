"""Long options abbreviated as getopt_long allows, and wrapper options however written."""

from __future__ import annotations

import pytest

from hgate.guard import Command, CommandGuard, Matcher, Rule, unwrap
from hgate.policy.loader import load_policy, shipped_policies_dir


@pytest.fixture(scope="module")
def baseline() -> CommandGuard:
    policy = load_policy(shipped_policies_dir() / "local.yaml")
    return CommandGuard(policy.commands.rules)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("rm --recu -f /", "rm-root-or-home"),
        ("rm --r -f /", "rm-root-or-home"),
        ("rm --no-pres /tmp/x", "rm-no-preserve-root"),
        ("git push --force-w origin main", "git-push-force"),
        ("git push --forc origin main", "git-push-force"),
        ("git push --del origin main", "git-push-force"),
        ("chmod --recur 777 /", "chmod-chown-root-recursive"),
        ("psql --ho=db.prod.example", "psql-outside-the-session"),
        ("psql --hos db.prod.example", "psql-outside-the-session"),
        ("psql --ho=localhost", "psql-outside-the-session"),  # an exception is read strictly
    ],
)
def test_abbreviated_long_options_match_the_rule(
    baseline: CommandGuard, line: str, rule: str
) -> None:
    verdict = baseline.check_line(line)
    assert (verdict.action, verdict.rule) == ("block", rule)


def test_the_exact_spelling_still_carves_the_exception(baseline: CommandGuard) -> None:
    assert baseline.check_line("psql --host=localhost").action == "allow"
    assert baseline.check_line("git push origin main").action == "allow"


def test_abbreviations_widen_block_rules_not_allow_rules() -> None:
    matcher = Matcher(programs=("rm",), flags=(("--dry-run",),))
    command = Command(argv=("rm", "--dry", "x"))
    assert matcher.matches(command)
    assert not matcher.matches(command, abbreviations=False)
    guard = CommandGuard([Rule(name="dry", action="allow", matcher=matcher)], default="block")
    assert guard.check_line("rm --dry x").action == "block"
    assert guard.check_line("rm --dry-run x").action == "allow"


@pytest.mark.parametrize(
    "line",
    [
        "timeout --sig KILL 5 rm -rf /",
        "timeout -sKILL 5 rm -rf /",
        "timeout --kill=1 5 rm -rf /",
        "sudo --us root rm -rf /",
        "sudo -Eu root rm -rf /",
        "sudo -uroot rm -rf /",
        "nice --adj 5 rm -rf /",
        "nice -n5 rm -rf /",
        "env --unse X rm -rf /",
        "env -uX rm -rf /",
        "env --block-signal rm -rf /",  # its value is optional: only ever after `=`
        "env --ignore-signal=INT rm -rf /",
        "env -S'rm -rf /'",
        "env -iS'rm -rf /'",
        "env --split='rm -rf /'",
        "env --sp 'A=1 rm -rf /'",
        "env -S\"'rm' -rf /\"",
        "xargs --max-a 1 rm -rf /",
        "xargs -n1 rm -rf /",
        "xargs -ia rm -rf /",  # -i's value is only ever attached
        "stdbuf -oL rm -rf /",
    ],
)
def test_wrapper_options_however_written_never_hide_the_program(
    baseline: CommandGuard, line: str
) -> None:
    verdict = baseline.check_line(line)
    assert (verdict.action, verdict.rule) == ("block", "rm-root-or-home"), line


def test_unwrap_skips_abbreviated_and_attached_values() -> None:
    assert unwrap(("timeout", "--sig", "KILL", "5", "rm", "x")) == (("rm", "x"), ("timeout",))
    assert unwrap(("env", "-S", "A=1 rm x")) == (("rm", "x"), ("env",))
    assert unwrap(("command", "-v", "rm")) == (("command", "-v", "rm"), ())
