"""Sink tests run the real `hgate` (`python -m hgate`) against real stores: moto's S3
server (tests/fixtures/s3_server.py) and the reference collector as its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

COLLECTOR_TOKEN = "collector-bearer-token-0123"
POLICY = """\
version: 1
name: sinks-test
include: [hipaa-baseline.yaml]
identities:
  - name: developer
    local: true
session:
  max_duration: 60s
  kill_grace: 1s
transcript:
  checkpoint_every_lines: {every}
  on_sink_failure: {failure}
  sinks:
    - type: directory
      path: {runs}
    - {sink}
"""


@dataclass
class Collector:
    """The reference collector, started as `python -m hgate.audit.collector`."""

    root: Path
    proc: subprocess.Popen[str]
    url: str

    @property
    def post_url(self) -> str:
        return f"{self.url}/v1/segments"

    def session_url(self, session_id: str) -> str:
        return f"{self.url}/v1/sessions/{session_id}"

    def segments(self) -> list[Path]:
        return sorted(self.root.glob("*/[0-9]*.jsonl"))

    def kill(self) -> None:
        """Pull the network path away mid-session: SIGKILL, no goodbye."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    root = tmp_path / "collector"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hgate.audit.collector", "--dir", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HGATE_COLLECTOR_TOKEN": COLLECTOR_TOKEN},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield Collector(root=root, proc=proc, url=line.split()[-1])
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class Hgate:
    """Runs `hgate run` and `hgate verify` with keys and transcripts under tmp_path."""

    tmp_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def runs(self) -> Path:
        return self.tmp_path / "runs"

    @property
    def public_key(self) -> Path:
        return self.tmp_path / "home" / "hgate.pub"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HGATE_", "AWS_"))}
        env["HGATE_HOME"] = str(self.tmp_path / "home")
        env.update(self.extra_env)
        return env

    def policy(self, sink: str, *, failure: str = "stop", every: int = 5) -> Path:
        path = self.tmp_path / "policy.yaml"
        text = POLICY.format(
            sink=sink, failure=failure, every=every, runs=json.dumps(str(self.runs))
        )
        path.write_text(text)
        return path

    def hgate_cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hgate", *args]

    def argv(self, policy: Path, agent: list[str]) -> list[str]:
        return self.hgate_cmd("run", "--policy", str(policy), "--", *agent)

    def run(self, policy: Path, agent: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(policy, agent), capture_output=True, text=True, timeout=90, env=self.env()
        )

    def start(self, policy: Path, agent: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(policy, agent),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )

    def transcript(self) -> Path:
        (path,) = self.runs.glob("*.jsonl")
        return path

    def verify(self, source: str | Path) -> tuple[int, dict[str, object]]:
        proc = subprocess.run(
            [*self.hgate_cmd("verify", str(source)), "--key", str(self.public_key), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
        )
        assert proc.stdout, proc.stderr
        report: dict[str, object] = json.loads(proc.stdout)
        return proc.returncode, report


@pytest.fixture
def hgate(tmp_path: Path) -> Hgate:
    return Hgate(tmp_path)


@pytest.fixture
def agent(agent_script: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    return agent_script
