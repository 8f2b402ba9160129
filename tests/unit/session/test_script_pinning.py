"""A script a person approved is the script that runs.

`bash job.sh` is checked by the file's contents; bash would read the file again when it
runs it, so a script swapped while its approval was held ran unapproved. Each test swaps
the file at the worst moment and runs the real shim against the real control socket.
Scripts nobody was asked about still run from their file (`BASH_SOURCE` works).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from hgate.audit import TranscriptWriter
from hgate.guard import Action, ApprovalChannel, Matcher, Rule, Verdict
from hgate.mask import Masker
from hgate.policy.commands import CommandPolicy
from hgate.session.commands import CommandsSession
from tests.journal import Journal

CHECKED = 'touch deployed\necho checked-ran "$1"\n'
SWAPPED = "echo swapped-ran >swapped\nrm -rf victim\n"
RULES = (
    Rule(name="deploy", action="approve", matcher=Matcher(programs=("touch",), args=("deployed",))),
    Rule(name="no-victim", action="block", matcher=Matcher(programs=("rm",), args=("victim",))),
)
INVOCATIONS = (
    ("bash", "job.sh", "one"),
    ("sh", "./job.sh", "one"),
    ("bash", "-e", "-o", "pipefail", "--", "job.sh", "one"),
)


def swap(script: Path, *, in_place: bool) -> None:
    """What an agent racing the check does: rewrite the file, or rename another over it."""
    if in_place:
        script.write_text(SWAPPED)
    else:
        other = script.with_name("other.sh")
        other.write_text(SWAPPED)
        os.replace(other, script)


class SwapThenApprove:
    """An approvals channel whose approver says yes after the agent swapped the script."""

    def __init__(self, script: Path, *, in_place: bool) -> None:
        self.script, self.in_place = script, in_place

    def settle(self, verdict: Verdict, *, text: str) -> Verdict:
        swap(self.script, in_place=self.in_place)
        return replace(verdict, action="allow", approval="approved")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep").write_text("x")
    (tmp_path / "job.sh").write_text(CHECKED)
    return tmp_path


@contextmanager
def started(
    journal: Journal, approvals: ApprovalChannel | None = None, *, unparsable: Action = "block"
) -> Iterator[CommandsSession]:
    policy = CommandPolicy(rules=RULES, unparsable=unparsable, recorder="off", stdin="off")
    session = CommandsSession(policy)
    try:
        session.start(
            masker=Masker(key=b"k" * 32),
            writer=cast(TranscriptWriter, journal),
            echo=lambda _data: None,
            approvals=approvals,
        )
        yield session
    finally:
        session.close()


def run(session: CommandsSession, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **session.environment(os.environ)}
    return subprocess.run(
        [str(session.shim.path / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=30,
        check=False,
    )


def assert_checked_script_ran(done: subprocess.CompletedProcess[str], cwd: Path) -> None:
    assert done.returncode == 0, done.stderr
    assert done.stdout == "checked-ran one\n"
    assert (cwd / "deployed").exists()
    assert not (cwd / "swapped").exists() and (cwd / "victim" / "keep").exists()


@pytest.mark.parametrize("in_place", [True, False], ids=["rewritten", "renamed-over"])
@pytest.mark.parametrize("argv", INVOCATIONS, ids=" ".join)
def test_a_script_swapped_while_held_for_approval_runs_as_approved(
    workdir: Path, argv: tuple[str, ...], in_place: bool
) -> None:
    approvals = SwapThenApprove(workdir / "job.sh", in_place=in_place)
    with started(Journal(), approvals) as session:
        done = run(session, workdir, *argv)
    assert_checked_script_ran(done, workdir)
    assert (workdir / "job.sh").read_text() == SWAPPED  # the agent's file, left as it made it


class Approve:
    """An approvals channel whose approver says yes."""

    def settle(self, verdict: Verdict, *, text: str) -> Verdict:
        return replace(verdict, action="allow", approval="approved")


def test_a_script_nobody_was_asked_about_runs_from_its_file(workdir: Path) -> None:
    """`BASH_SOURCE`, which scripts use to find themselves, is empty under `bash -c`: only
    an approved script is pinned to its text; others keep their file."""
    (workdir / "bin").mkdir()
    (workdir / "bin" / "job.sh").write_text('printf "%s|" "$0" "${BASH_SOURCE[0]}" "$@"\n')
    journal = Journal()
    with started(journal) as session:
        done = run(session, workdir, "bash", "-u", "bin/job.sh", "a", "b c")
    assert (done.returncode, done.stdout) == (0, "bin/job.sh|bin/job.sh|a|b c|"), done.stderr
    (request,) = [data for kind, data in journal.events if kind == "command"]
    assert request["mode"] == "script" and "script_sha256" in request


def test_the_approved_script_keeps_its_name_and_arguments(workdir: Path) -> None:
    (workdir / "bin").mkdir()
    (workdir / "bin" / "job.sh").write_text('touch deployed\nprintf "%s|" "$0" "$@" "$LINENO"\n')
    with started(Journal(), Approve()) as session:
        done = run(session, workdir, "bash", "-u", "bin/job.sh", "a", "b c")
    assert (done.returncode, done.stdout) == (0, "bin/job.sh|a|b c|2|"), done.stderr


def test_a_held_script_too_large_to_run_as_approved_is_unparsable(workdir: Path) -> None:
    """Linux caps one argument (the `-c` string) at 128 KiB: an approval could not hold."""
    why = "larger than 131071 bytes"
    (workdir / "job.sh").write_text("touch deployed\n" + "# padding\n" * 14_000)
    journal = Journal()
    with started(journal) as session:
        done = run(session, workdir, "bash", "job.sh")
    assert done.returncode == 126 and done.stdout == ""
    assert f"'job.sh' cannot be run as checked: {why}" in done.stderr
    (decision,) = [data for kind, data in journal.events if kind == "decision"]
    assert (decision["action"], decision["rule"]) == ("block", "commands.unparsable")


def test_a_script_too_large_to_run_as_checked_keeps_the_block_its_rules_give(
    workdir: Path,
) -> None:
    (workdir / "job.sh").write_text("# padding\n" * 14_000 + "rm -rf victim\n")
    journal = Journal()
    with started(journal, unparsable="allow") as session:
        done = run(session, workdir, "bash", "job.sh")
    assert done.returncode == 126 and (workdir / "victim" / "keep").exists()
    (decision,) = [data for kind, data in journal.events if kind == "decision"]
    assert (decision["action"], decision["rule"]) == ("block", "no-victim")
