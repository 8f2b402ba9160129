"""Ephemeral credentials: one per grant, living no longer than the session.

Backends (`hgate.creds.postgres`, `hgate.creds.ssh`) are imported lazily by the
session, so `hgate run -- true` does not load psycopg.
"""

from hgate.creds.interface import (
    CredentialBackend,
    CredentialBackendError,
    IssuedCredential,
    Revocation,
    RevocationError,
    Secret,
    SessionTerms,
)

__all__ = [
    "CredentialBackend",
    "CredentialBackendError",
    "IssuedCredential",
    "Revocation",
    "RevocationError",
    "Secret",
    "SessionTerms",
]
