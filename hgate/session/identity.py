"""Who this session runs as, decided before anything starts; default deny.

Acquire the CI job's token (`--identity`, or chosen from the environment), verify it
against the issuer the policy trusts, and match its claims against the policy's rules:
the first matching rule grants. Without a token, a developer runs as `local` only where
the policy says `local: true`, and the header records `verified: false`.
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hgate.errors import IdentityError, UsageError
from hgate.identity import (
    EnvTokenSource,
    FileTokenSource,
    GitHubTokenSource,
    JwksCache,
    RawToken,
    TokenProvider,
    TokenSource,
    TrustedIssuer,
    VerifiedIdentity,
    unverified_issuer,
    verify_token,
)
from hgate.identity.sources import DEFAULT_TOKEN_ENV, TOKEN_FILE_ENV
from hgate.policy.claims import IdentityDenied, decide
from hgate.policy.identities import Grants, IssuerPolicy
from hgate.policy.model import Policy

IDENTITY_MODES = ("auto", "github", "gitlab", "env", "file", "local")
# Verified claims that say which job this is: recorded so a transcript is bound to one run.
COORDINATE_CLAIMS = (
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "workflow_ref",
    "job_workflow_ref",
    "run_id",
    "run_number",
    "run_attempt",
    "event_name",
    "ref",
    "sha",
    "environment",
    "actor",
    "runner_environment",
    "project_path",
    "project_id",
    "namespace_id",
    "pipeline_id",
    "pipeline_source",
    "job_id",
    "ref_protected",
    "user_login",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionIdentity:
    """The decided identity. `secret_values` (repr-hidden) must join the session's mask set."""

    issuer: str
    subject: str
    verified: bool
    rule: str
    claims: dict[str, Any] = field(default_factory=dict)  # the claims the rule used
    grants: Grants = field(default_factory=Grants)
    issuer_name: str = ""
    development: bool = False
    jti: str | None = None
    ci: dict[str, Any] = field(default_factory=dict)
    token: dict[str, Any] = field(default_factory=dict)  # source, alg, kid, iat, exp
    consumed_env: tuple[str, ...] = ()  # variables the agent must not see
    withheld: tuple[str, ...] = ()  # local runs: the CI-only rules, and what they would grant
    secret_values: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    provider: TokenProvider | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        state = "verified" if self.verified else "UNVERIFIED"
        if self.development:
            state = "verified by the DEVELOPMENT issuer"
        text = f"{self.subject} ({state}, rule {self.rule})"
        if self.withheld:
            text += "; not granted without a CI identity: " + "; ".join(self.withheld)
        return text

    def max_duration(self, policy_limit: float) -> float:
        """The session limit: the policy's, capped by the rule's grant."""
        cap = self.grants.max_duration
        return policy_limit if cap is None else min(policy_limit, cap)

    def kill_grace(self, *, policy_grace: float, policy_limit: float) -> float:
        """The grace between SIGTERM and SIGKILL, at most this identity's session limit: the
        default grace is cut to a shorter grant (a written one longer is a policy error)."""
        return min(policy_grace, self.max_duration(policy_limit))

    def to_header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "issuer": self.issuer,
            "subject": self.subject,
            "verified": self.verified,
            "rule": self.rule,
            "claims": self.claims,
            "grants": self.grants.to_dict(),
        }
        if self.withheld:
            header["withheld"] = list(self.withheld)
        if self.verified:
            header.update(
                {
                    "issuer_name": self.issuer_name,
                    "development": self.development,
                    "jti": self.jti,
                    "ci": self.ci,
                    "token": self.token,
                }
            )
        return header


def resolve_identity(
    policy: Policy,
    mode: str,
    env: Mapping[str, str],
    *,
    keys: JwksCache | None = None,
    clock: Callable[[], float] = time.time,
) -> SessionIdentity:
    """Acquire, verify and match; raise IdentityError (IdentityDenied for no rule)."""
    if mode not in IDENTITY_MODES:
        raise UsageError(
            f"unknown identity mode {mode!r}", remedy=f"use one of: {', '.join(IDENTITY_MODES)}"
        )
    if mode == "auto":
        mode = _auto_mode(policy, env)
    if mode == "local" and not (env.get(DEFAULT_TOKEN_ENV) or env.get(TOKEN_FILE_ENV)):
        return _local(policy, env)
    source, candidates = _source(policy, mode, env)
    cache = keys if keys is not None else JwksCache()

    def verify(raw: RawToken) -> VerifiedIdentity:
        issuer = _trusted(policy, candidates, unverified_issuer(raw.value), env)
        return verify_token(raw.value, issuer, keys=cache, now=clock())

    provider = TokenProvider(source, verify, clock=clock)
    verified, raw = provider.current()
    decision = decide(policy.identities, verified.issuer.name, verified.claims)
    if decision.rule is None:
        raise IdentityDenied(decision)
    rule = decision.rule
    claims = verified.claims
    return SessionIdentity(
        issuer=verified.issuer.url,
        subject=verified.subject,
        verified=True,
        rule=rule.name,
        claims={m.claim: claims.get(m.claim) for m in rule.claims},
        grants=rule.grants,
        issuer_name=verified.issuer.name,
        development=verified.issuer.development,
        jti=verified.jti,
        ci={k: claims[k] for k in COORDINATE_CLAIMS if k in claims},
        token={
            "source": raw.source,
            "alg": verified.algorithm,
            "kid": verified.key_id,
            "iat": claims.get("iat"),
            "exp": claims.get("exp"),
        },
        consumed_env=raw.consumed_env,
        secret_values=raw.secrets,
        provider=provider,
    )


def in_ci(env: Mapping[str, str]) -> bool:
    """GitHub Actions, GitLab CI, or any CI system that sets `CI` (most do)."""
    return (
        env.get("GITHUB_ACTIONS") == "true"
        or env.get("GITLAB_CI") == "true"
        or env.get("CI", "").lower() in ("true", "1", "yes")
    )


def _auto_mode(policy: Policy, env: Mapping[str, str]) -> str:
    providers = {i.provider for i in policy.issuers}
    if env.get("GITHUB_ACTIONS") == "true" and "github" in providers:
        return "github"
    if env.get("GITLAB_CI") == "true" and "gitlab" in providers:
        return "gitlab"
    if env.get(DEFAULT_TOKEN_ENV):
        return "env"
    if env.get(TOKEN_FILE_ENV):
        return "file"
    return "local"


def _source(
    policy: Policy, mode: str, env: Mapping[str, str]
) -> tuple[TokenSource, tuple[IssuerPolicy, ...]]:
    if mode in ("github", "gitlab"):
        issuers = tuple(i for i in policy.issuers if i.provider == mode)
        if len(issuers) != 1:
            raise IdentityError(
                f"--identity {mode} needs exactly one issuer with provider "
                f"{mode} in policy {policy.name!r}, found {len(issuers)}"
            )
        issuer = issuers[0]
        if mode == "github":
            return GitHubTokenSource(env=env, audience=issuer.audience), issuers
        remedy = (
            f"declare it in .gitlab-ci.yml: id_tokens: {{{issuer.token_env}: "
            f"{{aud: {issuer.audience}}}}}"
        )
        return EnvTokenSource(env=env, name=issuer.token_env, remedy=remedy), issuers
    candidates = policy.issuers
    if mode == "local":
        candidates = tuple(i for i in policy.issuers if i.development)
    if mode == "file" or (mode == "local" and not env.get(DEFAULT_TOKEN_ENV)):
        path = env.get(TOKEN_FILE_ENV)
        if not path:
            raise IdentityError(f"--identity file needs ${TOKEN_FILE_ENV} (the token's path)")
        return FileTokenSource(path=Path(path)), candidates
    return EnvTokenSource(env=env, name=DEFAULT_TOKEN_ENV), candidates


def _trusted(
    policy: Policy, candidates: tuple[IssuerPolicy, ...], iss: str, env: Mapping[str, str]
) -> TrustedIssuer:
    issuer = next((i for i in candidates if i.url == iss), None)
    if issuer is None:
        shown = iss if len(iss) <= 120 and iss.isprintable() else iss[:40].encode().hex()
        raise IdentityError(
            f"issuer check failed: policy {policy.name!r} does not trust tokens from {shown!r} here"
        )
    if issuer.development and in_ci(env):
        raise IdentityError(
            "issuer check failed: the development issuer is refused inside a CI job",
            remedy="use the job's own OIDC token",
        )
    return TrustedIssuer(
        name=issuer.name,
        url=issuer.url,
        audience=issuer.audience,
        algorithms=issuer.algorithms,
        leeway=issuer.leeway,
        max_token_age=issuer.max_token_age,
        jwks_file=issuer.jwks_file,
        development=issuer.development,
    )


def _local(policy: Policy, env: Mapping[str, str]) -> SessionIdentity:
    rule = next((r for r in policy.identities if r.local), None)
    needs_ci = ci_only_grants(policy)
    if rule is None:
        which = f": {'; '.join(needs_ci)}" if needs_ci else ""
        raise IdentityError(
            f"policy {policy.name!r} grants nothing to the local (unverified) identity{which}",
            remedy="add an identities entry with `local: true`, run in CI with an OIDC token, "
            f"or give a development issuer's token in ${DEFAULT_TOKEN_ENV}",
        )
    granted = [
        f"database {rule.grants.database.name}" if rule.grants.database else "",
        f"ssh as {rule.grants.ssh.user}" if rule.grants.ssh else "",
    ]
    if in_ci(env) and any(granted):  # in CI a resource needs the job to prove who it is
        raise IdentityError(
            f"the local (unverified) identity is refused inside a CI job: rule {rule.name!r} "
            f"({rule.location}) grants {', '.join(g for g in granted if g)}",
            remedy="give the job its OIDC token (GitHub: permissions: id-token: write; "
            "GitLab: id_tokens) and a rule that matches it",
        )
    user = env.get("USER") or _login_name()
    return SessionIdentity(
        issuer="local",
        subject=f"{user}@{socket.gethostname()}",
        verified=False,
        rule=rule.name,
        grants=rule.grants,
        withheld=tuple(needs_ci),
    )


def ci_only_grants(policy: Policy) -> list[str]:
    """Each rule that only a verified CI token can match, with what it would grant: what a
    local reproduction of a CI run does not get, said by name."""
    described = []
    for rule in policy.identities:
        if rule.local:
            continue
        granted = [
            f"database {rule.grants.database.name}" if rule.grants.database else "",
            f"ssh as {rule.grants.ssh.user}" if rule.grants.ssh else "",
            f"max_duration {rule.grants.max_duration:g}s" if rule.grants.max_duration else "",
        ]
        what = ", ".join(g for g in granted if g) or "the policy's defaults"
        described.append(
            f"rule {rule.name!r} ({rule.location}) grants {what} only to a verified token "
            f"from issuer {rule.issuer!r}"
        )
    return described


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
