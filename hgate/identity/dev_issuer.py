"""A local development issuer, so a developer can exercise the *same* claim rules as CI.

`hgate dev-issuer init` writes a key pair and a static JWKS; `mint` signs a token with the
claims of a given CI job (`--claims-file`). Its tokens are verified exactly like real ones,
against the JWKS file, and carry `iss: urn:hgate:dev-issuer` (one name; each developer's
own JWKS file says which keys count) so no transcript can mistake them for a CI identity.
Only a policy with an issuer marked `development: true` accepts them, never inside CI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hgate.errors import ConfigError, IdentityError

DEV_ISSUER_URL = "urn:hgate:dev-issuer"
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
INFO_FILE = "issuer.json"
DEV_ALGORITHMS = ("ES256", "RS256")
RESERVED_CLAIMS = ("iss", "aud", "exp", "iat", "nbf", "jti")


@dataclass(frozen=True, slots=True, kw_only=True)
class DevIssuer:
    """Where a development issuer lives and what its tokens say they are."""

    directory: Path
    issuer: str
    key_id: str
    algorithm: str

    @property
    def jwks_file(self) -> Path:
        return self.directory / JWKS_FILE


def create_dev_issuer(directory: Path, *, algorithm: str = "ES256") -> DevIssuer:
    """A fresh key pair (private key 0600) and its JWKS; refuses to overwrite one."""
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # PyJWT costs ~15 ms: only here

    if algorithm not in DEV_ALGORITHMS:
        raise ConfigError(f"dev issuer algorithm must be one of {', '.join(DEV_ALGORITHMS)}")
    if (directory / KEY_FILE).exists():
        raise ConfigError(
            f"{directory / KEY_FILE} already exists",
            remedy="use it, or remove the directory to start over",
        )
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    info = DevIssuer(directory=directory, issuer=DEV_ISSUER_URL, key_id=kid, algorithm=algorithm)
    (directory / JWKS_FILE).write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    (directory / INFO_FILE).write_text(
        json.dumps({"issuer": info.issuer, "kid": kid, "algorithm": algorithm}, indent=2) + "\n"
    )
    return info


def load_dev_issuer(directory: Path) -> DevIssuer:
    try:
        info = json.loads((directory / INFO_FILE).read_text(encoding="utf-8"))
        return DevIssuer(
            directory=directory,
            issuer=str(info["issuer"]),
            key_id=str(info["kid"]),
            algorithm=str(info["algorithm"]),
        )
    except FileNotFoundError:
        raise ConfigError(
            f"no development issuer in {directory}",
            remedy="create one with `hgate dev-issuer init`",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{directory / INFO_FILE} is not a dev issuer description") from exc


def mint_dev_token(
    issuer: DevIssuer,
    claims: Mapping[str, Any],
    *,
    audience: str,
    lifetime: float = 600.0,
    now: float | None = None,
) -> str:
    """Sign `claims` (a CI job's, typically) as this issuer; time and identity claims are ours."""
    import jwt

    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdentityError("the claims must include a non-empty `sub`")
    issued = int(time.time() if now is None else now)
    payload = {k: v for k, v in claims.items() if k not in RESERVED_CLAIMS}
    payload.update(
        {
            "iss": issuer.issuer,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(lifetime),
            "jti": secrets.token_hex(16),
        }
    )
    try:
        key = serialization.load_pem_private_key((issuer.directory / KEY_FILE).read_bytes(), None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load {issuer.directory / KEY_FILE}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError(f"{issuer.directory / KEY_FILE} is not an EC or RSA private key")
    return jwt.encode(
        payload,
        key,
        algorithm=issuer.algorithm,
        headers={"kid": issuer.key_id, "typ": "JWT"},
    )
