"""The session certificate against a real sshd: accepted for the granted principal, refused
when expired or for another principal, and carrying exactly the policy's options."""

from __future__ import annotations

import os
import pwd
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hgate.creds.interface import IssuedCredential, SessionTerms
from hgate.creds.ssh import CERTIFICATE, SshBackend
from hgate.creds.ssh_ca import load_ca_key
from hgate.policy.grants import SshGrant, SshHost
from tests.fixtures.sshd_server import SshdServer
from tests.integration.creds.conftest import CredsGate, events, ssh_keygen_list

pytestmark = pytest.mark.integration


def _grant(sshd: SshdServer, **changes: object) -> SshGrant:
    fields: dict[str, object] = {
        "hosts": (SshHost(host="127.0.0.1", port=sshd.port, host_keys=(sshd.host_public_key,)),),
        "principals": (sshd.principal,),
        "user": sshd.user,
        "validity": 600.0,
    }
    fields.update(changes)
    return SshGrant(**fields)  # type: ignore[arg-type]


def _terms(session_id: str) -> SessionTerms:
    now = datetime.now(UTC)
    return SessionTerms(
        session_id=session_id,
        subject="pytest",
        rule="test",
        not_before=now,
        not_after=now + timedelta(minutes=10),
    )


def _ssh(issued: IssuedCredential, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", issued.environment["HGATE_SSH_CONFIG"], "127.0.0.1", *command],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def _issue(
    sshd: SshdServer, grant: SshGrant, session_id: str, **kwargs: object
) -> tuple[SshBackend, IssuedCredential]:
    backend = SshBackend(grant, load_ca_key(sshd.ca_private_key), **kwargs)  # type: ignore[arg-type]
    return backend, backend.issue(_terms(session_id))


def _log_mentions(sshd: SshdServer, *needles: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = sshd.log()
        if all(n in log for n in needles):
            return True
        time.sleep(0.1)
    return False


def test_the_agent_logs_in_with_its_session_certificate(
    creds_gate: CredsGate,
    agent: Callable[[str], list[str]],
    sshd_server: SshdServer,
    tmp_path: Path,
) -> None:
    """The key and certificate live in the runner's per-job temp dir ($RUNNER_TEMP)."""
    script = agent(
        'ssh -F "$HGATE_SSH_CONFIG" 127.0.0.1 "echo logged-in-as \\$(whoami)"\n'
        'stat -c %a "$HGATE_SSH_DIR"\n'
    )
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    run = creds_gate.run(
        script, creds_gate.ssh_grant(sshd_server), sshd=sshd_server, RUNNER_TEMP=str(runner_temp)
    )
    assert run.returncode == 0, run.stderr
    assert f"logged-in-as {sshd_server.user}".encode() in run.stdout
    assert b"700" in run.stdout
    issued = events(run.transcript, "credential.issued")[0]
    assert Path(issued["directory"]).parent == runner_temp
    assert issued["principals"] == [sshd_server.principal]
    assert not Path(issued["directory"]).exists()  # deleted at the end
    assert events(run.transcript, "credential.revoked")[0]["state"] == "deleted"
    session_id = run.transcript.stem
    assert _log_mentions(
        sshd_server,
        f"Accepted publickey for {sshd_server.user}",
        f"ID hgate session {session_id}",
        f"(serial {issued['serial']})",
    )


def test_sshd_refuses_an_expired_certificate(sshd_server: SshdServer) -> None:
    two_hours_ago = time.time() - 7200
    backend, issued = _issue(
        sshd_server, _grant(sshd_server), "expired-session", clock=lambda: two_hours_ago
    )
    try:
        result = _ssh(issued, "true")
        assert result.returncode == 255
        assert "Permission denied" in result.stderr
        assert _log_mentions(sshd_server, "Certificate invalid: expired", "expired-session")
    finally:
        backend.revoke(issued)
    assert not Path(issued.handle).exists()


def test_sshd_refuses_a_principal_the_user_does_not_accept(sshd_server: SshdServer) -> None:
    grant = _grant(sshd_server, principals=("someone-else",))
    backend, issued = _issue(sshd_server, grant, "wrong-principal")
    try:
        result = _ssh(issued, "true")
        assert result.returncode == 255
        assert "Permission denied" in result.stderr
        assert _log_mentions(
            sshd_server, "does not contain an authorized principal", "wrong-principal"
        )
    finally:
        backend.revoke(issued)


def test_certificate_options_are_what_the_policy_says(sshd_server: SshdServer) -> None:
    grant = _grant(
        sshd_server,
        force_command="echo forced-command-ran",
        source_address=("127.0.0.1/32",),
        extensions=("permit-pty",),
    )
    backend, issued = _issue(sshd_server, grant, "options-session")
    try:
        listing = ssh_keygen_list(Path(issued.handle) / CERTIFICATE)
        assert "user certificate" in listing
        assert 'Key ID: "hgate session options-session subject pytest rule test"' in listing
        assert f"Serial: {issued.record['serial']}" in listing
        principals = listing.split("Principals:")[1].split("Critical Options:")[0].split()
        assert principals == [sshd_server.principal]
        options = listing.split("Critical Options:")[1].split("Extensions:")[0]
        assert "force-command echo forced-command-ran" in options
        assert "source-address 127.0.0.1/32" in options
        assert listing.split("Extensions:")[1].split() == ["permit-pty"]
        result = _ssh(issued, "whoami")
        assert result.stdout.strip() == "forced-command-ran"  # sshd applied the option
    finally:
        backend.revoke(issued)


def test_by_default_only_permit_pty_and_a_foreign_source_is_refused(
    sshd_server: SshdServer,
) -> None:
    grant = _grant(sshd_server, source_address=("10.0.0.0/8",))
    backend, issued = _issue(sshd_server, grant, "foreign-source")
    try:
        listing = ssh_keygen_list(Path(issued.handle) / CERTIFICATE)
        assert listing.split("Extensions:")[1].split() == ["permit-pty"]
        assert "permit-port-forwarding" not in listing and "permit-agent-forwarding" not in listing
        assert _ssh(issued, "true").returncode == 255
        assert _log_mentions(sshd_server, "not from a permitted source address", "foreign-source")
    finally:
        backend.revoke(issued)


def test_an_agent_that_swaps_its_key_for_a_symlink_cannot_make_hgate_zero_the_target(
    creds_gate: CredsGate,
    agent: Callable[[str], list[str]],
    sshd_server: SshdServer,
    tmp_path: Path,
) -> None:
    """Revocation overwrites the key before deleting it; it must not follow a link the
    agent put in its place (with --agent-user, hgate is root and the agent owns nothing)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("not the agent's to destroy\n")
    script = agent(f'ln -sf {victim} "$HGATE_SSH_DIR/id_ed25519"\necho swapped\n')
    run = creds_gate.run(script, creds_gate.ssh_grant(sshd_server), sshd=sshd_server)
    assert run.returncode == 0, run.stderr
    assert b"swapped" in run.stdout
    assert victim.read_text() == "not the agent's to destroy\n"
    issued = events(run.transcript, "credential.issued")[0]
    assert not Path(issued["directory"]).exists()
    assert events(run.transcript, "credential.revoked")[0]["state"] == "deleted"
    assert creds_gate.gate.verify(run.transcript).returncode == 0


def test_a_fifo_in_place_of_the_key_does_not_hang_revocation(sshd_server: SshdServer) -> None:
    backend, issued = _issue(sshd_server, _grant(sshd_server), "fifo-session")
    key = Path(issued.handle) / "id_ed25519"
    key.unlink()
    os.mkfifo(key)
    done: list[str] = []
    worker = threading.Thread(
        target=lambda: done.append(backend.revoke(issued).record["state"]), daemon=True
    )
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the writer so the thread can end, then fail
        os.close(os.open(key, os.O_RDONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("revoke() blocked opening a FIFO the agent left in place of its key")
    assert done == ["deleted"]
    assert not Path(issued.handle).exists()


def test_a_hard_link_in_place_of_the_key_is_unlinked_not_overwritten(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    backend, issued = _issue(sshd_server, _grant(sshd_server), "hardlink-session", parent=tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("kept\n")
    key = Path(issued.handle) / "id_ed25519"
    key.unlink()
    os.link(victim, key)
    assert backend.revoke(issued).record["state"] == "deleted"
    assert victim.read_text() == "kept\n"


AGENT_USER = "hgate-agent"  # the account tests/integration/run/test_agent_user.py uses


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_an_agent_user_owns_its_credential_directory_and_can_log_in(
    sshd_server: SshdServer,
) -> None:
    """With --agent-user, hgate is root: a 0700 directory of root's is closed to the agent
    (`Can't open user config file ...: Permission denied`). Given the owner, it is theirs."""
    try:
        agent = pwd.getpwnam(AGENT_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", AGENT_USER],
            check=True,
            capture_output=True,
        )
        agent = pwd.getpwnam(AGENT_USER)
    backend, issued = _issue(
        sshd_server, _grant(sshd_server), "agent-user-session", owner=agent.pw_uid
    )
    try:
        as_agent = ["setpriv", f"--reuid={agent.pw_uid}", f"--regid={agent.pw_gid}"]
        config = issued.environment["HGATE_SSH_CONFIG"]
        result = subprocess.run(
            [*as_agent, "--init-groups", "ssh", "-F", config, "127.0.0.1", "echo in-as-$(whoami)"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            env={"HOME": agent.pw_dir, "PATH": os.environ["PATH"]},
        )
        assert result.stdout.strip() == f"in-as-{sshd_server.user}", result.stderr
        assert Path(issued.handle).stat().st_mode & 0o777 == 0o700
    finally:
        assert backend.revoke(issued).record["state"] == "deleted"  # root still deletes it
    assert not Path(issued.handle).exists()
