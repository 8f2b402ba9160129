"""Exit codes, signals, stdin, time limits and crashes, with real agents under a real PTY."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from tests.integration.run.conftest import Gate

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("status", [0, 1, 3, 42, 125])
def test_exit_status_passes_through(gate: Gate, status: int) -> None:
    run = gate.run(["bash", "-c", f"exit {status}"])
    assert run.returncode == status
    assert gate.verify(run.transcript).returncode == 0


def test_death_by_signal_is_128_plus_n(gate: Gate) -> None:
    run = gate.run(["bash", "-c", "kill -TERM $$"])
    assert run.returncode == 128 + signal.SIGTERM
    seal = json.loads(run.transcript.read_text().splitlines()[-1])
    assert seal["type"] == "seal" and seal["exit_code"] == 143


def test_an_agent_that_closes_its_terminal_then_exits_keeps_its_status(gate: Gate) -> None:
    """The terminal closes a moment before the process is gone (always, briefly, when a
    short agent exits; here on purpose): hgate waits for that moment before sending the
    hang-up, instead of reporting the agent as killed by SIGHUP (exit 129)."""
    run = gate.run(["bash", "-c", "exec >&- 2>&- <&-; sleep 0.2; exit 3"])
    assert run.returncode == 3, run.stderr


def test_command_not_found_is_127_with_one_line(gate: Gate) -> None:
    run = gate.run(["/nonexistent/agent-binary"])
    assert run.returncode == 127
    assert run.stderr.strip().splitlines()[-1].startswith("hgate: error: agent command not found")
    assert "Traceback" not in run.stderr


def test_command_not_executable_is_126_with_one_line(gate: Gate, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = work / "noexec.sh"
    script.write_text("#!/bin/sh\necho should-not-run\n")
    script.chmod(0o644)
    run = gate.run(["./noexec.sh"], cwd=work)
    assert run.returncode == 126, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("hgate: error: agent command is not executable: ./noexec.sh"), last
    assert "Traceback" not in run.stderr
    assert b"should-not-run" not in run.stdout


def test_command_on_path_not_executable_is_126(gate: Gate, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hgate-test-noexec").write_text("#!/bin/sh\necho should-not-run\n")
    (bin_dir / "hgate-test-noexec").chmod(0o644)
    env = gate.env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    run = gate.run(["hgate-test-noexec"], env=env)
    assert run.returncode == 126, run.stderr
    assert "agent command is not executable: hgate-test-noexec" in run.stderr


def test_stdin_is_at_eof_when_not_a_terminal(gate: Gate) -> None:
    run = gate.run(["bash", "-c", "cat; echo after-eof"], stdin=b"ignored input\n", timeout=20)
    assert run.returncode == 0
    assert b"after-eof" in run.stdout
    assert b"ignored input" not in run.stdout


def test_time_limit_ends_the_agent_with_124(gate: Gate) -> None:
    started = time.monotonic()
    run = gate.run(["bash", "-c", "echo started; sleep 30"], policy=gate.policy(max_duration="1s"))
    assert run.returncode == 124
    assert time.monotonic() - started < 15
    assert b"started" in run.stdout
    assert gate.verify(run.transcript).returncode == 0
    seal = json.loads(run.transcript.read_text().splitlines()[-1])
    assert "time limit" in seal["reason"]


def test_time_limit_kills_an_agent_that_ignores_sigterm(gate: Gate) -> None:
    run = gate.run(
        ["bash", "-c", "trap '' TERM; echo stubborn; sleep 30"],
        policy=gate.policy(max_duration="1s"),
    )
    assert run.returncode == 124
    assert b"stubborn" in run.stdout


def test_sigterm_to_hgate_is_forwarded(gate: Gate, tmp_path: Path) -> None:
    marker = tmp_path / "got-term"
    script = (
        f"trap 'echo got-term > {marker}; exit 7' TERM; echo ready; while :; do sleep 0.1; done"
    )
    proc = gate.start(script)
    assert proc.stdout is not None
    assert b"ready" in proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 7
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    assert marker.read_text().strip() == "got-term"


def test_sigkill_leaves_an_incomplete_transcript(gate: Gate, tmp_path: Path) -> None:
    argv = gate.command(
        "run",
        "--policy",
        str(gate.policy(every=5)),
        "--out",
        str(tmp_path / "runs"),
        "--",
        "bash",
        "-c",
        "for i in $(seq 1 20); do echo line $i; done; echo ready; sleep 60",
    )
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=gate.env(),
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    seen = b""
    while b"ready" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    transcript = next((tmp_path / "runs").glob("*.jsonl"))
    result = gate.verify(transcript)
    assert result.returncode == 3, result.stdout
    assert "INCOMPLETE" in result.stdout


def test_unwritable_sink_stops_before_the_agent_starts(gate: Gate, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the sink directory should be")
    marker = tmp_path / "agent-ran"
    argv = gate.command(
        "run", "--policy", str(gate.policy()), "--out", str(blocker), "--", "touch", str(marker)
    )
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=gate.env())
    assert proc.returncode == 73
    assert not marker.exists(), "the agent must not start without a transcript"
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_policy_is_one_line_with_position(gate: Gate, tmp_path: Path) -> None:
    bad = gate.policy(text="version: 1\nname: x\nsesion: {}\n")
    proc = subprocess.run(
        gate.command("run", "--policy", str(bad), "--", "true"),
        capture_output=True,
        text=True,
        timeout=30,
        env=gate.env(),
    )
    assert proc.returncode == 65
    assert proc.stderr.strip() == (
        f"hgate: error: {bad}:3:1: unknown key 'sesion' (did you mean 'session'?)"
    )


def test_policy_without_local_identity_is_denied(gate: Gate) -> None:
    policy = gate.policy(text="version: 1\nname: ci-only\n")
    run = gate.run(["true"], policy=policy)
    assert run.returncode == 66
    assert "grants nothing to the local" in run.stderr


def _spawn_run(
    gate: Gate, tmp_path: Path, agent: list[str], dimensions: tuple[int, int] = (24, 80)
) -> pexpect.spawn:
    """`hgate run` of `agent` on a terminal of its own, as a developer starts it."""
    argv = gate.command(
        "run", "--policy", str(gate.policy()), "--out", str(tmp_path / "runs"), "--", *agent
    )
    return pexpect.spawn(argv[0], argv[1:], env=gate.env(), dimensions=dimensions, timeout=20)


def test_terminal_stdin_window_size_and_echo(
    gate: Gate, tmp_path: Path, agent_script: Callable[[str], list[str]]
) -> None:
    agent = agent_script('stty size; read -r line; echo "agent got: $line"\n')
    child = _spawn_run(gate, tmp_path, agent, dimensions=(33, 111))
    try:
        child.expect("33 111")
        child.sendline("hello from the keyboard")
        child.expect("agent got: hello from the keyboard")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_keys_typed_before_the_agent_starts_reach_it(
    gate: Gate, tmp_path: Path, agent_script: Callable[[str], list[str]]
) -> None:
    agent = agent_script('read -r line; echo "agent got: ${line//x/y}"\n')
    child = _spawn_run(gate, tmp_path, agent)
    try:
        child.sendline("typed-ahead-xxx")  # at once: hgate has not started the agent yet
        child.expect("agent got: typed-ahead-yyy")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_agent_gets_default_sigpipe(gate: Gate) -> None:
    run = gate.run(["bash", "-c", "yes | head -n 2 >/dev/null; echo status=${PIPESTATUS[0]}"])
    assert b"status=141" in run.stdout, "yes must die of SIGPIPE (128+13) as outside hgate"


def test_sink_failure_mid_session_stops_the_agent(gate: Gate, tmp_path: Path) -> None:
    marker = tmp_path / "agent-still-running"
    agent = (
        f"for i in $(seq 1 5000); do echo line $i padding padding padding; done; "
        f"sleep 5; touch {marker}"
    )
    argv = gate.command(
        "run",
        "--policy",
        str(gate.policy()),
        "--out",
        str(tmp_path / "runs"),
        "--",
        "bash",
        "-c",
        agent,
    )
    limited = ["bash", "-c", 'ulimit -f 64; exec "$@"', "limit", *argv]  # 64 KiB files
    proc = subprocess.run(limited, capture_output=True, text=True, timeout=60, env=gate.env())
    assert proc.returncode == 73, proc.stderr
    assert "Traceback" not in proc.stderr
    time.sleep(0.5)
    assert not marker.exists(), "the agent must be stopped when the transcript fails"
    transcript = next((tmp_path / "runs").glob("*.jsonl"))
    result = gate.verify(transcript)
    assert result.returncode in (3, 4), result.stdout  # attested prefix, never VALID


def test_a_failed_transcript_says_why_in_its_last_line(gate: Gate, tmp_path: Path) -> None:
    """The process recorder appends from its own thread and may hit the full disk first;
    the error the user reads must still name the cause, not only that a write failed."""
    agent = "for i in $(seq 1 400); do echo line $i padding padding; sleep 0.01; done"
    argv = gate.command(
        "run", "--policy", str(gate.policy(every=10)), "--out", str(tmp_path / "runs"),
        "--", "bash", "-c", agent,
    )  # fmt: skip
    limited = ["bash", "-c", 'ulimit -f 24; exec "$@"', "limit", *argv]  # 24 KiB files
    proc = subprocess.run(limited, capture_output=True, text=True, timeout=60, env=gate.env())
    assert proc.returncode == 73, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hgate: error: ") and "File too large" in last, proc.stderr


def test_outputs_and_log_files_on_success_and_on_refusal(gate: Gate, tmp_path: Path) -> None:
    """What a CI step that `exec`s hgate relies on: the exit code and hgate's own lines in
    files, whether the session ran or was refused before it started."""
    outputs, log = tmp_path / "outputs", tmp_path / "hgate.log"
    extra = ("--outputs-to", str(outputs), "--log", str(log))
    argv = gate.command("run", "--policy", str(gate.policy()), *extra, "--", "sh", "-c", "exit 3")
    ran = subprocess.run(argv, capture_output=True, timeout=60, env=gate.env())
    assert ran.returncode == 3
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["exit-code"] == "3" and Path(values["transcript"]).is_file()
    assert values["transcript"].endswith(values["session-id"] + ".jsonl")
    assert f"session {values['session-id']} ended" in log.read_text()

    outputs.unlink()
    bad = gate.policy(text="version: 1\nname: x\nsession:\n  max_duration: forever\n")
    argv = gate.command("run", "--policy", str(bad), *extra, "--", "true")
    refused = subprocess.run(argv, capture_output=True, timeout=60, env=gate.env())
    assert refused.returncode == 65
    assert outputs.read_text() == "exit-code=65\n"
    assert log.read_text().splitlines()[-1].startswith(f"hgate: error: {bad}:")


def _run_touching(
    gate: Gate, tmp_path: Path, marker: Path, *, outputs: Path, log: Path
) -> subprocess.CompletedProcess[str]:
    """`hgate run --outputs-to OUTPUTS --log LOG -- touch MARKER`."""
    argv = gate.command("run", "--policy", str(gate.policy()), "--out", str(tmp_path / "runs"),
                        "--outputs-to", str(outputs), "--log", str(log),
                        "--", "touch", str(marker))  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=gate.env())


def test_outputs_that_cannot_be_written_stop_hgate_before_the_agent_starts(
    gate: Gate, tmp_path: Path
) -> None:
    """Before: a warning, and the agent ran; its exit code was then lost, and a step that
    `exec`s hgate could not tell success from failure."""
    marker, log = tmp_path / "agent-ran", tmp_path / "hgate.log"
    outputs = tmp_path / "no-such-dir" / "outputs"
    proc = _run_touching(gate, tmp_path, marker, outputs=outputs, log=log)
    assert proc.returncode == 67, proc.stderr
    assert not marker.exists(), "the agent must not start when its outcome cannot be handed on"
    assert not (tmp_path / "runs").exists(), "checked before the session starts"
    assert proc.stderr.strip().splitlines() == [
        f"hgate: error: --outputs-to {outputs} cannot be written: No such file or directory"
    ]
    assert log.read_text().splitlines()[-1] == proc.stderr.strip()


def test_a_log_that_cannot_be_written_stops_hgate_before_the_agent_starts(
    gate: Gate, tmp_path: Path
) -> None:
    """Before: a warning, and the agent ran with hgate's own lines (its error line
    included) lost from the file `hgate summary --log` reads."""
    marker, outputs = tmp_path / "agent-ran", tmp_path / "outputs"
    log = tmp_path / "no-such-dir" / "hgate.log"
    proc = _run_touching(gate, tmp_path, marker, outputs=outputs, log=log)
    assert proc.returncode == 67, proc.stderr
    assert not marker.exists(), "the agent must not start when hgate's log cannot be kept"
    assert not (tmp_path / "runs").exists(), "checked before the session starts"
    assert proc.stderr.strip().splitlines() == [
        f"hgate: error: --log {log} cannot be written: No such file or directory"
    ]
    assert outputs.read_text() == "exit-code=67\n"  # the exit code is still handed on


def test_outputs_lost_at_the_end_turn_success_into_67(gate: Gate, tmp_path: Path) -> None:
    """The agent (same user) replaces the outputs file with a directory and exits 0.
    Before: a warning and exit 0, with no exit-code for the next step."""
    outputs, log = tmp_path / "outputs", tmp_path / "hgate.log"
    argv = gate.command("run", "--policy", str(gate.policy()), "--out", str(tmp_path / "runs"),
                        "--outputs-to", str(outputs), "--log", str(log),
                        "--", "sh", "-c", f"rm -f {outputs}; mkdir {outputs}")  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=gate.env())
    assert proc.returncode == 67, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        f"hgate: error: --outputs-to {outputs} could not be written: Is a directory; "
        "the session's exit code 0 was not handed on"
    )
    assert "Traceback" not in proc.stderr
    assert log.read_text().splitlines()[-1] == last


def test_a_signing_key_file_is_used_and_a_missing_one_fails_closed(
    gate: Gate, tmp_path: Path
) -> None:
    """HGATE_SIGNING_KEY_FILE (a GitLab file variable) signs the transcript; when it
    names no file the agent does not start (no fallback to another key)."""
    keys = tmp_path / "ci-keys"
    subprocess.run(gate.command("keygen", "--out", str(keys)), check=True, capture_output=True)
    marker = tmp_path / "started"
    run = gate.run(
        ["touch", str(marker)], env=gate.env(HGATE_SIGNING_KEY_FILE=str(keys / "hgate.key"))
    )
    assert run.returncode == 0, run.stderr
    verify = subprocess.run(
        gate.command("verify", str(run.transcript), "--key", str(keys / "hgate.pub")),
        capture_output=True, text=True, env=gate.env(),
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    marker.unlink()
    missing = gate.run(
        ["touch", str(marker)], env=gate.env(HGATE_SIGNING_KEY_FILE=str(tmp_path / "nope.key"))
    )
    assert missing.returncode == 67 and not marker.exists(), missing.stderr
    assert "nope.key does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_the_agents_output_cannot_be_a_github_workflow_command(gate: Gate) -> None:
    """In GitHub Actions the runner takes `::command::` lines from a step's output: an
    agent could forge annotations, set outputs or switch commands off for hgate's own
    lines after it. The runner is told to take none until a token the agent never sees."""
    agent = "echo '::error::forged annotation'; echo '::stop-commands::agents-own'; echo done"
    policy = gate.policy()
    run = gate.run(["bash", "-c", agent], policy=policy, env=gate.env(GITHUB_ACTIONS="true"))
    assert run.returncode == 0, run.stderr
    out = run.stdout.decode()
    stop = re.search(r"^::stop-commands::([0-9a-f]{32})\r?$", out, flags=re.MULTILINE)
    assert stop is not None, out
    token = stop.group(1)
    resume = out.index(f"::{token}::")
    assert stop.start() < out.index("::error::forged") < out.index("done") < resume
    leaked = token in run.transcript.read_text()
    assert not leaked, "the stop-commands token reached the transcript"


def test_a_new_signing_key_is_announced_before_the_session_starts(gate: Gate) -> None:
    run = gate.run(["true"])
    assert run.returncode == 0, run.stderr
    first, second = run.stderr.splitlines()[:2]
    assert first.startswith("hgate: created a new signing key (fingerprint SHA256:"), first
    assert " started · policy " in second
