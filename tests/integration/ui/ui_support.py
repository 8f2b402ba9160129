"""Shared by the UI tests: a real recorded session, a clean CI-free environment."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HGATE = [sys.executable, "-m", "hgate"]
# Printed by the agent: the raw values must never reach a log, a summary or a report.
PHI = {"ssn": "123-45-6789", "email": "jane.doe@example.com", "phone": "415-555-0134"}
AGENT = r"""#!/usr/bin/env bash
echo "task: $1"
echo "request token: [${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-gone}]"
for environ in /proc/[0-9]*/environ; do  # who else holds it, readable to this user?
  if tr '\0' '\n' < "$environ" 2>/dev/null | grep -q '^ACTIONS_ID_TOKEN_REQUEST_TOKEN='; then
    echo "token holder: $(cat "${environ%/environ}/comm")"
  fi
done
echo "patient 123-45-6789 seen, mail jane.doe@example.com"
printf 'progress 50%%\r'; sleep 0.3; printf 'progress 100%%\n'
echo "call back on 415-555-0134"
python3 -c 'import subprocess; subprocess.run(["bash", "-c", "git push --force origin main"])'
echo "after the push"
echo "done"
exit "${AGENT_EXIT:-0}"
"""


def expect_in(text: str, needle: str, where: str) -> None:
    """`needle in text`, failing without printing `text` (it may hold a secret)."""
    if needle not in text:
        raise AssertionError(f"{needle!r} not found in {where}")


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any CI or hgate variables."""
    prefixes = ("GITHUB_", "GITLAB_", "ACTIONS_", "HGATE_", "CI_", "RUNNER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k != "CI"}
    env.update(extra)
    return env


def write_agent(directory: Path) -> Path:
    path = directory / "agent.sh"
    path.write_text(AGENT)
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class Recorded:
    transcript: Path
    key: Path
    home: Path
    stdout: bytes


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One real `hgate run` of the agent under the shipped local policy."""
    base = tmp_path_factory.mktemp("recorded")
    home = base / "home"
    agent = write_agent(base)
    proc = subprocess.run(
        [
            *HGATE,
            "run",
            "--policy",
            str(REPO / "policies/local.yaml"),
            "--out",
            str(base / "runs"),
            "--",
            str(agent),
            "triage",
        ],
        cwd=base,
        env=clean_env(HGATE_HOME=str(home)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    (transcript,) = (base / "runs").glob("*.jsonl")
    return Recorded(transcript=transcript, key=home / "hgate.pub", home=home, stdout=proc.stdout)


def hgate(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HGATE, *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
