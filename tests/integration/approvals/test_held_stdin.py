"""A line typed on the agent's stdin and held for approval holds that line, not the session.

The agent prints a tick every 100 ms and echoes each stdin line it gets. A developer (the
pexpect terminal) types a line an `approve` rule holds; the ticks go on while it waits;
`hgate approve` in another process lets it through, `hgate deny` drops it with a message.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.integration.approvals.conftest import HGATE, Approvals

pytestmark = pytest.mark.integration

TICKER = """\
import sys, threading, time

def tick():
    n = 0
    while True:
        n += 1
        print(f"tick-{n}", flush=True)
        time.sleep(0.1)

threading.Thread(target=tick, daemon=True).start()
for line in sys.stdin:
    print("got:" + line.strip(), flush=True)
    if line.strip() == "quit":
        break
"""
NOTICE = re.compile(r"held for approval by rule deploy: request (\S+) waits up to")
TICK = re.compile(r"tick-(\d+)")
WAIT = 30  # generous: other suites may share the two cores


def start(approvals: Approvals, policy: Path) -> pexpect.spawn:
    agent = approvals.tmp_path / "ticker.py"
    agent.write_text(TICKER)
    out = str(approvals.tmp_path / "runs")
    argv = [*HGATE[1:], "run", "--policy", str(policy), "--out", out, "--quiet", "--"]
    child = pexpect.spawn(
        HGATE[0],
        [*argv, sys.executable, "-u", str(agent)],
        env=approvals.env(),
        cwd=str(approvals.tmp_path),
        timeout=WAIT,
        encoding="utf-8",
    )
    child.expect(TICK)
    return child


def hold_line(approvals: Approvals, child: pexpect.spawn) -> str:
    """Type the held line; return its request id once the session says it waits."""
    child.sendline(f"touch {approvals.marker}")
    child.expect(NOTICE)
    request_id = str(child.match.group(1))
    ticks_before = _last_tick(child.before)
    seen: set[int] = set()
    while len(seen) < 5:  # the agent keeps printing while the line is held
        child.expect(TICK)
        assert "got:" not in child.before, "the held line reached the agent early"
        seen.add(int(child.match.group(1)))
    assert min(seen) > ticks_before
    return request_id


def finish(child: pexpect.spawn) -> None:
    child.sendline("quit")
    child.expect_exact("got:quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before


def transcript_events(approvals: Approvals, kind: str) -> list[dict[str, Any]]:
    (path,) = (approvals.tmp_path / "runs").glob("*.jsonl")
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["data"] for e in events if e["type"] == kind]


def test_an_approved_stdin_line_reaches_the_agent_and_the_ticks_never_stop(
    approvals: Approvals,
) -> None:
    child = start(approvals, approvals.policy())
    try:
        request_id = hold_line(approvals, child)
        child.sendline("echo typed-while-held")  # waits behind the held line, in order
        for _ in range(3):
            child.expect(TICK)
        assert "got:" not in child.before
        assert "approved request" in approvals.decide("approve", request_id, "alice")
        child.expect_exact("got:touch ")
        child.expect_exact("got:echo typed-while-held")
        child.expect(TICK)  # and the session still streams after the decision
        finish(child)
    finally:
        child.close(force=True)
    (outcome,) = transcript_events(approvals, "approval.outcome")
    assert (outcome["status"], outcome["approved_by"]) == ("approved", ["alice"])
    (request,) = transcript_events(approvals, "approval.request")
    assert request["request"]["id"] == request_id
    assert request["request"]["source"] == "stdin"
    (decision,) = [d for d in transcript_events(approvals, "decision") if d["rule"] == "deploy"]
    assert (decision["action"], decision["approval"]) == ("allow", "approved")
    (path,) = (approvals.tmp_path / "runs").glob("*.jsonl")
    assert approvals.verify(path).returncode == 0


@pytest.mark.parametrize("answer", ["deny", "expire"])
def test_a_denied_or_expired_stdin_line_is_dropped_with_a_message(
    approvals: Approvals, answer: str
) -> None:
    policy = approvals.policy(timeout="30s" if answer == "deny" else "2s")
    child = start(approvals, policy)
    try:
        request_id = hold_line(approvals, child)
        if answer == "deny":
            approvals.decide("deny", request_id, "bob", "--reason", "not during the freeze")
            expected = f"request {request_id} denied by bob: not during the freeze"
        else:
            expected = f"request {request_id} no decision in time"
        child.expect_exact("hgate: not sent to the agent: blocked by rule deploy")
        child.expect_exact(expected)
        child.expect(TICK)
        child.sendline("echo after-the-decision")
        child.expect_exact("got:echo after-the-decision")
        assert "got:touch" not in child.before
        finish(child)
    finally:
        child.close(force=True)
    assert not approvals.marker.exists()
    (outcome,) = transcript_events(approvals, "approval.outcome")
    assert outcome["status"] == ("denied" if answer == "deny" else "expired")
    (decision,) = [d for d in transcript_events(approvals, "decision") if d["rule"] == "deploy"]
    assert decision["action"] == "block"
    (path,) = (approvals.tmp_path / "runs").glob("*.jsonl")
    assert approvals.verify(path).returncode == 0


def _last_tick(text: str) -> int:
    found = [int(n) for n in TICK.findall(text)]
    return max(found) if found else 0


def test_an_approved_line_run_by_an_interactive_shell_is_no_violation(
    approvals: Approvals,
) -> None:
    """The agent is an interactive bash: it runs the approved line itself (not through the
    shim), so the recorder sees its execs (`timeout`, then `tail`); with `on_violation:
    kill` they must not be killed, while an unapproved exec of the same rule still is.
    The programs run for a second so the recorder reads their arguments (its documented
    limit is a process that exits first)."""
    policy = approvals.policy()
    policy.write_text(
        policy.read_text()
        .replace("commands:\n", "commands:\n  on_violation: kill\n", 1)
        .replace("program: touch", "program: [touch, tail]", 1)
    )
    approvals.marker.write_text("")
    other = approvals.tmp_path / "again" / "deployed"
    other.parent.mkdir()
    other.write_text("")
    out = str(approvals.tmp_path / "runs")
    argv = [*HGATE[1:], "run", "--policy", str(policy), "--out", out, "--quiet", "--"]
    child = pexpect.spawn(
        HGATE[0],
        [*argv, "/bin/bash", "--norc", "--noprofile"],
        env={**approvals.env(), "PS1": "agent$ "},
        cwd=str(approvals.tmp_path),
        timeout=WAIT,
        encoding="utf-8",
    )
    try:
        child.sendline('echo rea""dy')  # the output differs from the echoed line
        child.expect_exact("ready")
        child.sendline(f"timeout 1 tail -f {approvals.marker}; echo rc=$?")
        child.expect(NOTICE)
        approvals.decide("approve", child.match.group(1), "alice")
        child.expect_exact("rc=124")  # ended by its own time-out, not killed (137)
        # The same rule from a line nobody approved, started behind the stdin guard's back.
        child.sendline(
            "python3 -c 'import subprocess, sys; "
            f'print("bypass-rc", subprocess.run(["timeout", "3", "tail", "-f", "{other}"])'
            ".returncode)'"
        )
        child.expect_exact("bypass-rc -9")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    violations = [d for d in transcript_events(approvals, "decision") if d["action"] == "violation"]
    matched = {v["matched"] for v in violations}
    assert not any(str(approvals.marker) in m for m in matched), matched  # the approved line
    assert f"timeout … tail -f {other}" in matched, matched  # the bypass, killed at once
