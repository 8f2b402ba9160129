"""Issuer signing keys: discovery document -> JWKS, cached with a TTL, following rotation.

An issuer rotates keys by publishing the new one before signing with it, so a token whose
`kid` is not in our cached set triggers exactly one refetch; if the key is still absent
the token is refused. A development issuer has no discovery endpoint: its JWKS is a
static file written by `hgate dev-issuer init`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hgate.errors import IdentityError
from hgate.identity.http import DEFAULT_TIMEOUT, check_url, fetch_json

if TYPE_CHECKING:
    from jwt import PyJWK

DEFAULT_TTL = 600.0
DISCOVERY_PATH = "/.well-known/openid-configuration"


_FAMILIES = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    """One JWKS key and the algorithm the JWKS declared for it, if any."""

    jwk: PyJWK
    declared_algorithm: str | None

    def accepts(self, algorithm: str) -> bool:
        """A key signs with its declared algorithm only; undeclared, with its own family."""
        if self.declared_algorithm is not None:
            return self.declared_algorithm == algorithm
        if self.jwk.key_type == "EC":
            return bool(self.jwk.algorithm_name == algorithm)
        return algorithm.startswith(_FAMILIES.get(str(self.jwk.key_type), ()))


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySet:
    """The usable signature keys of one JWKS, by `kid`."""

    keys: Mapping[str, SigningKey]
    fetched_at: float

    def find(self, kid: str | None) -> SigningKey | None:
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)


def parse_jwks(document: Any, *, what: str, fetched_at: float = 0.0) -> KeySet:
    """Keep the signature keys PyJWT can use; a JWKS with none is an error."""
    from jwt import PyJWK  # PyJWT costs ~15 ms: a session without a token never loads it
    from jwt.exceptions import InvalidKeyError, PyJWKError

    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IdentityError(f"{what}: not a JWKS document (no `keys` list)")
    keys: dict[str, SigningKey] = {}
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(entry)
        except (PyJWKError, InvalidKeyError):
            continue
        declared = entry.get("alg")
        keys[str(entry.get("kid", f"#{index}"))] = SigningKey(
            jwk=key, declared_algorithm=declared if isinstance(declared, str) else None
        )
    if not keys:
        raise IdentityError(f"{what}: the JWKS holds no usable signature key")
    return KeySet(keys=keys, fetched_at=fetched_at)


def load_jwks_file(path: Path) -> KeySet:
    what = f"JWKS file {path}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IdentityError(
            f"{what} not found", remedy="create it with `hgate dev-issuer init`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IdentityError(f"{what} cannot be read as JSON") from exc
    return parse_jwks(document, what=what)


class JwksCache:
    """Signing keys per issuer URL, fetched from its discovery document and cached for `ttl`."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._sets: dict[str, KeySet] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # how many JWKS downloads this cache made (observable in tests)

    def signing_key(self, issuer_url: str, kid: str | None) -> SigningKey:
        """The key for `kid`, refetching the JWKS once if it is not (or no longer) cached."""
        with self._lock:
            cached = self._sets.get(issuer_url)
            fresh = cached is not None and self._clock() - cached.fetched_at < self._ttl
            if cached is not None and fresh and (key := cached.find(kid)) is not None:
                return key
            current = self._fetch(issuer_url)
            self._sets[issuer_url] = current
        key = current.find(kid)
        if key is None:
            shown = f"kid {kid!r}" if kid is not None else "a token without `kid`"
            raise IdentityError(
                f"signature check failed: the issuer's JWKS has no key for {shown}"
                " (even after refetching it)"
            )
        return key

    def _fetch(self, issuer_url: str) -> KeySet:
        discovery = fetch_json(
            issuer_url.rstrip("/") + DISCOVERY_PATH,
            what="OIDC discovery document",
            timeout=self._timeout,
        )
        if not isinstance(discovery, dict):
            raise IdentityError("OIDC discovery document is not a JSON object")
        if discovery.get("issuer") != issuer_url:
            raise IdentityError(
                "OIDC discovery document names a different issuer than the policy trusts"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise IdentityError("OIDC discovery document has no jwks_uri")
        check_url(jwks_uri, "the issuer's jwks_uri")
        document = fetch_json(jwks_uri, what="issuer JWKS", timeout=self._timeout)
        self.fetches += 1
        return parse_jwks(document, what="issuer JWKS", fetched_at=self._clock())
