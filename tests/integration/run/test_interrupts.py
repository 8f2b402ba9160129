"""SIGINT to hgate: forwarded first, then escalated to the stop path (SIGTERM, SIGKILL)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.run.conftest import Gate

pytestmark = pytest.mark.integration

STUBBORN = 'trap "" INT TERM HUP; echo ready; sleep 1000'


@dataclass
class Ended:
    returncode: int
    stdout: bytes
    stderr: str
    elapsed: float  # from the first signal to hgate's exit


def start(gate: Gate, script: str, *, kill_grace: str) -> subprocess.Popen[bytes]:
    """hgate with a bash agent, returned once the agent printed `ready` (the loop runs).

    The agent writes its pid (its process group: the PTY makes it a session leader) so a
    failing test can still kill it."""
    proc = gate.start(
        f"echo $$ > {agent_pid_file(gate)}; {script}", policy=gate.policy(kill_grace=kill_grace)
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    seen = b""
    while b"ready" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    if b"ready" not in seen:
        kill_all(gate, proc)
        pytest.fail(f"the agent never became ready: {seen!r}")
    return proc


def agent_pid_file(gate: Gate) -> Path:
    return gate.tmp_path / "agent.pid"


def kill_all(gate: Gate, proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int(agent_pid_file(gate).read_text()), signal.SIGKILL)
    proc.kill()
    proc.communicate()


def interrupt(gate: Gate, proc: subprocess.Popen[bytes], times: int, *, gap: float = 0.4) -> Ended:
    """SIGINT `times` times, `gap` apart (so that no two coalesce), then wait for hgate."""
    started = time.monotonic()
    for index in range(times):
        if index:
            time.sleep(gap)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        kill_all(gate, proc)
        pytest.fail("hgate kept running after the interrupts")
    return Ended(
        proc.returncode, stdout, stderr.decode(errors="replace"), time.monotonic() - started
    )


def transcript(gate: Gate) -> Path:
    files = sorted((gate.tmp_path / "runs").glob("*.jsonl"))
    assert len(files) == 1
    return files[0]


def seal(path: Path) -> dict[str, object]:
    last: dict[str, object] = json.loads(path.read_text().splitlines()[-1])
    assert last["type"] == "seal"
    return last


def test_repeated_sigint_stops_an_agent_that_ignores_signals(gate: Gate) -> None:
    # A long grace: only the second and third SIGINT can end the agent this fast.
    proc = start(gate, STUBBORN, kill_grace="60s")
    ended = interrupt(gate, proc, 3)
    assert ended.returncode == 130, ended.stderr
    assert ended.elapsed < 15
    assert "interrupt: stopping the agent (SIGTERM" in ended.stderr
    assert "interrupt: killing the agent (SIGKILL)" in ended.stderr
    path = transcript(gate)
    verified = gate.verify(path)
    assert verified.returncode == 0, verified.stdout
    assert "VALID" in verified.stdout
    sealed = seal(path)
    assert sealed["exit_code"] == 130
    assert "interrupted" in str(sealed["reason"])


def test_second_sigint_sends_sigterm(gate: Gate, tmp_path: Path) -> None:
    marker = tmp_path / "got-term"
    script = f"trap '' INT; trap 'echo got-term > {marker}; exit 0' TERM; echo ready; " + (
        "while :; do sleep 0.1; done"
    )
    proc = start(gate, script, kill_grace="60s")
    ended = interrupt(gate, proc, 2)
    assert ended.returncode == 130, ended.stderr
    assert ended.elapsed < 15
    assert marker.read_text().strip() == "got-term"
    assert ended.stderr.count("interrupt:") == 1
    assert gate.verify(transcript(gate)).returncode == 0


def test_one_sigint_escalates_after_kill_grace(gate: Gate) -> None:
    proc = start(gate, STUBBORN, kill_grace="300ms")
    ended = interrupt(gate, proc, 1)
    assert ended.returncode == 130, ended.stderr
    assert ended.elapsed < 15
    assert "interrupt: stopping the agent (SIGTERM" in ended.stderr
    path = transcript(gate)
    assert gate.verify(path).returncode == 0
    assert seal(path)["exit_code"] == 130


def test_sigint_an_agent_handles_is_not_escalated(gate: Gate) -> None:
    proc = start(
        gate, "trap 'echo bye; exit 5' INT; echo ready; sleep 1000 & wait", kill_grace="5s"
    )
    ended = interrupt(gate, proc, 1)
    assert ended.returncode == 5, ended.stderr
    assert b"bye" in ended.stdout
    assert "interrupt:" not in ended.stderr
    assert gate.verify(transcript(gate)).returncode == 0


def test_sigint_that_kills_the_agent_is_130(gate: Gate) -> None:
    proc = start(gate, "echo ready; exec sleep 1000", kill_grace="5s")
    ended = interrupt(gate, proc, 1)
    assert ended.returncode == 130, ended.stderr
    assert "interrupt:" not in ended.stderr
    assert gate.verify(transcript(gate)).returncode == 0


@pytest.mark.parametrize(
    "sig", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM], ids=lambda sig: sig.name
)
def test_a_signal_that_would_kill_hgate_stops_the_agent_and_seals(
    gate: Gate, sig: signal.Signals
) -> None:
    """Before: hgate died of the signal itself, leaving the agent running, its credentials
    live and the transcript without a seal (INCOMPLETE)."""
    proc = start(gate, STUBBORN, kill_grace="300ms")
    proc.send_signal(sig)
    try:
        _, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        kill_all(gate, proc)
        pytest.fail(f"hgate kept running after {sig.name}")
    assert proc.returncode == 128 + sig, stderr.decode(errors="replace")
    assert f"hgate: {sig.name}: stopping the agent (SIGTERM" in stderr.decode()
    with pytest.raises(ProcessLookupError):  # SIGKILLed after the grace: it ignores TERM
        os.kill(int(agent_pid_file(gate).read_text()), 0)
    path = transcript(gate)
    verified = gate.verify(path)
    assert verified.returncode == 0, verified.stdout
    sealed = seal(path)
    assert sealed["exit_code"] == 128 + sig
    assert sealed["reason"] == f"stopped: hgate received {sig.name}"


def test_a_real_time_signal_stops_the_agent_and_seals(gate: Gate) -> None:
    """Before: a real-time signal (default action: terminate) killed hgate outright, the
    agent kept running with live credentials and the transcript had no seal."""
    sig = signal.SIGRTMIN + 3
    proc = start(gate, STUBBORN, kill_grace="300ms")
    os.kill(proc.pid, sig)
    try:
        _, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        kill_all(gate, proc)
        pytest.fail("hgate kept running after SIGRTMIN+3")
    assert proc.returncode == 128 + sig, stderr.decode(errors="replace")
    assert "hgate: SIGRTMIN+3: stopping the agent (SIGTERM" in stderr.decode()
    with pytest.raises(ProcessLookupError):
        os.kill(int(agent_pid_file(gate).read_text()), 0)
    path = transcript(gate)
    assert gate.verify(path).returncode == 0
    sealed = seal(path)
    assert sealed["exit_code"] == 128 + sig
    assert sealed["reason"] == "stopped: hgate received SIGRTMIN+3"


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT], ids=lambda sig: sig.name
)
def test_a_forwarded_signal_the_agent_ignores_is_followed_by_sigkill(
    gate: Gate, sig: signal.Signals
) -> None:
    """Before: SIGQUIT was forwarded with no SIGKILL timer, so an agent that ignores it
    kept running (and hgate with it) until max_duration."""
    proc = start(gate, 'trap "" INT TERM HUP QUIT; echo ready; sleep 1000', kill_grace="300ms")
    proc.send_signal(sig)
    try:
        _, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        kill_all(gate, proc)
        pytest.fail(f"the agent kept running after a forwarded {sig.name}")
    assert proc.returncode == 128 + signal.SIGKILL, stderr.decode(errors="replace")
    with pytest.raises(ProcessLookupError):
        os.kill(int(agent_pid_file(gate).read_text()), 0)
    path = transcript(gate)
    assert gate.verify(path).returncode == 0


def test_the_default_kill_grace_is_cut_to_the_identity_max_duration(gate: Gate) -> None:
    """Before: an identity granted 3s got the default 5s grace, so a stopped agent that
    ignores SIGTERM outlived the identity's whole session limit."""
    text = "version: 1\nname: t\nidentities:\n  - name: developer\n    local: true\n"
    gate.policy(text=text + "    grants: {max_duration: 3s}\n")
    policy = gate.tmp_path / "policy.yaml"
    proc = gate.start(f"echo $$ > {agent_pid_file(gate)}; {STUBBORN}", policy=policy)
    assert proc.stdout is not None
    assert b"ready" in proc.stdout.readline()
    proc.send_signal(signal.SIGUSR1)
    try:
        _, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        kill_all(gate, proc)
        pytest.fail("hgate kept running")
    assert "SIGUSR1: stopping the agent (SIGTERM, then SIGKILL in 3s)" in stderr.decode(), (
        stderr.decode(errors="replace")
    )
    assert proc.returncode == 128 + signal.SIGUSR1
