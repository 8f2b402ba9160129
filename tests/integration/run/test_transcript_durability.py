"""A killed, starved or tampered-with `hgate run` never leaves a transcript that passes
for complete: SIGKILL at any moment and a full disk leave an INCOMPLETE prefix, and an
agent (same user) that rewrites or moves the transcript makes hgate fail with exit 73."""

from __future__ import annotations

import random
import resource
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.run.conftest import Gate

INCOMPLETE, SINK_ERROR = 3, 73
BURST = "for i in $(seq 1 20000); do echo burst line $i; done"


def _transcript(gate: Gate) -> Path:
    files = sorted((gate.tmp_path / "runs").glob("*.jsonl"))
    assert len(files) == 1, f"expected one transcript, found {len(files)}"
    return files[0]


def _wait_for_start(gate: Gate, proc: subprocess.Popen[bytes]) -> None:
    """Until the header and the start checkpoint are on disk. A kill before that leaves an
    empty or cut header (MALFORMED): a known gap, see docs/transcript.md."""
    deadline = time.monotonic() + 30
    while True:
        files = list((gate.tmp_path / "runs").glob("*.jsonl"))
        if files and files[0].read_bytes().count(b"\n") >= 2:
            return
        assert proc.poll() is None, "hgate ended before starting its transcript"
        assert time.monotonic() < deadline, "no started transcript after 30s"
        time.sleep(0.005)


@pytest.mark.parametrize("every", [1, 1000])
def test_sigkill_at_random_moments_leaves_an_incomplete_prefix(gate: Gate, every: int) -> None:
    """every=1 makes almost every line a signed, fsynced checkpoint, so a kill lands
    inside one; every=1000 kills during a burst of plain output lines."""
    policy = gate.policy(every=every)
    rng = random.Random(every)
    for attempt in range(3):
        runs = gate.tmp_path / "runs"
        if runs.exists():
            for old in runs.iterdir():
                old.unlink()
        proc = gate.start(BURST, policy=policy)
        _wait_for_start(gate, proc)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        verdict = gate.verify(_transcript(gate))
        assert verdict.returncode == INCOMPLETE, (attempt, verdict.stdout.splitlines()[:1])


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, 48 * 1024))


def test_a_full_disk_stops_the_session_and_leaves_an_incomplete_prefix(gate: Gate) -> None:
    """RLIMIT_FSIZE stands in for a full disk: write(2) fails (EFBIG) as it would with
    ENOSPC, and Python ignores SIGXFSZ, so hgate sees the error and must fail closed."""
    argv = gate.command(
        "run", "--policy", str(gate.policy(every=5)), "--out", str(gate.tmp_path / "runs"),
        "--", "bash", "-c", BURST,
    )  # fmt: skip
    proc = subprocess.run(
        argv,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=gate.env(),
        timeout=120,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == SINK_ERROR
    assert b"cannot write transcript" in proc.stderr
    assert gate.verify(_transcript(gate)).returncode == INCOMPLETE


def test_transcript_directory_and_file_are_private(gate: Gate) -> None:
    run = gate.run(["true"])
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(run.transcript.stat().st_mode) == 0o600
    assert stat.S_IMODE(run.out_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ('echo one; : > "$(ls R/*.jsonl)"; echo two', "truncated by another process"),
        ('echo one; echo junk >> "$(ls R/*.jsonl)"; echo two', "appended to by another"),
        ("echo one; mv R R.old; mkdir R; echo two", "moved, removed or replaced"),
        ('echo one; rm "$(ls R/*.jsonl)"; echo two', "moved, removed or replaced"),
    ],
)
def test_agent_changing_the_transcript_fails_the_run(gate: Gate, script: str, said: str) -> None:
    """Same user as hgate, the agent can do all this; hgate must notice and exit 73."""
    run = gate.run(["bash", "-c", script.replace("R", str(gate.tmp_path / "runs"))])
    assert run.returncode == SINK_ERROR
    assert said in run.stderr


def test_two_sessions_in_one_directory_each_verify(gate: Gate) -> None:
    policy = gate.policy(every=10)
    procs = [gate.start("for i in $(seq 1 2000); do echo s$i; done", policy=policy) for _ in "ab"]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    files = sorted((gate.tmp_path / "runs").glob("*.jsonl"))
    assert len(files) == 2
    for path in files:
        assert gate.verify(path).returncode == 0
