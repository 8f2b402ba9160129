"""Processes that bypass the shim: recorded by the process recorder, stopped when told to."""

from __future__ import annotations

import os
import signal
import sys

import pexpect
import pytest

from hgate.errors import SessionBlocked
from tests.integration.commands.conftest import Harness

pytestmark = pytest.mark.integration

# The real binary by absolute path, from Python: no shell, so no shim sees it; only the
# process recorder can. The recorder matches a process by its arguments, read from /proc
# while it runs (a process that exits within a millisecond can be gone first: the
# recorder's documented limit), so the bypass here lives for a while.
BYPASS = """\
python3 -c 'import subprocess, sys
try:
    subprocess.run(["/usr/bin/tail", "-f", sys.argv[1] + "/keep"], timeout=2,
                   stdout=subprocess.DEVNULL)
except subprocess.TimeoutExpired:
    pass' VICTIM
sleep 1
echo after-bypass
"""


def test_an_absolute_path_bypass_is_recorded_as_a_violation(harness: Harness) -> None:
    session = harness.run(harness.agent(BYPASS))
    assert session.returncode == 0, session.stderr
    assert "after-bypass" in session.output
    (violation,) = session.of("decision", action="violation")
    assert (violation["rule"], violation["response"]) == ("no-victim", "record")
    execs = session.of("process", phase="exec", pid=violation["process"])
    assert execs[0]["argv"] == ["/usr/bin/tail", "-f", f"{harness.victim}/keep"]
    assert execs[0]["program"].endswith("/tail")
    (exit_event,) = session.of("process", phase="exit", pid=violation["process"])
    assert exit_event["signal"] == signal.SIGKILL  # the time-out in the agent ended it
    assert "VALID" in harness.verify(session.transcript).stdout


def test_on_violation_stop_ends_the_session_with_77(harness: Harness) -> None:
    session = harness.run(harness.agent(BYPASS), on_violation="stop")
    assert session.returncode == SessionBlocked.exit_code == 77
    assert "after-bypass" not in session.output
    (violation,) = session.of("decision", action="violation")
    assert violation["response"] == "stop"
    seal = session.events[-1]
    assert seal["type"] == "seal" and seal["exit_code"] == 77
    assert "no-victim" in seal["reason"]
    assert "VALID" in harness.verify(session.transcript).stdout


def test_the_polling_fallback_says_it_is_incomplete(harness: Harness) -> None:
    session = harness.run(harness.agent("sleep 0.5; echo done\n"), recorder="poll")
    (recorder,) = session.of("recorder")
    assert (recorder["source"], recorder["complete"]) == ("poll", False)
    assert any(e["argv"] == ["sleep", "0.5"] for e in session.of("process", phase="exec"))


def test_the_stdin_guard_drops_a_blocked_line(harness: Harness) -> None:
    harness.agent("")  # creates the victim
    env = harness.env()
    env["PS1"] = "agent$ "
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "hgate",
            "run",
            "--policy",
            str(harness.policy()),
            "--out",
            str(harness.tmp_path / "runs"),
            "--quiet",
            "--",
            "bash",
            "--norc",
            "--noprofile",
            "-i",
        ],
        env=env,
        cwd=str(harness.tmp_path),
        timeout=20,
        encoding="utf-8",
    )
    try:
        child.expect_exact("agent$ ")
        child.sendline(f"rm -rf {harness.victim}")
        child.expect_exact("not sent to the agent: blocked by rule no-victim")
        child.sendline("echo guard-$HOSTNAME-ok")
        child.expect("guard-.*-ok")
        child.sendline("exit 5")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 5
    assert (harness.victim / "keep").exists()
    (transcript,) = (harness.tmp_path / "runs").glob("*.jsonl")
    text = transcript.read_text()
    assert '"source":"stdin"' in text and '"rule":"no-victim"' in text
    assert os.path.exists(transcript)
