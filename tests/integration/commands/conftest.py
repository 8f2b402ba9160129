"""Real agents under `hgate run` (real PTY, real shims, real recorder), all state in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
name: commands-test
include: [hipaa-baseline.yaml, commands-baseline.yaml]
identities:
  - {{name: developer, local: true}}
session: {{max_duration: 60s, kill_grace: 1s}}
commands:
  on_violation: {on_violation}
  recorder: {recorder}
  rules:
    - name: no-victim
      action: block
      reason: the victim directory must survive
      program: [rm, tail]
      args: ["**/victim", "**/victim/**"]
"""


@dataclass
class Session:
    returncode: int
    output: str
    stderr: str
    events: list[dict[str, Any]]
    transcript: Path

    def of(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            e["data"]
            for e in self.events
            if e["type"] == kind and all(e["data"].get(k) == v for k, v in fields.items())
        ]


@dataclass
class Harness:
    tmp_path: Path

    @property
    def victim(self) -> Path:
        return self.tmp_path / "victim"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HGATE_")}
        env["HGATE_HOME"] = str(self.tmp_path / "home")
        return env

    def policy(self, *, on_violation: str = "record", recorder: str = "auto") -> Path:
        path = self.tmp_path / "policy.yaml"
        path.write_text(POLICY.format(on_violation=on_violation, recorder=recorder))
        return path

    def agent(self, body: str) -> list[str]:
        self.victim.mkdir(exist_ok=True)
        (self.victim / "keep").write_text("x")
        path = self.tmp_path / "agent.sh"
        path.write_text("#!/bin/bash\n" + body.replace("VICTIM", str(self.victim)))
        path.chmod(0o755)
        return [str(path)]

    def run(self, agent: list[str], **policy: str) -> Session:
        out = self.tmp_path / "runs"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "hgate",
                "run",
                "--policy",
                str(self.policy(**policy)),
                "--out",
                str(out),
                "--quiet",
                "--",
                *agent,
            ],
            capture_output=True,
            timeout=60,
            env=self.env(),
            cwd=self.tmp_path,
            check=False,
        )
        (transcript,) = sorted(out.glob("*.jsonl"))
        events = [json.loads(line) for line in transcript.read_text().splitlines()]
        return Session(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
            events,
            transcript,
        )

    def verify(self, transcript: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "hgate",
                "verify",
                str(transcript),
                "--key",
                str(self.tmp_path / "home" / "hgate.pub"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
            check=False,
        )


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)
