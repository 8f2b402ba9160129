"""The `commands:` section: every mistake refused with file:line:col; includes only tighten."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgate.errors import PolicyError
from hgate.guard import Matcher
from hgate.policy.loader import load_policy

HEAD = "version: 1\nname: t\n"


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_commands_section(tmp_path: Path) -> None:
    commands = load_policy(write(tmp_path, HEAD)).commands
    assert (
        commands.default,
        commands.unparsable,
        commands.on_violation,
        commands.recorder,
        commands.stdin,
    ) == ("allow", "block", "record", "auto", "check")
    assert commands.rules == ()


def test_a_full_rule_is_read(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            HEAD
            + """commands:
  default: block
  on_violation: stop
  rules:
    - name: psql
      action: approve
      reason: database access
      program: [psql]
      flags: ["-c|--command"]
      args: "*.sql"
      options: {"-h|--host": ["db.*"]}
      subcommand: x
      piped_to: [tee]
      unless: {args: [safe.sql]}
""",
        )
    )
    (rule,) = policy.commands.rules
    assert rule.matcher == Matcher(
        programs=("psql",),
        flags=(("-c", "--command"),),
        args=("*.sql",),
        options=((("-h", "--host"), ("db.*",)),),
        subcommands=("x",),
        piped_to=("tee",),
        unless=Matcher(args=("safe.sql",)),
    )
    assert (rule.action, rule.reason, policy.commands.default) == (
        "approve",
        "database access",
        "block",
    )
    assert rule.location.endswith("policy.yaml:7:7")


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("commands:\n  defualt: block\n", ":5:3", r"unknown key 'defualt'.*did you mean"),
        ("commands:\n  default: deny\n", ":5:12", r"expected one of allow, block, approve"),
        ("commands:\n  on_violation: panic\n", ":5:17", r"expected one of record, kill, stop"),
        (
            "commands:\n  rules:\n    - {name: a, action: block}\n",
            ":6:7",
            r"at least one condition",
        ),
        (
            "commands:\n  rules:\n    - {name: a, program: rm}\n",
            ":6:7",
            r"missing required key 'action'",
        ),
        (
            "commands:\n  rules:\n    - {name: a, action: block, programs: rm}\n",
            ":6:32",
            r"unknown key 'programs'.*did you mean 'program'",
        ),
        (
            "commands:\n  rules:\n    - {name: a, action: block, flags: [r]}\n",
            ":6:40",
            r"'r' is not a flag",
        ),
        (
            "commands:\n  rules:\n    - {name: a, action: block, args: ['']}\n",
            ":6:39",
            r"empty pattern",
        ),
        (
            "commands:\n  rules:\n    - {name: a, action: block, options: [-h]}\n",
            ":6:41",
            r"mapping of flags",
        ),
        (
            "commands:\n  rules:\n    - {name: a, action: block, program: x}\n"
            "    - {name: a, action: block, program: y}\n",
            ":7:14",
            r"duplicate rule name 'a'",
        ),
        (
            "commands:\n  rules:\n    - {name: a, action: block, program: x, unless: {}}\n",
            ":6:52",
            r"`unless` needs at least one condition",
        ),
    ],
)
def test_mistakes_are_refused_with_their_place(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = write(tmp_path, HEAD + "identities: []\n" + text)
    with pytest.raises(PolicyError, match=message) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}{where}:")


def test_includes_add_block_rules_first(tmp_path: Path) -> None:
    write(
        tmp_path,
        "version: 1\ncommands:\n  rules:\n    - {name: inc, action: block, program: rm}\n",
        "inc.yaml",
    )
    policy = load_policy(
        write(
            tmp_path,
            HEAD + "include: [inc.yaml]\ncommands:\n  rules:\n"
            "    - {name: own, action: allow, program: ls}\n",
        )
    )
    assert [rule.name for rule in policy.commands.rules] == ["inc", "own"]


@pytest.mark.parametrize(
    ("included", "message"),
    [
        (
            "commands:\n  rules:\n    - {name: a, action: allow, program: x}\n",
            r"an included file may not hold allow rules",
        ),
        ("commands:\n  default: allow\n", r"unknown key 'default'"),
    ],
)
def test_an_include_can_never_widen(tmp_path: Path, included: str, message: str) -> None:
    write(tmp_path, "version: 1\n" + included, "inc.yaml")
    with pytest.raises(PolicyError, match=message):
        load_policy(write(tmp_path, HEAD + "include: [inc.yaml]\n"))


def test_the_shipped_baseline_loads_into_local(tmp_path: Path) -> None:
    from hgate.policy.loader import shipped_policies_dir

    policy = load_policy(shipped_policies_dir() / "local.yaml")
    assert "rm-root-or-home" in {rule.name for rule in policy.commands.rules}
    assert all(rule.action != "allow" for rule in policy.commands.rules)
