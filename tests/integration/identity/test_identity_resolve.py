"""resolve_identity end to end against the local issuer: GitHub's and GitLab's token flows,
the policy's claim rules on the pitfalls of CI OIDC trust, and what the header records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hgate.errors import IdentityError, UsageError
from hgate.identity import JwksCache, create_dev_issuer, mint_dev_token
from hgate.policy.claims import IdentityDenied
from hgate.policy.loader import load_policy
from hgate.policy.model import Policy
from hgate.session.identity import resolve_identity
from tests.fixtures.oidc_server import (
    OWNER_ID,
    REPOSITORY_ID,
    WORKFLOW,
    OidcServer,
    github_claims,
    gitlab_claims,
)
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

GITHUB_POLICY = """version: 1
name: ci
issuers:
  - name: github
    url: {url}
    provider: github
    audience: "hgate:records api"
    max_token_age: 10m
identities:
  - name: records-agent
    issuer: github
    claims:
      repository_id: "{repo_id}"
      repository_owner_id: "{owner_id}"
      ref: refs/heads/main
      event_name: [push, workflow_dispatch]
      workflow_ref: {workflow}
      job_workflow_ref: {workflow}
    grants:
      max_duration: 5m
"""
GITLAB_POLICY = """version: 1
name: gl
issuers:
  - {{name: gitlab, url: "{url}", provider: gitlab, audience: "hgate:gl", token_env: GL_TOKEN}}
identities:
  - name: records-agent
    issuer: gitlab
    claims: {{project_id: "1234", ref_protected: "true", pipeline_source: push}}
"""


def policy_file(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)


@pytest.fixture
def github_policy(tmp_path: Path, oidc_server: OidcServer) -> Policy:
    return policy_file(
        tmp_path,
        GITHUB_POLICY.format(
            url=oidc_server.issuer, repo_id=REPOSITORY_ID, owner_id=OWNER_ID, workflow=WORKFLOW
        ),
    )


def test_github_flow_requests_verifies_and_records(
    oidc_server: OidcServer, github_policy: Policy
) -> None:
    identity = resolve_identity(github_policy, "auto", oidc_server.github_env())
    path, headers = oidc_server.requests[0]
    assert path.endswith("?api-version=2.0&audience=hgate%3Arecords%20api")
    assert headers["Authorization"] == f"bearer {oidc_server.request_token}"
    assert identity.verified and identity.rule == "records-agent"
    assert identity.max_duration(3600.0) == 300.0
    header = identity.to_header()
    assert header["issuer"] == oidc_server.issuer
    assert header["subject"] == "repo:acme/records-api:ref:refs/heads/main"
    assert header["claims"] == {
        "repository_id": REPOSITORY_ID,
        "repository_owner_id": OWNER_ID,
        "ref": "refs/heads/main",
        "event_name": "push",
        "workflow_ref": WORKFLOW,
        "job_workflow_ref": WORKFLOW,
    }
    assert header["jti"] and header["ci"]["run_id"] == "4242"
    assert header["ci"]["sha"] == "a" * 40 and header["grants"] == {"max_duration": 300.0}
    token = oidc_server.issued[0]
    assert_absent({"token": token}, repr=repr(identity), header=str(header))
    assert dict(identity.secret_values) == {
        "OIDC_ID_TOKEN": token,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": oidc_server.request_token,
    }


def test_github_without_id_token_permission(github_policy: Policy) -> None:
    with pytest.raises(IdentityError, match=r"permissions: id-token: write"):
        resolve_identity(github_policy, "auto", {"GITHUB_ACTIONS": "true"})


def test_github_refuses_a_bad_request_token(oidc_server: OidcServer, github_policy: Policy) -> None:
    env = {**oidc_server.github_env(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-token"}
    with pytest.raises(
        IdentityError,
        match=r"GitHub ID token request: the server answered "
        r"HTTP 401",
    ) as caught:
        resolve_identity(github_policy, "github", env)
    assert "wrong-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("claims", "failed"),
    [
        # The same name, re-created by someone else: a new immutable id.
        (
            {"repository_id": "999999999", "repository_owner_id": "5550001"},
            r"failed on repository_id = '999999999', expected '612345678' \(and 1 more",
        ),
        # A reusable workflow called from an unprotected branch of a caller.
        (
            {
                "workflow_ref": "acme/records-api/.github/workflows/agent.yml@refs/heads/feature",
                "ref": "refs/heads/feature",
            },
            r"failed on ref = 'refs/heads/feature'",
        ),
        (
            {"workflow_ref": "evil/fork/.github/workflows/x.yml@refs/heads/main"},
            r"failed on workflow_ref = 'evil/fork/",
        ),
        # A pull request from a fork, run through pull_request_target in the base repository.
        ({"event_name": "pull_request_target"}, r"failed on event_name = 'pull_request_target'"),
        ({"event_name": "pull_request", "ref": "refs/pull/7/merge"}, r"failed on ref"),
    ],
)
def test_pitfalls_are_denied_with_an_explanation(
    oidc_server: OidcServer, github_policy: Policy, claims: dict[str, Any], failed: str
) -> None:
    oidc_server.token_claims = github_claims(**claims)
    with pytest.raises(IdentityDenied, match=r"closest rule 'records-agent' .*" + failed):
        resolve_identity(github_policy, "github", oidc_server.github_env())


def test_a_token_expiring_during_a_long_job_is_requested_again(
    oidc_server: OidcServer, github_policy: Policy
) -> None:
    start = time.time()
    now = [start]
    oidc_server.token_lifetime = 120
    identity = resolve_identity(
        github_policy, "github", oidc_server.github_env(), keys=JwksCache(), clock=lambda: now[0]
    )
    provider = identity.provider
    assert provider is not None
    first, _ = provider.current()
    assert provider.fetches == 1 and first.jti == identity.jti
    now[0] = start + 60  # still valid for more than the margin: the same token
    assert provider.current()[0].jti == first.jti and provider.fetches == 1
    now[0] = start + 100  # within the margin of `exp`: never handed out again
    second, raw = provider.current()
    assert provider.fetches == 2 and second.jti != first.jti
    assert raw.value == oidc_server.issued[1]
    assert ("OIDC_ID_TOKEN", oidc_server.issued[1]) in provider.secrets


def test_a_variable_token_past_its_life_is_refused_not_reused(
    oidc_server: OidcServer, tmp_path: Path
) -> None:
    policy = policy_file(tmp_path, GITLAB_POLICY.format(url=oidc_server.issuer))
    token = oidc_server.mint(audience="hgate:gl", lifetime=60, **gitlab_claims())
    now = [time.time()]
    identity = resolve_identity(
        policy, "gitlab", {"GITLAB_CI": "true", "GL_TOKEN": token}, clock=lambda: now[0]
    )
    assert identity.provider is not None
    now[0] += 3600
    with pytest.raises(IdentityError, match=r"expiry check failed: the token has expired"):
        identity.provider.current()


def test_gitlab_flow_reads_the_id_tokens_variable(oidc_server: OidcServer, tmp_path: Path) -> None:
    policy = policy_file(tmp_path, GITLAB_POLICY.format(url=oidc_server.issuer))
    token = oidc_server.mint(audience="hgate:gl", **gitlab_claims())
    identity = resolve_identity(policy, "auto", {"GITLAB_CI": "true", "GL_TOKEN": token})
    assert identity.rule == "records-agent" and identity.consumed_env == ("GL_TOKEN",)
    assert identity.to_header()["ci"]["pipeline_id"] == "98765"
    with pytest.raises(IdentityError, match=r"\$GL_TOKEN is not set.*id_tokens: \{GL_TOKEN"):
        resolve_identity(policy, "auto", {"GITLAB_CI": "true"})
    unprotected = oidc_server.mint(audience="hgate:gl", **gitlab_claims(ref_protected="false"))
    with pytest.raises(IdentityDenied, match=r"ref_protected = 'false'"):
        resolve_identity(policy, "gitlab", {"GL_TOKEN": unprotected})


def test_a_token_from_an_untrusted_issuer(oidc_server: OidcServer, github_policy: Policy) -> None:
    other = OidcServer()
    try:
        other.add_key()
        token = other.mint(audience="hgate:records api", **github_claims())
        with pytest.raises(
            IdentityError,
            match=r"issuer check failed: policy 'ci' does not "
            r"trust tokens from 'http://127.0.0.1:\d+'",
        ):
            resolve_identity(github_policy, "env", {"HGATE_ID_TOKEN": token})
    finally:
        other.down()


def test_file_mode(oidc_server: OidcServer, github_policy: Policy, tmp_path: Path) -> None:
    path = tmp_path / "token.jwt"
    path.write_text(oidc_server.mint(audience="hgate:records api", **github_claims()))
    identity = resolve_identity(github_policy, "auto", {"HGATE_ID_TOKEN_FILE": str(path)})
    assert identity.rule == "records-agent" and identity.token["source"] == f"file:{path}"


DEV_POLICY = """version: 1
name: dev
issuers:
  - {{name: dev, development: true, jwks_file: "{jwks}", audience: "hgate:dev"}}
identities:
  - name: records-agent
    issuer: dev
    claims: {{repository_id: "{repo_id}", ref: refs/heads/main}}
  - {{name: me, local: true}}
"""


def test_local_mode_with_a_dev_issuer_token_uses_the_same_rules(tmp_path: Path) -> None:
    issuer = create_dev_issuer(tmp_path / "dev")
    policy = policy_file(tmp_path, DEV_POLICY.format(jwks=issuer.jwks_file, repo_id=REPOSITORY_ID))
    token = mint_dev_token(issuer, github_claims(), audience="hgate:dev")
    identity = resolve_identity(policy, "local", {"HGATE_ID_TOKEN": token})
    assert identity.verified and identity.development and identity.rule == "records-agent"
    assert "DEVELOPMENT" in identity.describe()
    assert identity.to_header()["issuer"] == "urn:hgate:dev-issuer"
    for ci in ({"GITHUB_ACTIONS": "true"}, {"GITLAB_CI": "true"}, {"CI": "true"}):
        with pytest.raises(IdentityError, match=r"development issuer is refused inside a CI job"):
            resolve_identity(policy, "local", {"HGATE_ID_TOKEN": token, **ci})
    other = mint_dev_token(issuer, github_claims(repository_id="1"), audience="hgate:dev")
    with pytest.raises(IdentityDenied, match=r"repository_id = '1'"):
        resolve_identity(policy, "local", {"HGATE_ID_TOKEN": other})


def test_a_production_policy_refuses_the_dev_issuer(
    tmp_path: Path, oidc_server: OidcServer, github_policy: Policy
) -> None:
    issuer = create_dev_issuer(tmp_path / "dev")
    token = mint_dev_token(issuer, github_claims(), audience="hgate:records api")
    with pytest.raises(IdentityError, match=r"does not trust tokens from 'urn:hgate:dev-issuer'"):
        resolve_identity(github_policy, "env", {"HGATE_ID_TOKEN": token})
    with pytest.raises(IdentityError, match=r"does not trust tokens from 'urn:hgate:dev-issuer'"):
        resolve_identity(github_policy, "local", {"HGATE_ID_TOKEN": token})


def test_local_unverified_only_where_granted(tmp_path: Path, github_policy: Policy) -> None:
    issuer = create_dev_issuer(tmp_path / "dev")
    policy = policy_file(tmp_path, DEV_POLICY.format(jwks=issuer.jwks_file, repo_id="1"))
    identity = resolve_identity(policy, "local", {"USER": "alice"})
    assert not identity.verified and identity.rule == "me"
    assert identity.to_header()["verified"] is False
    with pytest.raises(IdentityError, match=r"grants nothing to the local \(unverified\)"):
        resolve_identity(github_policy, "local", {})
    with pytest.raises(UsageError, match=r"unknown identity mode 'root'"):
        resolve_identity(github_policy, "root", {})


LOCAL_WITH_GRANTS = """version: 1
name: local-grants
identities:
  - name: developer
    local: true
    grants:
      database: {name: clinic, tables: [{table: patients, privileges: [SELECT]}]}
"""


def test_an_unverified_local_identity_gets_no_resource_inside_ci(tmp_path: Path) -> None:
    """A development issuer's signed token is refused in CI; an unsigned local identity
    with a database or SSH grant must be too, or a CI job without its OIDC token (or one
    whose token no rule admits, under `auto`) would hold the developer's access."""
    policy = policy_file(tmp_path, LOCAL_WITH_GRANTS)
    assert resolve_identity(policy, "local", {"USER": "alice"}).grants.database is not None
    for ci in ({"GITHUB_ACTIONS": "true"}, {"GITLAB_CI": "true"}, {"CI": "true"}):
        with pytest.raises(IdentityError, match=r"refused inside a CI job: rule 'developer'"):
            resolve_identity(policy, "local", {"USER": "alice", **ci})
        with pytest.raises(IdentityError, match=r"refused inside a CI job"):
            resolve_identity(policy, "auto", {"USER": "alice", **ci})
    masking_only = policy_file(tmp_path, LOCAL_WITH_GRANTS.split("    grants:")[0])
    identity = resolve_identity(masking_only, "local", {"USER": "alice", "CI": "true"})
    assert not identity.verified and identity.rule == "developer"  # masks, holds nothing
