"""Approvers' keys made at test time (an hgate key and an OpenSSH key), and a request."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hgate.approvals import ApprovalRequest, Approver, RequestId, new_request_id, openssh_line
from hgate.approvals.request import timestamp
from hgate.audit import Signer, load_signer_pem


@dataclass(frozen=True)
class Person:
    signer: Signer
    approver: Approver


def person(name: str, *, openssh: bool = False, identity: str | None = None) -> Person:
    key = Ed25519PrivateKey.generate()
    fmt = serialization.PrivateFormat.OpenSSH if openssh else serialization.PrivateFormat.PKCS8
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    signer = load_signer_pem(pem, source=name)
    approver = Approver(
        name=name,
        public_key=openssh_line(key.public_key()),
        key_id=signer.key_id,
        identity=identity,
    )
    return Person(signer=signer, approver=approver)


def make_request(
    approvers: list[Approver], *, required: int = 1, ttl: float = 60.0
) -> ApprovalRequest:
    now = time.time()
    return ApprovalRequest(
        id=RequestId(new_request_id()),
        session_id="20260101T000000Z-abcd1234",
        issuer="local",
        subject="carol@ci",
        source="command",
        action="touch /srv/deployed",
        rule="deploy",
        reason="deploys to production",
        created_at=timestamp(now),
        expires_at=timestamp(now + ttl),
        required=required,
        approvers=tuple(a.key_id for a in approvers),
        policy_sha256="0" * 64,
    )


@pytest.fixture
def alice() -> Person:
    return person("alice")


@pytest.fixture
def bob() -> Person:
    return person("bob", openssh=True)


@pytest.fixture
def carol() -> Person:
    return person("carol", identity="carol@ci")
