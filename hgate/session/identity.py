"""Who this session runs as, decided before anything starts; default deny.

The first path knows one identity: `local`, a developer with no CI token, admitted only
when the policy grants it explicitly and marked unverified in the transcript header.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hgate.errors import IdentityError, UsageError
from hgate.policy.model import Policy

IDENTITY_MODES = ("auto", "local")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionIdentity:
    issuer: str
    subject: str
    verified: bool
    rule: str
    claims: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        state = "verified" if self.verified else "UNVERIFIED"
        return f"{self.subject} ({state}, rule {self.rule})"

    def to_header(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "subject": self.subject, "verified": self.verified,
                "rule": self.rule, "claims": self.claims}


def resolve_identity(policy: Policy, mode: str, env: Mapping[str, str]) -> SessionIdentity:
    if mode not in IDENTITY_MODES:
        raise UsageError(f"unknown identity mode {mode!r}",
                         remedy=f"use one of: {', '.join(IDENTITY_MODES)}")
    rule = next((r for r in policy.identities if r.local), None)
    if rule is None:
        raise IdentityError(
            f"policy {policy.name!r} grants nothing to the local (unverified) identity",
            remedy="add an identities entry with `local: true`, or run in CI with an "
            "OIDC token",
        )
    user = env.get("USER") or _login_name()
    return SessionIdentity(issuer="local", subject=f"{user}@{socket.gethostname()}",
                           verified=False, rule=rule.name)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
