"""The credential-backend extension point: one backend per kind of ephemeral credential.

A backend turns one grant into a credential that lives no longer than the session and
takes it away again. The session never sees backend internals: it gets the variables
for the agent, the secrets to mask (at once), a record for the transcript (never a
secret), and later calls `revoke`, which must be idempotent and safe after a partial
`issue`.

    CredentialError                 exit 68 (hgate.errors)
    └── CredentialBackendError      a backend could not issue
        └── RevocationError         a backend could not take a credential away
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from hgate.errors import CredentialError


class CredentialBackendError(CredentialError):
    """Issuing failed; the message names the grant and the cause, never a secret."""


class RevocationError(CredentialBackendError):
    """A credential may still be usable: an operator must look (see docs/credentials.md)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTerms:
    """What every backend needs to know about the session it issues for."""

    session_id: str
    subject: str
    rule: str
    not_before: datetime  # when issuing started (UTC)
    not_after: datetime  # the session's end: max_duration plus grace (UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    """A value that must join the mask set the moment it exists; `kind` names its token.

    `pieces=False` masks it whole only, not also in 12-character pieces: for a value whose
    other parts are printed on purpose (a DSN names the role; its password is a Secret of
    its own)."""

    kind: str
    value: str = field(repr=False)
    pieces: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCredential:
    """One live credential. `handle` is what `revoke` needs (a role name, a directory)."""

    backend: str
    handle: str
    environment: Mapping[str, str] = field(repr=False)
    secrets: tuple[Secret, ...] = field(repr=False)
    record: Mapping[str, Any]  # the transcript's `credential.issued` data


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """What revoking did, for the transcript's `credential.revoked` event."""

    backend: str
    handle: str
    record: Mapping[str, Any]


class CredentialBackend(ABC):
    """Issue one credential for a session and take it away; both raise CredentialBackendError."""

    name: ClassVar[str]

    @abstractmethod
    def issue(self, terms: SessionTerms) -> IssuedCredential:
        """Create the credential. On failure, leave nothing behind (or raise RevocationError)."""

    @abstractmethod
    def revoke(self, issued: IssuedCredential) -> Revocation:
        """Make the credential unusable now; a second call is a no-op."""
