"""Run the real `hgate` (as `python -m hgate`) with keys and transcripts in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LOCAL_POLICY = """\
version: 1
name: test-local
include: [hipaa-baseline.yaml]
identities:
  - name: developer
    local: true
session:
  max_duration: {max_duration}
  kill_grace: {kill_grace}
environment:
  remove: ["*_TOKEN"]
mask:
  values_from_env: [PLANTED_SECRET]
transcript:
  checkpoint_every_lines: {every}
"""


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: str
    out_dir: Path
    key: Path

    @property
    def transcript(self) -> Path:
        files = sorted(self.out_dir.glob("*.jsonl"))
        assert len(files) == 1, f"expected one transcript, found {len(files)}"
        return files[0]


@dataclass
class Gate:
    tmp_path: Path

    @property
    def home(self) -> Path:
        return self.tmp_path / "home"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HGATE_")}
        env["HGATE_HOME"] = str(self.home)
        env.update(extra)
        return env

    def policy(
        self,
        *,
        max_duration: str = "60s",
        every: int = 1000,
        kill_grace: str = "1s",
        text: str | None = None,
    ) -> Path:
        path = self.tmp_path / "policy.yaml"
        path.write_text(
            text
            if text is not None
            else LOCAL_POLICY.replace("{max_duration}", max_duration)
            .replace("{every}", str(every))
            .replace("{kill_grace}", kill_grace)
        )
        return path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hgate", *args]

    def start(self, script: str, *, policy: Path | None = None) -> subprocess.Popen[bytes]:
        """`hgate run -- bash -c script` in the background, its output on pipes."""
        argv = self.command(
            "run", "--policy", str(policy or self.policy()), "--out", str(self.tmp_path / "runs"),
            "--", "bash", "-c", script,
        )  # fmt: skip
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=self.env(),
        )

    def run(
        self,
        agent: list[str],
        *,
        policy: Path | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        cwd: Path | None = None,
    ) -> Run:
        out_dir = self.tmp_path / "runs"
        argv = self.command(
            "run", "--policy", str(policy or self.policy()), "--out", str(out_dir), "--", *agent
        )
        proc = subprocess.run(
            argv,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
            env=env or self.env(),
            cwd=cwd,
        )
        return Run(
            proc.returncode,
            proc.stdout,
            proc.stderr.decode(errors="replace"),
            out_dir,
            self.home / "hgate.pub",
        )

    def verify(self, transcript: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command("verify", str(transcript), "--key", str(self.home / "hgate.pub"), *extra),
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
        )


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path)
