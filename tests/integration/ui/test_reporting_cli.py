"""show, replay, report and summary on a real recorded session, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.ui.ui_support import HGATE, PHI, Recorded, clean_env, expect_in, hgate
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration


def test_show_is_plain_in_a_pipe_and_highlights_what_matters(recorded: Recorded) -> None:
    done = hgate("show", str(recorded.transcript), "--key", str(recorded.key))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("VALID ")
    assert "\x1b[" not in out, "escape codes in a non-terminal"
    expect_in(out, "BLOCK rule git-push-force `git push --force origin main`", "show")
    expect_in(out, "patient [SSN:", "show")
    expect_in(out, "masked     3: EMAIL 1, PHONE 1, SSN 1", "show")
    expect_in(out, "process events hidden", "show")
    assert "process exec" not in out
    assert "process exec" in hgate("show", str(recorded.transcript), "--all").stdout
    quiet = hgate("show", str(recorded.transcript), "--quiet").stdout
    assert "patient" not in quiet and "git-push-force" in quiet
    assert_absent(PHI, show=out)


def test_show_json_and_report_json_carry_the_same_facts(recorded: Recorded) -> None:
    shown = json.loads(hgate("show", str(recorded.transcript), "--json").stdout)
    reported = json.loads(
        hgate("report", str(recorded.transcript), "--key", str(recorded.key), "--json").stdout
    )
    assert shown["verification"]["verdict"] == "UNVERIFIED"
    assert reported["verification"]["verdict"] == "VALID"
    assert shown["findings"] == reported["findings"] == {"EMAIL": 1, "PHONE": 1, "SSN": 1}
    assert [a["rule"] for a in reported["actions"]] == ["git-push-force"]
    assert reported["identity"]["rule"] == "developer"


def test_a_tampered_transcript_is_shown_as_invalid(recorded: Recorded, tmp_path: Path) -> None:
    forged = tmp_path / recorded.transcript.name
    forged.write_bytes(recorded.transcript.read_bytes().replace(b"task: triage", b"task: hacked"))
    done = hgate("show", str(forged), "--key", str(recorded.key))
    assert done.stdout.startswith("INVALID "), done.stdout
    expect_in(done.stdout, "\n!+", "show of a tampered file")  # unattested lines marked
    summary = hgate("summary", str(forged), "--key", str(recorded.key), "--format", "github",
                    "--annotations")  # fmt: skip
    expect_in(summary.stdout, "::error title=hgate transcript::INVALID", "summary")


def test_replay_writes_the_masked_output_with_its_timing(recorded: Recorded) -> None:
    def replay(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [*HGATE, "replay", str(recorded.transcript), "--quiet", *args]
        return subprocess.run(command, capture_output=True, env=clean_env(), check=False)

    fast = replay("--no-delay")
    assert fast.returncode == 0 and fast.stderr == b""
    assert b"patient [SSN:" in fast.stdout
    assert b"progress 50%\rprogress 100%\r\n" in fast.stdout  # the bar redraws in place
    assert_absent(PHI, replay=fast.stdout)
    started = time.monotonic()
    slow = replay("--speed", "0.5")
    # The agent slept 0.3 s between its progress updates; at half speed that is 0.6 s.
    assert time.monotonic() - started >= 0.6
    assert slow.stdout == fast.stdout


def test_summary_writes_outputs_for_a_session_and_for_a_refusal(
    recorded: Recorded, tmp_path: Path
) -> None:
    outputs, summary_file = tmp_path / "outputs", tmp_path / "summary.md"
    done = hgate("summary", str(recorded.transcript.parent), "--key", str(recorded.key),
                 "--format", "github", "--append-to", str(summary_file),
                 "--outputs-to", str(outputs))  # fmt: skip
    assert done.returncode == 0, done.stderr
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["verdict"] == "VALID"
    assert values["session-id"] == recorded.transcript.stem
    assert "| `SSN` | 1 |" in summary_file.read_text()
    assert done.stdout.startswith("hgate session "), "the log gets the plain summary"

    empty, log = tmp_path / "empty", tmp_path / "hgate.log"
    empty.mkdir()
    log.write_text("hgate: error: policy.yaml:3:1: unknown key 'identitys'\n")
    refused = hgate("summary", str(empty), "--format", "text", "--log", str(log),
                    "--exit-code", "65", "--json")  # fmt: skip
    data = json.loads(refused.stdout)
    assert data["verdict"] == "NONE" and data["report"] is None


def test_no_color_and_quiet_are_honoured(recorded: Recorded) -> None:
    env = clean_env(NO_COLOR="1", TERM="xterm-256color")
    done = hgate("report", str(recorded.transcript), "--quiet", env=env)
    assert done.stdout == "UNVERIFIED\n"
