"""Token sources and the development issuer, without a network."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest

from hgate.errors import ConfigError, IdentityError
from hgate.identity import (
    DEV_ISSUER_URL,
    EnvTokenSource,
    FileTokenSource,
    GitHubTokenSource,
    JwksCache,
    TrustedIssuer,
    create_dev_issuer,
    load_dev_issuer,
    mint_dev_token,
    verify_token,
)
from tests.secrecy import assert_absent

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


def test_github_source_names_the_missing_permission() -> None:
    with pytest.raises(
        IdentityError,
        match=r"ACTIONS_ID_TOKEN_REQUEST_URL and "
        r"ACTIONS_ID_TOKEN_REQUEST_TOKEN not set.*permissions: id-token: write",
    ):
        GitHubTokenSource(env={"GITHUB_ACTIONS": "true"}, audience="a")


def test_env_source_reads_and_reports_what_to_mask_and_hide() -> None:
    raw = EnvTokenSource(env={"CI_ID": f" {TOKEN}\n"}, name="CI_ID").fetch()
    assert raw.value == TOKEN and raw.consumed_env == ("CI_ID",)
    assert raw.secrets == (("CI_ID", TOKEN),)
    assert_absent({"token": TOKEN}, repr=repr(raw))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, r"\$HGATE_ID_TOKEN is not set"),
        ({"HGATE_ID_TOKEN": "  "}, r"is empty"),
        ({"HGATE_ID_TOKEN": "a b"}, r"does not hold a single JWT"),
    ],
)
def test_env_source_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        EnvTokenSource(env=env).fetch()


def test_file_source(tmp_path: Path) -> None:
    path = tmp_path / "token"
    with pytest.raises(IdentityError, match=r"not found"):
        FileTokenSource(path=path).fetch()
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(IdentityError, match=r"does not hold a single JWT"):
        FileTokenSource(path=path).fetch()
    path.write_text(TOKEN + "\n")
    assert FileTokenSource(path=path).fetch().value == TOKEN


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_dev_issuer_tokens_verify_like_real_ones(tmp_path: Path, alg: str) -> None:
    issuer = create_dev_issuer(tmp_path / "dev", algorithm=alg)
    assert stat.S_IMODE((tmp_path / "dev" / "signing-key.pem").stat().st_mode) == 0o600
    assert load_dev_issuer(tmp_path / "dev") == issuer
    job = {
        "sub": "repo:o/r:ref:refs/heads/main",
        "repository_id": "1",
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "stolen",
        "exp": 1,
    }
    token = mint_dev_token(issuer, job, audience="hgate:dev")
    trusted = TrustedIssuer(
        name="dev",
        url=DEV_ISSUER_URL,
        audience="hgate:dev",
        algorithms=(alg,),
        jwks_file=issuer.jwks_file,
        development=True,
    )
    verified = verify_token(token, trusted, keys=JwksCache())
    assert verified.claims["repository_id"] == "1"
    assert verified.claims["iss"] == DEV_ISSUER_URL  # the claims file cannot pose as GitHub
    assert verified.claims["aud"] == "hgate:dev"


def test_dev_issuer_tokens_fail_against_another_dev_key(tmp_path: Path) -> None:
    mine = create_dev_issuer(tmp_path / "mine")
    theirs = create_dev_issuer(tmp_path / "theirs")
    token = mint_dev_token(theirs, {"sub": "x"}, audience="a")
    trusted = TrustedIssuer(
        name="dev", url=DEV_ISSUER_URL, audience="a", jwks_file=mine.jwks_file, development=True
    )
    with pytest.raises(IdentityError, match=r"signature check failed: .* has no key for kid"):
        verify_token(token, trusted, keys=JwksCache())
    forged = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False})},
        (tmp_path / "theirs" / "signing-key.pem").read_bytes(),
        algorithm="ES256",
        headers={"kid": mine.key_id},
    )
    with pytest.raises(IdentityError, match=r"signature check failed: the token's signature"):
        verify_token(forged, trusted, keys=JwksCache())


def test_dev_issuer_refuses_to_overwrite_and_needs_sub(tmp_path: Path) -> None:
    issuer = create_dev_issuer(tmp_path)
    with pytest.raises(ConfigError, match=r"already exists"):
        create_dev_issuer(tmp_path)
    with pytest.raises(IdentityError, match=r"non-empty `sub`"):
        mint_dev_token(issuer, {"repository": "o/r"}, audience="a")
    with pytest.raises(ConfigError, match=r"no development issuer"):
        load_dev_issuer(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"algorithm must be one of"):
        create_dev_issuer(tmp_path / "x", algorithm="HS256")
    assert json.loads(issuer.jwks_file.read_text())["keys"][0]["kid"] == issuer.key_id
