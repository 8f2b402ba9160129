"""`hgate creds gc` removes the SSH key directories a SIGKILLed hgate left behind: only
real directories of this user whose certificate has expired, never through a link."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType

from hgate.creds.ssh import CERTIFICATE, IDENTITY
from hgate.creds.ssh_directories import collect_ssh_garbage, ssh_directory_roots
from tests.unit.hgate_cli import hgate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CA = ed25519.Ed25519PrivateKey.generate()


def certificate(valid_before: datetime) -> bytes:
    builder = (
        SSHCertificateBuilder()
        .public_key(ed25519.Ed25519PrivateKey.generate().public_key())
        .serial(1)
        .type(SSHCertificateType.USER)
        .key_id(b"hgate session test")
        .valid_principals([b"agent"])
        .valid_after(int((valid_before - timedelta(hours=1)).timestamp()))
        .valid_before(int(valid_before.timestamp()))
    )
    return builder.sign(CA).public_bytes() + b" hgate-session\n"


def session_dir(root: Path, name: str, valid_before: datetime | None) -> Path:
    """A directory as `SshBackend` leaves it (key and certificate), minus the config."""
    path = root / f"hgate-ssh-{name}"
    path.mkdir(mode=0o700)
    (path / IDENTITY).write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsynthetic\n")
    if valid_before is not None:
        (path / CERTIFICATE).write_bytes(certificate(valid_before))
    return path


def test_expired_directories_go_and_the_rest_stay(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    root.mkdir()
    dead = session_dir(root, "dead", NOW - timedelta(minutes=1))
    live = session_dir(root, "live", NOW + timedelta(minutes=5))
    half = session_dir(root, "half", None)  # killed between mkdtemp and the certificate
    elsewhere = session_dir(tmp_path, "target", NOW - timedelta(days=1))
    (root / "hgate-ssh-link").symlink_to(elsewhere)  # a link is never followed
    linked_cert = session_dir(root, "linkedcert", None)
    (linked_cert / CERTIFICATE).symlink_to(dead / CERTIFICATE)
    unrelated = root / "other-dir"
    unrelated.mkdir()

    report = collect_ssh_garbage([root], now=NOW)

    assert report.expired == ((str(dead), NOW - timedelta(minutes=1)),)
    assert not dead.exists()
    assert report.active == ((str(live), NOW + timedelta(minutes=5)),)
    assert {path for path, _ in report.unreadable} == {str(half), str(linked_cert)}
    assert report.failed == ()
    assert live.is_dir() and half.is_dir() and linked_cert.is_dir() and unrelated.is_dir()
    assert (elsewhere / IDENTITY).read_text().startswith("-----BEGIN")  # not followed
    assert (root / "hgate-ssh-link").is_symlink()


def test_dry_run_and_other_users_directories_remove_nothing(tmp_path: Path) -> None:
    dead = session_dir(tmp_path, "dead", NOW - timedelta(minutes=1))
    dry = collect_ssh_garbage([tmp_path], now=NOW, dry_run=True)
    assert dry.expired == ((str(dead), NOW - timedelta(minutes=1)),) and dead.is_dir()
    other = collect_ssh_garbage([tmp_path], now=NOW, owners=(os.getuid() + 1,))
    assert other == type(other)(other_users=1) and dead.is_dir()


def test_roots_are_runner_temp_and_the_system_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(system))
    assert ssh_directory_roots({"RUNNER_TEMP": str(tmp_path)}) == (tmp_path, system)
    assert ssh_directory_roots({"RUNNER_TEMP": str(system)}) == (system,)
    assert ssh_directory_roots({}) == (system,)


def test_creds_gc_ssh_only_reports_what_it_removed(tmp_path: Path) -> None:
    """Before: `creds gc` knew only PostgreSQL roles; a SIGKILLed hgate's private key
    stayed in the temp dir."""
    expired = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    dead = session_dir(tmp_path, "dead", expired)

    def gc(*args: str) -> subprocess.CompletedProcess[str]:
        return hgate("creds", "gc", "--ssh-only", *args, env={"TMPDIR": str(tmp_path)})

    result = gc("--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ssh"]["removed"] == [{"directory": str(dead), "expired": expired.isoformat()}]
    assert not dead.exists()
    again = gc()
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "SSH directories: 0 removed, 0 active, 0 unreadable, 0 failed"
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root (CI is root)")
def test_an_agent_users_directory_goes_only_when_that_user_is_named(tmp_path: Path) -> None:
    """Before: a session run with --agent-user leaves its directory owned by the agent's
    user, and `creds gc` as root skipped it for good: the key stayed until the runner
    was wiped. Now it says so, and --agent-user NAME removes it."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    expired = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    dead = session_dir(tmp_path, "agent", expired)
    for path in (dead, *dead.iterdir()):
        os.chown(path, nobody.pw_uid, -1)

    def gc(*args: str) -> subprocess.CompletedProcess[str]:
        return hgate("creds", "gc", "--ssh-only", *args, env={"TMPDIR": str(tmp_path)})

    skipped = gc()
    assert skipped.returncode == 0, skipped.stderr
    assert dead.is_dir()
    assert "1 hgate-ssh-* directory(ies) of other users" in skipped.stdout
    assert "--agent-user NAME" in skipped.stdout

    unknown = gc("--agent-user", "no-such-user-hgate")
    assert unknown.returncode == 2 and "no user named" in unknown.stderr
    assert dead.is_dir()

    removed = gc("--agent-user", "nobody", "--json")
    assert removed.returncode == 0, removed.stderr
    report = json.loads(removed.stdout)["ssh"]
    assert report["removed"] == [{"directory": str(dead), "expired": expired.isoformat()}]
    assert report["other_users"] == 0
    assert not dead.exists()
