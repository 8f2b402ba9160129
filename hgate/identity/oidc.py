"""OIDC ID-token verification: the only way a token becomes a `VerifiedIdentity`.

Checks, in order, each failing with one line that names it and never the token text:
well-formed JWT, algorithm on the allow-list (never `none` or HMAC: an HMAC "signed" with
a public key would otherwise verify), signing key from the issuer's JWKS, signature,
`iss` exactly, `aud` present and ours, `exp`/`nbf`/`iat` with a small leeway, and a
maximum age since `iat`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hgate.errors import IdentityError
from hgate.identity.jwks import JwksCache, load_jwks_file

DEFAULT_ALGORITHMS = ("RS256", "ES256")
SUPPORTED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
DEFAULT_LEEWAY = 30.0
DEFAULT_MAX_TOKEN_AGE = 1800.0
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedIssuer:
    """One issuer the caller trusts, and exactly what a token from it must satisfy."""

    name: str
    url: str  # must equal the token's `iss` exactly
    audience: str
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway: float = DEFAULT_LEEWAY
    max_token_age: float = DEFAULT_MAX_TOKEN_AGE
    jwks_file: Path | None = None  # a development issuer's static JWKS; else discovery
    development: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedIdentity:
    """Claims of a token that passed every check; `raw` is the token itself, kept for masking."""

    issuer: TrustedIssuer
    subject: str
    claims: Mapping[str, Any]
    algorithm: str
    key_id: str | None
    raw: str = field(repr=False)

    @property
    def jti(self) -> str | None:
        value = self.claims.get("jti")
        return value if isinstance(value, str) else None

    @property
    def expires_at(self) -> float:
        return float(self.claims["exp"])


def unverified_issuer(raw: str) -> str:
    """The `iss` a token claims, only to pick which trusted issuer verifies it."""
    import jwt  # PyJWT costs ~15 ms: a session without a token never loads it
    from jwt.exceptions import PyJWTError

    try:
        claims = jwt.decode(raw, options={"verify_signature": False})
    except PyJWTError as exc:
        raise IdentityError("token check failed: not a well-formed JWT") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise IdentityError("token check failed: the token has no `iss` claim")
    return issuer


def verify_token(
    raw: str, issuer: TrustedIssuer, *, keys: JwksCache, now: float | None = None
) -> VerifiedIdentity:
    """Verify `raw` against `issuer`; raise IdentityError naming the failed check."""
    import jwt
    from jwt.exceptions import PyJWTError

    try:
        header = jwt.get_unverified_header(raw)
    except PyJWTError as exc:
        raise IdentityError("token check failed: not a well-formed JWT") from exc
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none" or algorithm.startswith("HS"):
        raise IdentityError(
            f"algorithm check failed: {algorithm!r} is never accepted (only asymmetric signatures)"
        )
    if algorithm not in issuer.algorithms:
        raise IdentityError(
            f"algorithm check failed: {algorithm} is not allowed for issuer "
            f"{issuer.name!r} (allowed: {', '.join(issuer.algorithms)})"
        )
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else None
    if issuer.jwks_file is not None:
        key = load_jwks_file(issuer.jwks_file).find(kid)
        if key is None:
            raise IdentityError(
                f"signature check failed: {issuer.jwks_file} has no key for kid {kid!r}"
            )
    else:
        key = keys.signing_key(issuer.url, kid)
    if not key.accepts(algorithm):
        raise IdentityError(f"algorithm check failed: key {kid!r} is not a {algorithm} key")
    claims = _decode(raw, key.jwk.key, algorithm, issuer)
    _check_age(claims, issuer, time.time() if now is None else now)
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise IdentityError("claim check failed: `sub` is empty or not a string")
    return VerifiedIdentity(
        issuer=issuer,
        subject=subject,
        claims=MappingProxyType(claims),
        algorithm=algorithm,
        key_id=kid,
        raw=raw,
    )


def _decode(raw: str, key: Any, algorithm: str, issuer: TrustedIssuer) -> dict[str, Any]:
    import jwt
    from jwt.exceptions import (
        DecodeError,
        ExpiredSignatureError,
        ImmatureSignatureError,
        InvalidAudienceError,
        InvalidIssuedAtError,
        InvalidIssuerError,
        InvalidSignatureError,
        MissingRequiredClaimError,
        PyJWTError,
    )

    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            key,
            algorithms=[algorithm],
            audience=issuer.audience,
            issuer=issuer.url,
            leeway=issuer.leeway,
            options={"require": list(REQUIRED_CLAIMS), "strict_aud": False},
        )
    except InvalidSignatureError as exc:
        raise IdentityError(
            "signature check failed: the token's signature does not verify with the issuer's key"
        ) from exc
    except ExpiredSignatureError as exc:
        raise IdentityError("expiry check failed: the token has expired (`exp`)") from exc
    except ImmatureSignatureError as exc:
        raise IdentityError(
            "validity check failed: the token is not valid yet (`nbf`/`iat` in the future)"
        ) from exc
    except MissingRequiredClaimError as exc:
        raise IdentityError(f"claim check failed: the token has no `{exc.claim}` claim") from exc
    except InvalidAudienceError as exc:
        raise IdentityError(f"audience check failed: `aud` is not {issuer.audience!r}") from exc
    except InvalidIssuerError as exc:
        raise IdentityError(f"issuer check failed: `iss` is not {issuer.url!r}") from exc
    except InvalidIssuedAtError as exc:
        raise IdentityError("claim check failed: `iat` is not a number") from exc
    except DecodeError as exc:
        raise IdentityError("token check failed: not a well-formed JWT") from exc
    except PyJWTError as exc:
        raise IdentityError(f"token check failed: {type(exc).__name__}") from exc
    if claims.get("iss") != issuer.url:  # belt and braces: exact string equality
        raise IdentityError(f"issuer check failed: `iss` is not {issuer.url!r}")
    return claims


def _check_age(claims: Mapping[str, Any], issuer: TrustedIssuer, now: float) -> None:
    """Time checks against the caller's clock too, so a long job's "later" is honoured."""
    if float(claims["exp"]) + issuer.leeway < now:
        raise IdentityError("expiry check failed: the token has expired (`exp`)")
    issued_at = float(claims["iat"])
    if issued_at > now + issuer.leeway:
        raise IdentityError("validity check failed: `iat` is in the future")
    age = now - issued_at
    if age > issuer.max_token_age + issuer.leeway:
        raise IdentityError(
            f"age check failed: the token was issued {age:.0f}s ago, more than "
            f"the {issuer.max_token_age:.0f}s the policy allows"
        )
