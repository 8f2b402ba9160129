"""The `issuers:` and `identities:` sections: whose tokens count, and what each identity gets.

Default deny: a session runs only under a rule that matches a verified token (or, for a
developer, a `local: true` rule, recorded as unverified). Each rule grants on its own;
`grants` caps the session now and will carry database and SSH grants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hgate.endpoints import cleartext_problem
from hgate.identity.oidc import SUPPORTED_ALGORITHMS
from hgate.policy.claims import ClaimMatcher, parse_claim_matchers
from hgate.policy.document import Node
from hgate.policy.grants import DatabaseGrant, SshGrant, parse_database_grant, parse_ssh_grant

Provider = Literal["github", "gitlab", "generic"]
PROVIDERS: tuple[Provider, ...] = ("github", "gitlab", "generic")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
DEV_ISSUER_URL = "urn:hgate:dev-issuer"
ISSUER_KEYS = (
    "name",
    "url",
    "audience",
    "provider",
    "algorithms",
    "leeway",
    "max_token_age",
    "token_env",
    "development",
    "jwks_file",
)
RULE_KEYS = ("name", "issuer", "local", "claims", "grants")
GRANT_KEYS = ("max_duration", "database", "ssh")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerPolicy:
    """An OIDC issuer the policy trusts, and how its tokens are obtained and checked."""

    name: str
    url: str
    audience: str
    provider: Provider = "generic"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: float = 30.0
    max_token_age: float = 1800.0
    token_env: str = "HGATE_ID_TOKEN"
    development: bool = False
    jwks_file: Path | None = None
    location: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Grants:
    """What a matched identity may have for this task; absent means the policy's defaults."""

    max_duration: float | None = None  # caps session.max_duration
    database: DatabaseGrant | None = None  # an ephemeral PostgreSQL role (hgate.creds)
    ssh: SshGrant | None = None  # an ephemeral OpenSSH user certificate (hgate.creds)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.max_duration is not None:
            out["max_duration"] = self.max_duration
        if self.database is not None:
            out["database"] = self.database.to_dict()
        if self.ssh is not None:
            out["ssh"] = self.ssh.to_dict()
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityRule:
    """Who may run a session: a verified issuer's tokens whose claims all match, or `local`."""

    name: str
    issuer: str | None = None
    local: bool = False
    claims: tuple[ClaimMatcher, ...] = ()
    grants: Grants = Grants()
    location: str = ""


def parse_issuers(node: Node | None) -> tuple[IssuerPolicy, ...]:
    if node is None:
        return ()
    issuers: list[IssuerPolicy] = []
    for item in node.items():
        issuer = _issuer(item)
        if any(i.name == issuer.name for i in issuers):
            item.fail(f"duplicate issuer name {issuer.name!r}")
        if any(i.url == issuer.url for i in issuers):
            item.fail(f"issuer url {issuer.url!r} is listed twice")
        issuers.append(issuer)
    return tuple(issuers)


def _issuer(item: Node) -> IssuerPolicy:
    fields = item.mapping(ISSUER_KEYS, required=("name", "audience"))
    development = (dev := fields.get("development")) is not None and dev.boolean()
    url_node = fields.get("url")
    url = url_node.string() if url_node is not None else None
    jwks_node = fields.get("jwks_file")
    jwks_file = None
    if development:
        if url is not None and url != DEV_ISSUER_URL and url_node is not None:
            url_node.fail(f"a development issuer's url is always {DEV_ISSUER_URL!r}")
        if jwks_node is None:
            item.fail("a development issuer needs `jwks_file` (written by hgate dev-issuer init)")
        jwks_file = item.path.parent / Path(jwks_node.string()).expanduser()
        url = DEV_ISSUER_URL
    else:
        if url is None:
            item.fail("missing required key 'url'")
        if jwks_node is not None:
            jwks_node.fail(
                "only a `development: true` issuer reads a static JWKS file; real "
                "issuers publish theirs through OIDC discovery"
            )
        if url.startswith(DEV_ISSUER_URL) and url_node is not None:
            url_node.fail("this is the development issuer: mark it `development: true`")
        if cleartext_problem(url) is not None and url_node is not None:
            url_node.fail("an issuer url must start with https:// (http:// only for loopback)")
    audience = fields["audience"].string()
    if not audience.strip():
        fields["audience"].fail("the audience must not be empty")
    provider = _provider(fields.get("provider"), url)
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    if (alg_node := fields.get("algorithms")) is not None:
        algorithms = tuple(_algorithm(a) for a in alg_node.items())
        if not algorithms:
            alg_node.fail("at least one algorithm is required")
    leeway = fields.get("leeway")
    age = fields.get("max_token_age")
    token_env = fields.get("token_env")
    return IssuerPolicy(
        name=fields["name"].string(),
        url=url,
        audience=audience,
        provider=provider,
        algorithms=algorithms,
        development=development,
        jwks_file=jwks_file,
        leeway=_bounded(leeway, 300.0) if leeway is not None else 30.0,
        max_token_age=age.duration() if age is not None else 1800.0,
        token_env=_variable(token_env) if token_env is not None else "HGATE_ID_TOKEN",
        location=item.location,
    )


def _provider(node: Node | None, url: str) -> Provider:
    if node is not None:
        choice = node.choice(PROVIDERS)
        return "github" if choice == "github" else "gitlab" if choice == "gitlab" else "generic"
    if url == GITHUB_ISSUER:
        return "github"
    if url == GITLAB_ISSUER:
        return "gitlab"
    return "generic"


def _algorithm(node: Node) -> str:
    name = node.string()
    if name.lower() == "none" or name.upper().startswith("HS"):
        node.fail(
            f"algorithm {name!r} is never accepted: only asymmetric signatures "
            "(an HMAC key would be the public key anyone can fetch)"
        )
    if name not in SUPPORTED_ALGORITHMS:
        node.fail(f"unknown algorithm {name!r}; expected one of {', '.join(SUPPORTED_ALGORITHMS)}")
    return name


def _variable(node: Node) -> str:
    """A variable name, or the token would be looked for where none can ever be."""
    name = node.string()
    if not _VARIABLE.match(name):
        node.fail(f"{name!r} is not an environment variable name")
    return name


def _bounded(node: Node, maximum: float) -> float:
    seconds = node.duration()
    if seconds > maximum:
        node.fail(f"must be at most {maximum:g}s")
    return seconds


def parse_identities(
    node: Node | None, issuers: tuple[IssuerPolicy, ...] = (), *, kill_grace: Node | None = None
) -> tuple[IdentityRule, ...]:
    """`kill_grace`: the policy's `session.kill_grace` node when it is written out; a rule's
    `grants.max_duration` shorter than it is refused there (see `_grants`)."""
    if node is None:
        return ()
    rules: list[IdentityRule] = []
    for item in node.items():
        rule = _rule(item, issuers, kill_grace)
        if any(r.name == rule.name for r in rules):
            item.fail(f"duplicate identity rule name {rule.name!r}")
        rules.append(rule)
    return tuple(rules)


def _rule(item: Node, issuers: tuple[IssuerPolicy, ...], kill_grace: Node | None) -> IdentityRule:
    fields = item.mapping(RULE_KEYS, required=("name",))
    local = (local_node := fields.get("local")) is not None and local_node.boolean()
    issuer_node, claims_node = fields.get("issuer"), fields.get("claims")
    grants = _grants(fields.get("grants"), kill_grace)
    name = fields["name"].string()
    if local:
        if issuer_node is not None or claims_node is not None:
            item.fail(
                "a `local: true` rule admits an unverified developer; it takes no issuer or claims"
            )
        return IdentityRule(name=name, local=True, grants=grants, location=item.location)
    if issuer_node is None:
        item.fail("missing required key 'issuer' (or `local: true`)")
    issuer = issuer_node.string()
    if not any(i.name == issuer for i in issuers):
        known = ", ".join(i.name for i in issuers) or "none: add an `issuers:` section"
        issuer_node.fail(f"unknown issuer {issuer!r} (issuers: {known})")
    if claims_node is None:
        item.fail(
            "missing required key 'claims': a rule without claims would admit every "
            "token of the issuer"
        )
    return IdentityRule(
        name=name,
        issuer=issuer,
        claims=parse_claim_matchers(claims_node),
        grants=grants,
        location=item.location,
    )


def _grants(node: Node | None, kill_grace: Node | None = None) -> Grants:
    if node is None:
        return Grants()
    fields = node.mapping(GRANT_KEYS)
    duration = fields.get("max_duration")
    database, ssh = fields.get("database"), fields.get("ssh")
    seconds = duration.duration() if duration is not None else None
    if duration is not None and seconds is not None and kill_grace is not None:
        # As for session.max_duration: a grace longer than the session it ends is a slip,
        # and would let a stopped agent outlive this identity's limit by more than the limit
        grace = kill_grace.duration()
        if seconds < grace:
            duration.fail(
                f"{seconds:g}s is shorter than session.kill_grace ({grace:g}s at "
                f"{kill_grace.location})",
                remedy="session.kill_grace must be at most every identity's max_duration",
            )
    return Grants(
        max_duration=seconds,
        database=parse_database_grant(database) if database is not None else None,
        ssh=parse_ssh_grant(ssh) if ssh is not None else None,
    )
