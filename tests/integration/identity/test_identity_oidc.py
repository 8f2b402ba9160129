"""verify_token against a real discovery/JWKS endpoint on 127.0.0.1: every check fails
closed with one line naming it, and never with token text."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization

from hgate import endpoints
from hgate.errors import IdentityError
from hgate.identity import JwksCache, TrustedIssuer, VerifiedIdentity, verify_token
from hgate.identity.http import fetch_json
from tests.fixtures.oidc_server import DEFAULT_AUDIENCE, OidcServer, forge_token, github_claims
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration


def trusted(server: OidcServer, **overrides: object) -> TrustedIssuer:
    settings: dict[str, object] = {
        "name": "github",
        "url": server.issuer,
        "audience": DEFAULT_AUDIENCE,
    }
    settings.update(overrides)
    return TrustedIssuer(**settings)  # type: ignore[arg-type]


def verify(
    server: OidcServer, token: str, cache: JwksCache | None = None, **overrides: object
) -> VerifiedIdentity:
    return verify_token(token, trusted(server, **overrides), keys=cache or JwksCache(timeout=2))


def refused(server: OidcServer, token: str, message: str, **overrides: object) -> None:
    with pytest.raises(IdentityError, match=message) as caught:
        verify(server, token, None, **overrides)
    assert_absent({"token": token}, error=str(caught.value))
    parts = token.split(".")
    assert len(parts) < 2 or parts[1][:20] not in str(caught.value)


def test_rs256_and_es256_tokens_verify(oidc_server: OidcServer) -> None:
    rsa_token = oidc_server.mint(**github_claims())
    identity = verify(oidc_server, rsa_token)
    assert identity.subject == "repo:acme/records-api:ref:refs/heads/main"
    assert identity.algorithm == "RS256" and identity.jti is not None
    assert_absent({"token": rsa_token}, repr=repr(identity))
    es_kid = next(k for k, v in oidc_server.keys.items() if v.alg == "ES256")
    assert verify(oidc_server, oidc_server.mint(kid=es_kid, sub="s")).algorithm == "ES256"


def test_jwks_is_cached_for_its_ttl(oidc_server: OidcServer) -> None:
    now = [0.0]
    cache = JwksCache(ttl=600, clock=lambda: now[0])
    for _ in range(3):
        verify(oidc_server, oidc_server.mint(sub="s"), cache)
    assert oidc_server.jwks_requests == 1
    now[0] = 601.0
    verify(oidc_server, oidc_server.mint(sub="s"), cache)
    assert oidc_server.jwks_requests == 2


def test_key_rotation_is_followed_with_one_refetch(oidc_server: OidcServer) -> None:
    cache = JwksCache()
    verify(oidc_server, oidc_server.mint(sub="s"), cache)
    old_kid = oidc_server.signing_kid
    oidc_server.rotate("ES256")
    verify(oidc_server, oidc_server.mint(sub="s"), cache)
    assert oidc_server.jwks_requests == 2
    with pytest.raises(IdentityError, match=r"no key for kid '" + old_kid):
        verify(oidc_server, oidc_server.mint(sub="s", kid=old_kid), cache)


def test_unknown_kid_is_refused_after_exactly_one_refetch(oidc_server: OidcServer) -> None:
    cache = JwksCache()
    verify(oidc_server, oidc_server.mint(sub="s"), cache)
    hidden = oidc_server.add_key("RS256", publish=False)
    with pytest.raises(
        IdentityError,
        match=r"signature check failed: .*no key for kid .*"
        r"even after refetching",
    ):
        verify(oidc_server, oidc_server.mint(sub="s", kid=hidden), cache)
    assert oidc_server.jwks_requests == 2


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"lifetime": -120, "age": 300}, r"expiry check failed: the token has expired"),
        ({"nbf": int(time.time()) + 600}, r"validity check failed: the token is not valid yet"),
        ({"iat": int(time.time()) + 600}, r"validity check failed"),
        ({"audience": "someone-else"}, r"audience check failed: `aud` is not 'hgate:test'"),
        ({"audience": None}, r"claim check failed: the token has no `aud` claim"),
        ({"iss": "https://token.actions.githubusercontent.com"}, r"issuer check failed"),
        ({"sub": None}, r"claim check failed: the token has no `sub` claim"),
        ({"exp": None}, r"claim check failed: the token has no `exp` claim"),
        (
            {"age": 3600, "lifetime": 7200},
            r"age check failed: the token was issued 360\ds ago, more than the 1800s",
        ),
    ],
)
def test_claim_checks(oidc_server: OidcServer, claims: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"sub": "s"}
    base.update(claims)
    refused(oidc_server, oidc_server.mint(**base), message)  # type: ignore[arg-type]


def test_a_small_leeway_is_allowed(oidc_server: OidcServer) -> None:
    token = oidc_server.mint(sub="s", lifetime=-5, age=10)
    assert verify(oidc_server, token).subject == "s"
    refused(oidc_server, token, r"expiry check failed", leeway=0.0)


def test_alg_none_is_never_accepted(oidc_server: OidcServer) -> None:
    token = forge_token(oidc_server.claims(sub="s"), alg="none", kid=oidc_server.signing_kid)
    refused(oidc_server, token, r"algorithm check failed: 'none' is never accepted")


def test_hs256_keyed_with_the_public_key_is_refused(oidc_server: OidcServer) -> None:
    key = oidc_server.keys[oidc_server.signing_kid]
    pem = key.public_pem()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    token = forge_token(oidc_server.claims(sub="s"), alg="HS256", secret=pem, kid=key.kid)
    refused(oidc_server, token, r"algorithm check failed: 'HS256' is never accepted")
    refused(oidc_server, token, r"'HS256' is never accepted", algorithms=("HS256", "RS256"))


def test_algorithms_outside_the_allow_list_are_refused(oidc_server: OidcServer) -> None:
    es_kid = next(k for k, v in oidc_server.keys.items() if v.alg == "ES256")
    refused(
        oidc_server,
        oidc_server.mint(kid=es_kid, sub="s"),
        r"ES256 is not allowed for issuer 'github' \(allowed: RS256\)",
        algorithms=("RS256",),
    )


def test_a_token_claiming_another_keys_algorithm_is_refused(oidc_server: OidcServer) -> None:
    rsa_kid = oidc_server.signing_kid
    es = oidc_server.keys[next(k for k, v in oidc_server.keys.items() if v.alg == "ES256")]
    import jwt

    token = jwt.encode(
        oidc_server.claims(sub="s"), es.private, algorithm="ES256", headers={"kid": rsa_kid}
    )
    refused(oidc_server, token, rf"key '{rsa_kid}' is not a ES256 key")


def test_a_tampered_payload_fails_the_signature(oidc_server: OidcServer) -> None:
    header, _, signature = oidc_server.mint(sub="s").split(".")
    other = oidc_server.mint(sub="admin").split(".")[1]
    refused(oidc_server, f"{header}.{other}.{signature}", r"signature check failed")


def test_garbage_is_not_a_jwt(oidc_server: OidcServer) -> None:
    refused(oidc_server, "not-a-token", r"token check failed: not a well-formed JWT")


def test_an_unreachable_issuer_fails_closed(oidc_server: OidcServer) -> None:
    token = oidc_server.mint(sub="s")
    oidc_server.down()
    refused(oidc_server, token, r"OIDC discovery document: cannot connect")
    oidc_server.up()
    assert verify(oidc_server, token).subject == "s"


def test_a_slow_issuer_is_bounded_by_the_timeout(oidc_server: OidcServer) -> None:
    token = oidc_server.mint(sub="s")
    oidc_server.delay = 5.0
    started = time.monotonic()
    with pytest.raises(IdentityError, match=r"OIDC discovery document: no answer within 0.5s"):
        verify_token(token, trusted(oidc_server), keys=JwksCache(timeout=0.5))
    assert time.monotonic() - started < 2.0


def test_an_issuer_error_status_fails_closed(oidc_server: OidcServer) -> None:
    oidc_server.status = 503
    refused(
        oidc_server,
        oidc_server.mint(sub="s"),
        r"discovery document: the server answered "
        r"HTTP 503",
    )


def test_a_discovery_document_for_another_issuer_is_refused(oidc_server: OidcServer) -> None:
    oidc_server.discovery_issuer = "https://evil.example"
    refused(oidc_server, oidc_server.mint(sub="s"), r"names a different issuer")


def test_plain_http_is_only_for_loopback() -> None:
    with pytest.raises(IdentityError, match=r"must be an https:// URL"):
        fetch_json("http://example.com/.well-known/jwks", what="JWKS")
    with pytest.raises(IdentityError, match=r"must be an https:// URL"):
        fetch_json("file:///etc/passwd", what="JWKS")


def test_plain_http_to_loopback_never_goes_through_a_proxy(
    oidc_server: OidcServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`http_proxy` would carry a loopback issuer's cleartext discovery and JWKS to a proxy
    host, which could answer with its own keys: a forged token would then verify."""
    proxy = OidcServer()  # answers every proxied GET with its own discovery and keys
    try:
        proxy.add_key("RS256")
        proxy.discovery_issuer = oidc_server.issuer
        forged = proxy.sign(proxy.claims(iss=oidc_server.issuer, **github_claims()))
        for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.issuer)
        endpoints._opener.cache_clear()
        refused(oidc_server, forged, r"signature check failed")
        assert proxy.requests == [] and oidc_server.jwks_requests == 1
    finally:
        endpoints._opener.cache_clear()
        proxy.down()


def test_public_key_fixture_material_is_generated_not_committed(oidc_server: OidcServer) -> None:
    key = oidc_server.keys[oidc_server.signing_kid]
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
