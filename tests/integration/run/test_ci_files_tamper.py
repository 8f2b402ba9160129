"""An agent that can write hgate's CI files (`--outputs-to`, `--log`) cannot change what
later steps read from them: hgate writes through the handles it opened before the agent
started and puts back what it wrote. Parsed here the way the consumers parse them: the
GitLab template's `sed -n 's/^exit-code=//p' | tail -n 1`, and GitHub's runner (the last
`name=value` wins; `name<<DELIM` opens a heredoc).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.run.conftest import Gate
from tests.integration.ui.ci_sim import parse_kv_file

pytestmark = pytest.mark.integration


def _run(
    gate: Gate, tmp_path: Path, script: str, *, outputs: Path, log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`hgate run --outputs-to OUTPUTS [--log LOG] -- bash -c SCRIPT` in tmp_path."""
    extra = ["--log", str(log)] if log is not None else []
    argv = gate.command("run", "--policy", str(gate.policy()), "--out", str(tmp_path / "runs"),
                        "--outputs-to", str(outputs), *extra,
                        "--", "bash", "-c", script)  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=gate.env(), cwd=tmp_path
    )


def _gitlab_value(outputs: Path, name: str) -> str:
    """What the template's after_script reads: the last `name=` line."""
    lines = [line for line in outputs.read_text().splitlines() if line.startswith(f"{name}=")]
    return lines[-1][len(name) + 1 :] if lines else ""


def _transcripts(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs").glob("*.jsonl"))


@pytest.mark.parametrize(
    "planted",
    [
        # a half line: hgate's `exit-code=3` became `xexit-code=3`, the agent's line won
        'printf "exit-code=0\\ntranscript=/tmp/forged.jsonl\\nx" >> outputs',
        # an open heredoc swallowed every line hgate appended after it
        'printf "exit-code=0\\nnote<<EOF\\n" >> outputs',
    ],
)
def test_lines_the_agent_appends_to_the_outputs_do_not_change_them(
    gate: Gate, tmp_path: Path, planted: str
) -> None:
    outputs = tmp_path / "outputs"
    outputs.write_text("dir=/runner/temp/out\n")  # a line an earlier command wrote
    proc = _run(gate, tmp_path, f"{planted}; exit 3", outputs=outputs)
    assert proc.returncode == 3, proc.stderr
    assert "--outputs-to" in proc.stderr and "changed during the session" in proc.stderr
    (transcript,) = _transcripts(tmp_path)
    assert outputs.read_text() == (
        "dir=/runner/temp/out\n"
        "exit-code=3\n"
        f"session-id={transcript.stem}\n"
        f"transcript={transcript}\n"
    )
    assert _gitlab_value(outputs, "exit-code") == "3"
    assert parse_kv_file(outputs.read_text())["exit-code"] == "3"


def test_a_successful_agent_that_writes_the_outputs_fails_closed(
    gate: Gate, tmp_path: Path
) -> None:
    """An agent that exits 0 but wrote hgate's outputs is not a success: exit 67, and
    the exit code handed on is 67 too."""
    outputs = tmp_path / "outputs"
    proc = _run(gate, tmp_path, 'echo "verdict=VALID" >> outputs', outputs=outputs)
    assert proc.returncode == 67, proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"hgate: error: --outputs-to {outputs} changed during the session")
    )
    assert "verdict" not in outputs.read_text()
    assert _gitlab_value(outputs, "exit-code") == "67"


def test_a_symlink_planted_over_the_outputs_is_not_written_through(
    gate: Gate, tmp_path: Path
) -> None:
    """Before: hgate reopened the path at the end and appended to the agent's target."""
    outputs, target = tmp_path / "outputs", tmp_path / "elsewhere"
    target.write_text("exit-code=0\n")
    script = f"rm outputs; ln -s {target} outputs; exit 3"
    proc = _run(gate, tmp_path, script, outputs=outputs)
    assert proc.returncode == 3, proc.stderr
    assert target.read_text() == "exit-code=0\n", "hgate wrote through the agent's symlink"
    assert not outputs.is_symlink()
    assert _gitlab_value(outputs, "exit-code") == "3"


def test_a_fifo_planted_over_the_outputs_does_not_hang_hgate(gate: Gate, tmp_path: Path) -> None:
    """Before: hgate opened the FIFO at the end and blocked until the job timed out."""
    outputs = tmp_path / "outputs"
    proc = _run(gate, tmp_path, "rm outputs; mkfifo outputs; exit 3", outputs=outputs)
    assert proc.returncode == 3, proc.stderr
    assert outputs.is_file()
    assert _gitlab_value(outputs, "exit-code") == "3"


def test_a_fifo_planted_over_the_log_does_not_hang_hgate(gate: Gate, tmp_path: Path) -> None:
    """Before: the last `session ended` line blocked on the agent's FIFO."""
    outputs, log = tmp_path / "outputs", tmp_path / "hgate.log"
    proc = _run(gate, tmp_path, "rm hgate.log; mkfifo hgate.log", outputs=outputs, log=log)
    assert proc.returncode == 67, proc.stderr
    assert log.is_file()
    lines = log.read_text().splitlines()
    assert any(" ended: agent exited, exit 0;" in line for line in lines)
    assert lines[-1].startswith(f"hgate: error: --log {log} changed during the session")
    assert _gitlab_value(outputs, "exit-code") == "67"


def test_an_error_line_planted_in_the_log_is_removed(gate: Gate, tmp_path: Path) -> None:
    """`hgate summary --log` quotes the log's last `hgate: error:` line."""
    outputs, log = tmp_path / "outputs", tmp_path / "hgate.log"
    script = 'echo "hgate: error: planted by the agent" >> hgate.log; exit 2'
    proc = _run(gate, tmp_path, script, outputs=outputs, log=log)
    assert proc.returncode == 2, proc.stderr
    assert "planted by the agent" not in log.read_text()


def test_a_fifo_given_as_outputs_fails_before_the_agent_starts(gate: Gate, tmp_path: Path) -> None:
    outputs, marker = tmp_path / "outputs", tmp_path / "agent-ran"
    subprocess.run(["mkfifo", str(outputs)], check=True)
    proc = _run(gate, tmp_path, f"touch {marker}", outputs=outputs)
    assert proc.returncode == 67, proc.stderr
    assert not marker.exists()
    assert proc.stderr.strip().splitlines() == [
        f"hgate: error: --outputs-to {outputs} cannot be written: No such device or address"
    ]


def test_an_untouched_outputs_file_is_only_appended_to(gate: Gate, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.write_text("dir=/x\n")
    before = outputs.stat().st_ino
    proc = _run(gate, tmp_path, "exit 0", outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    assert "changed during the session" not in proc.stderr
    assert outputs.stat().st_ino == before
    assert outputs.read_text().startswith("dir=/x\nexit-code=0\nsession-id=")


DAEMON = """
import os, sys, time
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    sys.exit(0)
time.sleep(2)
with open("outputs", "a") as file:
    file.write("exit-code=0\\n")
"""


def test_a_process_the_agent_left_behind_cannot_write_after_hgate(
    gate: Gate, tmp_path: Path
) -> None:
    """A daemon the agent started outlives hgate and appends after hgate's lines, which
    no handle or restore can prevent: it must not outlive the session."""
    outputs = tmp_path / "outputs"
    (tmp_path / "daemon.py").write_text(DAEMON)
    proc = _run(gate, tmp_path, "python3 daemon.py; exit 3", outputs=outputs)
    assert proc.returncode == 3, proc.stderr
    assert "ended 1 process(es) the agent left running" in proc.stderr, proc.stderr
    time.sleep(3)
    assert _gitlab_value(outputs, "exit-code") == "3"


def test_a_line_break_in_a_value_cannot_add_an_output(gate: Gate, tmp_path: Path) -> None:
    """A transcript directory whose name holds a line break (`--out`, from a variable).
    Before: `transcript=…/runs` and `verdict=VALID/….jsonl` were two outputs."""
    outputs, out = tmp_path / "outputs", tmp_path / "runs\nverdict=VALID"
    argv = gate.command("run", "--policy", str(gate.policy()), "--out", str(out),
                        "--outputs-to", str(outputs), "--", "true")  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=gate.env())
    assert proc.returncode == 0, proc.stderr
    (transcript,) = sorted(out.glob("*.jsonl"))
    parsed = parse_kv_file(outputs.read_text())
    assert sorted(parsed) == ["exit-code", "session-id", "transcript"]
    assert parsed["transcript"] == str(transcript)


def test_one_file_as_both_log_and_outputs_is_not_taken_for_tampering(
    gate: Gate, tmp_path: Path
) -> None:
    both = tmp_path / "ci-file"
    proc = _run(gate, tmp_path, "exit 0", outputs=both, log=both)
    assert proc.returncode == 0, proc.stderr
    text = both.read_text()
    assert "changed during the session" not in text
    assert text.splitlines()[-3].startswith("exit-code=0")
    assert " ended: agent exited, exit 0;" in text
