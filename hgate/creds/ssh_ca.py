"""The SSH certificate authority hgate holds, and the user certificates it signs.

The CA key comes from hgate's environment (HGATE_SSH_CA_KEY or its _FILE variant),
never from the policy. A certificate is OpenSSH's own revocation story for short-lived
access: it names the principals, carries its validity window and critical options, and
sshd checks all of them against `TrustedUserCAKeys` without any state on the server.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
    SSHCertPrivateKeyTypes,
    load_pem_private_key,
    load_ssh_private_key,
)

from hgate.creds.interface import CredentialBackendError, SessionTerms
from hgate.policy.grants import SshGrant

CLOCK_SKEW = 30  # seconds a certificate is valid before it was issued (clock drift)
_MAX_KEY_ID = 200
_CA_TYPES = (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)


def load_ca_key(text: str) -> SSHCertPrivateKeyTypes:
    """An Ed25519, ECDSA or RSA private key from OpenSSH or PEM text (unencrypted)."""
    data = text.strip().encode()
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key: Any = load_ssh_private_key(data, password=None)
        else:
            key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CredentialBackendError(
            f"the SSH CA key is not a usable private key ({type(exc).__name__})",
            remedy="give an unencrypted OpenSSH or PEM private key in HGATE_SSH_CA_KEY "
            "(or a path in HGATE_SSH_CA_KEY_FILE)",
        ) from exc
    if not isinstance(key, _CA_TYPES):
        raise CredentialBackendError(
            f"the SSH CA key is a {type(key).__name__}; use Ed25519, ECDSA or RSA"
        )
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFacts:
    """What a certificate says, for the transcript and the agent's ssh_config."""

    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: datetime
    valid_before: datetime
    critical_options: dict[str, str]
    extensions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "key_id": self.key_id,
            "principals": list(self.principals),
            "valid_after": self.valid_after.isoformat(timespec="seconds"),
            "valid_before": self.valid_before.isoformat(timespec="seconds"),
            "critical_options": dict(self.critical_options),
            "extensions": list(self.extensions),
        }


def sign_user_certificate(
    grant: SshGrant,
    public_key: ed25519.Ed25519PublicKey,
    ca_key: SSHCertPrivateKeyTypes,
    terms: SessionTerms,
    *,
    now: float,
) -> tuple[SSHCertificate, CertificateFacts]:
    """A user certificate for `public_key`: the grant's principals, options and extensions,
    valid from a little before `now` until the session's end (or the grant's validity)."""
    after = int(now) - CLOCK_SKEW
    before = int(terms.not_after.timestamp())
    if grant.validity is not None:
        before = min(before, int(now + grant.validity))
    if before <= after:
        raise CredentialBackendError("the session has already ended; no certificate issued")
    options: dict[str, str] = {}
    if grant.force_command is not None:
        options["force-command"] = grant.force_command
    if grant.source_address:
        options["source-address"] = ",".join(grant.source_address)
    key_id = f"hgate session {terms.session_id} subject {terms.subject} rule {terms.rule}"
    key_id = key_id[:_MAX_KEY_ID]
    serial = secrets.randbits(63)
    builder = (
        SSHCertificateBuilder()
        .public_key(public_key)
        .type(SSHCertificateType.USER)
        .serial(serial)
        .key_id(key_id.encode())
        .valid_principals([p.encode() for p in grant.principals])
        .valid_after(after)
        .valid_before(before)
    )
    for name, value in options.items():
        builder = builder.add_critical_option(name.encode(), value.encode())
    for extension in grant.extensions:
        builder = builder.add_extension(extension.encode(), b"")
    try:
        certificate = builder.sign(ca_key)
    except (ValueError, TypeError) as exc:
        raise CredentialBackendError(f"cannot sign the SSH certificate: {exc}") from exc
    facts = CertificateFacts(
        serial=serial,
        key_id=key_id,
        principals=grant.principals,
        valid_after=datetime.fromtimestamp(after, UTC),
        valid_before=datetime.fromtimestamp(before, UTC),
        critical_options=options,
        extensions=tuple(sorted(grant.extensions)),
    )
    return certificate, facts
