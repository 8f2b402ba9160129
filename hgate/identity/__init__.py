"""Token acquisition (GitHub, GitLab, variable, file, development issuer) and OIDC verification.

Nothing here knows the policy: callers pass a `TrustedIssuer` and get back a
`VerifiedIdentity` or an IdentityError that names the failed check.
"""

from hgate.identity.dev_issuer import (
    DEV_ISSUER_URL,
    DevIssuer,
    create_dev_issuer,
    load_dev_issuer,
    mint_dev_token,
)
from hgate.identity.jwks import JwksCache, KeySet, SigningKey, load_jwks_file, parse_jwks
from hgate.identity.oidc import TrustedIssuer, VerifiedIdentity, unverified_issuer, verify_token
from hgate.identity.provider import TokenProvider
from hgate.identity.sources import (
    EnvTokenSource,
    FileTokenSource,
    GitHubTokenSource,
    RawToken,
    TokenSource,
)

__all__ = [
    "DEV_ISSUER_URL",
    "DevIssuer",
    "EnvTokenSource",
    "FileTokenSource",
    "GitHubTokenSource",
    "JwksCache",
    "KeySet",
    "RawToken",
    "SigningKey",
    "TokenProvider",
    "TokenSource",
    "TrustedIssuer",
    "VerifiedIdentity",
    "create_dev_issuer",
    "load_dev_issuer",
    "load_jwks_file",
    "mint_dev_token",
    "parse_jwks",
    "unverified_issuer",
    "verify_token",
]
