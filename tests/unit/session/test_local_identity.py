"""`--identity local` against a CI policy: refused, naming each rule that needs CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgate.errors import IdentityError
from hgate.policy.loader import load_policy
from hgate.session.identity import resolve_identity

REPO = Path(__file__).resolve().parents[3]
BOTH = """\
version: 1
name: both
issuers:
  - {name: github, url: "https://token.actions.githubusercontent.com", audience: "hgate:x"}
identities:
  - name: ci-agent
    issuer: github
    claims: {repository_id: "1", ref: refs/heads/main}
    grants: {max_duration: 10m}
  - name: developer
    local: true
"""


def test_a_ci_policy_refuses_the_local_identity_and_says_which_rules() -> None:
    policy = load_policy(REPO / "policies/github-actions.yaml")
    with pytest.raises(IdentityError) as caught:
        resolve_identity(policy, "local", {"USER": "dev"})
    message = str(caught.value)
    assert "grants nothing to the local (unverified) identity" in message
    assert "rule 'records-agent' (" in message and "github-actions.yaml:21:5" in message
    assert "only to a verified token from issuer 'github'" in message


def test_a_local_run_says_what_it_was_not_granted(tmp_path: Path) -> None:
    path = tmp_path / "both.yaml"
    path.write_text(BOTH)
    identity = resolve_identity(load_policy(path), "local", {"USER": "dev"})
    assert identity.rule == "developer"
    assert "not granted without a CI identity: rule 'ci-agent'" in identity.describe()
    assert identity.to_header()["withheld"] == list(identity.withheld)
