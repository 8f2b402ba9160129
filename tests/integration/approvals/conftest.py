"""Real sessions held for approval, and real approvers: `hgate approve` in another process.

Keys are made at test time: alice has an hgate (PEM) key, bob an OpenSSH key from
`ssh-keygen -t ed25519`, carol is listed but is the session's own identity, and mallory
is not listed at all.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hgate.audit import generate_keypair

pytestmark = pytest.mark.integration

USER = "carol-ci"
HGATE = (sys.executable, "-m", "hgate")
POLICY = """\
version: 1
name: approvals-test
identities:
  - {{name: developer, local: true}}
session: {{max_duration: 60s, kill_grace: 1s}}
commands:
  rules:
    - name: deploy
      action: approve
      reason: deploys to production
      program: touch
      args: ["**/deployed"]
approvals:
  channel: {channel}
  timeout: {timeout}
  approvers:
    - {{name: alice, key_file: keys/alice.pub}}
    - {{name: bob, key_file: keys/bob.pub}}
    - {{name: carol, key_file: keys/carol.pub, identity: "{subject}"}}
  rules:
    - {{rule: deploy, required: {required}}}
"""
AGENT = """#!/bin/bash
bash -c 'touch {marker}'; echo "deploy-rc=$?"
echo after
"""


@dataclass
class Held:
    """A session running in the background, and the request it is waiting on."""

    proc: subprocess.Popen[bytes]
    out: Path
    request_id: str = ""
    output: str = ""
    stderr: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    transcript: Path | None = None

    def out_text(self) -> str:
        """The agent's output recorded so far (while the session still runs)."""
        lines = []
        for path in self.out.glob("*.jsonl"):
            for raw in path.read_text().splitlines():
                event = json.loads(raw)
                if event.get("type") == "output":
                    lines += [line["text"] for line in event["data"]["lines"]]
        return "\n".join(lines)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["type"] == kind]


@dataclass
class Approvals:
    tmp_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def channel_dir(self) -> Path:
        return self.tmp_path / "approvals"

    @property
    def marker(self) -> Path:
        return self.tmp_path / "deployed"

    def key(self, name: str) -> Path:
        """The private key of `name` (created on first use)."""
        keys = self.tmp_path / "keys"
        keys.mkdir(exist_ok=True)
        private = keys / name
        if not private.exists():
            if name == "bob":  # an approver's own OpenSSH key
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)],
                    check=True,
                )
            else:
                paths = generate_keypair(keys / f"{name}.d")
                paths.private_key.rename(private)
                paths.public_key.rename(keys / f"{name}.pub")
        return private

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HGATE_")}
        env["HGATE_HOME"] = str(self.tmp_path / "home")
        env["USER"] = USER
        return {**env, **self.extra_env}

    def policy(self, *, channel: str = "", timeout: str = "30s", required: int = 1) -> Path:
        for name in ("alice", "bob", "carol", "mallory"):
            self.key(name)
        self.channel_dir.mkdir(exist_ok=True)
        path = self.tmp_path / "policy.yaml"
        subject = f"{USER}@{socket.gethostname()}"
        channel = channel or f"{{type: directory, path: {self.channel_dir}}}"
        path.write_text(
            POLICY.format(channel=channel, timeout=timeout, required=required, subject=subject)
        )
        return path

    def start(self, policy: Path, *, agent: Path | None = None) -> Held:
        if agent is None:
            agent = self.tmp_path / "agent.sh"
            agent.write_text(AGENT.format(marker=self.marker))
            agent.chmod(0o755)
        out = self.tmp_path / "runs"
        proc = subprocess.Popen(
            [
                *HGATE,
                "run",
                "--policy",
                str(policy),
                "--out",
                str(out),
                "--quiet",
                "--",
                str(agent),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(),
            cwd=self.tmp_path,
        )
        return Held(proc=proc, out=out)

    def wait_for_request(self, held: Held, *, timeout: float = 20.0) -> str:
        """The id of the request the session published (read from its transcript)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in held.out.glob("*.jsonl"):
                for line in path.read_text().splitlines():
                    event = json.loads(line)
                    if event.get("type") == "approval.request":
                        held.request_id = event["data"]["request"]["id"]
                        if event["data"]["channel"] != "directory":
                            return held.request_id
                        if (self.channel_dir / held.request_id / "request.json").exists():
                            return held.request_id
            if held.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.finish(held)
        raise AssertionError(f"no approval request; stderr: {held.stderr}")

    def finish(self, held: Held) -> Held:
        stdout, stderr = held.proc.communicate(timeout=60)
        held.output, held.stderr = stdout.decode(errors="replace"), stderr.decode(errors="replace")
        (held.transcript,) = sorted(held.out.glob("*.jsonl"))
        held.events = [json.loads(line) for line in held.transcript.read_text().splitlines()]
        return held

    def hgate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hgate", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
            check=False,
        )

    def decide(self, verb: str, request_id: str, who: str, *extra: str) -> str:
        """`hgate approve|deny REQUEST_ID --key KEY --channel-dir DIR ...` in its own process."""
        key = str(self.key(who))
        result = self.hgate(
            verb, request_id, "--key", key, "--channel-dir", str(self.channel_dir), *extra
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def verify(self, transcript: Path) -> subprocess.CompletedProcess[str]:
        return self.hgate(
            "verify", str(transcript), "--key", str(self.tmp_path / "home" / "hgate.pub")
        )


@pytest.fixture
def approvals(tmp_path: Path) -> Approvals:
    return Approvals(tmp_path)
