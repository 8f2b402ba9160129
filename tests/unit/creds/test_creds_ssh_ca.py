"""Certificates as the grant says, CA keys in the forms CI secrets hold, the agent's files."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    SSHCertificate,
    load_ssh_public_identity,
)

from hgate.creds.interface import CredentialBackendError, SessionTerms
from hgate.creds.ssh import CERTIFICATE, IDENTITY, KNOWN_HOSTS, SSH_CONFIG, SshBackend
from hgate.creds.ssh_ca import CLOCK_SKEW, load_ca_key, sign_user_certificate
from hgate.policy.grants import SshGrant, SshHost

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLbNIKuVwPUKarInvg5Z738PZ7KiQH9iulgwE5ybN6a"
NOW = 1_800_000_000.0


def grant(**changes: object) -> SshGrant:
    fields: dict[str, object] = {
        "hosts": (
            SshHost(host="db.internal", host_keys=(HOST_KEY,)),
            SshHost(host="10.0.0.5", port=2222, host_keys=(HOST_KEY,)),
        ),
        "principals": ("deploy", "reader"),
        "user": "deploy",
    }
    fields.update(changes)
    return SshGrant(**fields)  # type: ignore[arg-type]


def terms(minutes: float = 30) -> SessionTerms:
    start = datetime.fromtimestamp(NOW, UTC)
    return SessionTerms(
        session_id="s-1",
        subject="repo:org/app",
        rule="ci",
        not_before=start,
        not_after=start + timedelta(minutes=minutes),
    )


def test_the_certificate_carries_exactly_the_grant() -> None:
    ca = ed25519.Ed25519PrivateKey.generate()
    user_key = ed25519.Ed25519PrivateKey.generate()
    chosen = grant(force_command="/usr/bin/report", source_address=("10.0.0.0/8",), validity=600.0)
    cert, facts = sign_user_certificate(chosen, user_key.public_key(), ca, terms(), now=NOW)
    parsed = load_ssh_public_identity(cert.public_bytes())
    assert isinstance(parsed, SSHCertificate)
    parsed.verify_cert_signature()
    assert parsed.valid_principals == [b"deploy", b"reader"]
    assert parsed.critical_options == {
        b"force-command": b"/usr/bin/report",
        b"source-address": b"10.0.0.0/8",
    }
    assert parsed.extensions == {b"permit-pty": b""}
    assert parsed.valid_after == NOW - CLOCK_SKEW
    assert parsed.valid_before == NOW + 600  # the grant's validity is shorter than the session
    assert parsed.key_id == b"hgate session s-1 subject repo:org/app rule ci"
    assert parsed.serial == facts.serial
    assert facts.to_dict()["critical_options"]["source-address"] == "10.0.0.0/8"


def test_without_a_validity_the_certificate_ends_with_the_session() -> None:
    ca = ec.generate_private_key(ec.SECP256R1())
    cert, _ = sign_user_certificate(
        grant(), ed25519.Ed25519PrivateKey.generate().public_key(), ca, terms(5), now=NOW
    )
    assert cert.valid_before == NOW + 300
    with pytest.raises(CredentialBackendError, match="session has already ended"):
        sign_user_certificate(
            grant(), ed25519.Ed25519PrivateKey.generate().public_key(), ca, terms(-5), now=NOW
        )


@pytest.mark.parametrize("form", [PrivateFormat.OpenSSH, PrivateFormat.PKCS8])
def test_the_ca_key_loads_from_openssh_or_pem_text(form: PrivateFormat) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    text = key.private_bytes(Encoding.PEM, form, NoEncryption()).decode()
    loaded = load_ca_key("\n" + text + "\n")
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    assert loaded.public_key() == key.public_key()


def test_an_unusable_ca_key_is_refused_without_quoting_it() -> None:
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END..."
    with pytest.raises(CredentialBackendError, match="not a usable private key") as info:
        load_ca_key(text)
    assert "c2VjcmV0" not in str(info.value)


def test_the_agent_gets_a_private_directory_of_strict_files(tmp_path: Path) -> None:
    backend = SshBackend(grant(), ed25519.Ed25519PrivateKey.generate(), parent=tmp_path)
    issued = backend.issue(terms())
    directory = Path(issued.handle)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / IDENTITY).stat().st_mode) == 0o600
    assert (directory / CERTIFICATE).read_text().startswith("ssh-ed25519-cert-v01@openssh.com ")
    assert (directory / KNOWN_HOSTS).read_text().splitlines() == [
        f"db.internal {HOST_KEY}",
        f"[10.0.0.5]:2222 {HOST_KEY}",
    ]
    config = (directory / SSH_CONFIG).read_text()
    for line in ("Host db.internal", "Port 2222", "User deploy", "IdentitiesOnly yes"):
        assert line in config
    assert "StrictHostKeyChecking yes" in config and "ClearAllForwardings yes" in config
    assert issued.environment["HGATE_SSH_CONFIG"] == str(directory / SSH_CONFIG)
    private = (directory / IDENTITY).read_text()
    assert any(s.value == private for s in issued.secrets)
    assert private not in repr(issued) and "BEGIN" not in str(issued.record)
    assert backend.revoke(issued).record["state"] == "deleted"
    assert not directory.exists()
    assert backend.revoke(issued).record["state"] == "absent"


def test_a_host_ca_is_trusted_for_the_granted_hosts_only() -> None:
    from hgate.creds.ssh import known_hosts

    text = known_hosts(grant(host_ca=HOST_KEY, hosts=(SshHost(host="*.internal"),)))
    assert text == f"@cert-authority *.internal {HOST_KEY}\n"
