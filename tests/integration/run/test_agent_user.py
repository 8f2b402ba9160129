"""`hgate run --agent-user`: the agent runs as another OS user and cannot reach hgate.

Adversarial: the agent tries to read hgate's signing key, hgate's environment, to signal
hgate and to write into the transcript directory; all must be refused while its shells
still go through the shim. The test user is created when missing. This machine's Python
may live under /root (mode 0700), which another user cannot reach: the session then runs
in a private mount namespace where /root holds only that Python (nothing changes outside).
"""

from __future__ import annotations

import json
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.sshd_server import SshdServer
from tests.integration.creds.conftest import SSH_GRANT, creds_policy
from tests.integration.run.conftest import Gate

AGENT_USER = "hgate-agent"
AGENT = r"""#!/bin/sh
echo "uid=$(id -u) user=$USER home=$HOME"
cat "$KEYFILE" >/dev/null 2>&1 && echo "key: readable" || echo "key: refused"
tr '\0' '\n' < /proc/$PPID/environ >/dev/null 2>&1 && echo "env: readable" || echo "env: refused"
kill -0 $PPID 2>/dev/null && echo "signal: allowed" || echo "signal: refused"
touch "$OUT/forged.jsonl" 2>/dev/null && echo "out: writable" || echo "out: refused"
bash -c 'echo shell-through-the-shim'
"""


@pytest.fixture(scope="module")
def agent_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(AGENT_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", AGENT_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(AGENT_USER)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the agent user can enter (pytest's own tmp is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="hgate-agent-user-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _launcher(argv: list[str], hold: Path) -> list[str]:
    """`argv`, in a mount namespace where the agent user can reach a Python under /root
    (`hold`, an empty directory, is where it is held while /root is replaced)."""
    python = Path(sys.executable)
    if python.parts[:2] != ("/", "root") or len(python.parts) < 3:
        return argv
    top = str(Path(*python.parts[:3]))  # /root/.pyenv, say
    hold.mkdir()
    script = (
        f"mount --bind {shlex.quote(top)} {hold} && "
        "mount -t tmpfs -o mode=0755 tmpfs /root && "
        f"mkdir -p {shlex.quote(top)} && mount --bind {hold} {shlex.quote(top)} && "
        f"exec {shlex.join(argv)}"
    )
    return ["unshare", "--mount", "sh", "-c", script]


def test_the_agent_runs_as_another_user_and_cannot_reach_hgate(
    gate: Gate, shared_dir: Path, agent_user: pwd.struct_passwd
) -> None:
    agent = shared_dir / "agent.sh"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    out = shared_dir / "runs"
    argv = gate.command(
        "run", "--agent-user", AGENT_USER, "--policy", str(gate.policy()), "--out", str(out)
    )
    env = gate.env(KEYFILE=str(gate.home / "hgate.key"), OUT=str(out))
    proc = subprocess.run(
        _launcher([*argv, "--", str(agent)], shared_dir / ".python"),
        capture_output=True,
        timeout=60,
        env=env,
        cwd=shared_dir,
    )
    text = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert f"uid={agent_user.pw_uid} user={AGENT_USER} home={agent_user.pw_dir}" in text
    for refused in ("key", "env", "signal", "out"):
        assert f"{refused}: refused" in text, text
    assert "shell-through-the-shim" in text
    (transcript,) = out.glob("*.jsonl")
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    header = events[0]
    assert header["agent"] == {"user": AGENT_USER, "uid": agent_user.pw_uid}
    shells = [e["data"] for e in events if e["type"] == "command"]
    assert any(c.get("source") == "shell" for c in shells), "the shim was not used"
    assert gate.verify(transcript).returncode == 0


def test_agent_user_needs_root_and_a_real_user(gate: Gate) -> None:
    argv = gate.command("run", "--agent-user", "no-such-user-here", "--", "true")
    missing = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=gate.env())
    assert missing.returncode == 2
    assert "no user named 'no-such-user-here'" in missing.stderr
    as_root = subprocess.run(
        gate.command("run", "--agent-user", "root", "--", "true"),
        capture_output=True,
        text=True,
        timeout=60,
        env=gate.env(),
    )
    assert as_root.returncode == 2 and "other than root" in as_root.stderr
    unprivileged = subprocess.run(
        ["unshare", "--user", *gate.command("run", "--agent-user", AGENT_USER, "--", "true")],
        capture_output=True,
        text=True,
        timeout=60,
        env=gate.env(),
    )
    assert unprivileged.returncode == 2
    assert "needs hgate to run as root" in unprivileged.stderr


def test_an_agent_user_logs_in_with_its_session_certificate(
    gate: Gate, shared_dir: Path, agent_user: pwd.struct_passwd, sshd_server: SshdServer
) -> None:
    """The session's key and certificate directory is the agent user's (hgate's would be
    0700 and unreadable to it): before, `--agent-user` with an SSH grant could not log in."""
    grant = SSH_GRANT.format(
        principal=sshd_server.principal,
        user=sshd_server.user,
        port=sshd_server.port,
        host_key=sshd_server.host_public_key,
    )
    agent = shared_dir / "agent.sh"
    agent.write_text('#!/bin/sh\nssh -F "$HGATE_SSH_CONFIG" 127.0.0.1 "echo logged-in"\n')
    agent.chmod(0o755)
    argv = gate.command(
        "run", "--agent-user", AGENT_USER, "--policy", str(gate.policy(text=creds_policy(grant))),
        "--out", str(shared_dir / "runs"),
    )  # fmt: skip
    proc = subprocess.run(
        _launcher([*argv, "--", str(agent)], shared_dir / ".python"),
        capture_output=True,
        timeout=60,
        env=gate.env(HGATE_SSH_CA_KEY=sshd_server.ca_private_key),
        cwd=shared_dir,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert b"logged-in" in proc.stdout
