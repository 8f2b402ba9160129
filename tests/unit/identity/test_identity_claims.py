"""Claim matching: exact unless written glob:/regex:, lists are any-of, all claims must
match, the first matching rule wins, and a denial names the closest rule and claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hgate.errors import IdentityError, UsageError
from hgate.policy.claims import IdentityDenied, claim_text, decide, explain_claims
from hgate.policy.loader import load_policy
from hgate.policy.model import Policy

POLICY = """version: 1
name: t
issuers:
  - {name: github, url: "https://token.actions.githubusercontent.com", audience: a}
  - {name: other, url: "https://other.example", audience: a}
identities:
  - name: main
    issuer: github
    claims:
      repository_id: "1"
      ref: refs/heads/main
      event_name: [push, workflow_dispatch]
    grants: {max_duration: 10m}
  - name: releases
    issuer: github
    claims:
      repository_id: "1"
      ref: "glob:refs/tags/v*"
  - name: any-branch
    issuer: github
    claims:
      repository_id: "1"
      ref: "regex:refs/heads/(main|dev)"
  - name: elsewhere
    issuer: other
    claims: {sub: x}
  - {name: dev, local: true}
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def claims(**extra: Any) -> dict[str, Any]:
    return {"repository_id": "1", "ref": "refs/heads/main", "event_name": "push", **extra}


def test_first_matching_rule_wins_and_grants_alone(policy: Policy) -> None:
    decision = decide(policy.identities, "github", claims())
    assert decision.rule is not None and decision.rule.name == "main"
    assert decision.rule.grants.max_duration == 600.0
    assert [r.matched for r in decision.evaluated] == [True, False, True, False]


def test_lists_are_any_of(policy: Policy) -> None:
    rule = decide(policy.identities, "github", claims(event_name="workflow_dispatch")).rule
    assert rule is not None and rule.name == "main"


def test_glob_only_when_written(policy: Policy) -> None:
    tag = claims(ref="refs/tags/v1.2", event_name="release")
    rule = decide(policy.identities, "github", tag).rule
    assert rule is not None and rule.name == "releases"
    literal = decide(policy.identities, "github", claims(ref="glob:refs/tags/v*", event_name="x"))
    assert literal.rule is None


def test_regex_must_match_the_whole_value(policy: Policy) -> None:
    dev = decide(policy.identities, "github", claims(ref="refs/heads/dev", event_name="x"))
    assert dev.rule is not None and dev.rule.name == "any-branch"
    longer = claims(ref="refs/heads/main-evil", event_name="x")
    assert decide(policy.identities, "github", longer).rule is None


def test_rules_of_another_issuer_never_match(policy: Policy) -> None:
    decision = decide(policy.identities, "other", claims(sub="y"))
    assert decision.rule is None
    assert decision.closest is not None and decision.closest.rule.name == "elsewhere"
    assert decide(policy.identities, "other", {"sub": "x"}).rule is not None
    assert decide(policy.identities, "github", {"sub": "x"}).rule is None


def test_a_denial_names_the_closest_rule_and_the_failed_claim(policy: Policy) -> None:
    fork = claims(event_name="pull_request_target", ref="refs/heads/feature")
    decision = decide(policy.identities[:1], "github", fork)
    assert decision.rule is None
    with pytest.raises(
        IdentityDenied,
        match=(
            r"closest rule 'main' \(.*p.yaml:7:5\) failed on ref = 'refs/heads/feature', "
            r"expected 'refs/heads/main' \(and 1 more claim\(s\)\)"
        ),
    ):
        raise IdentityDenied(decision)


def test_a_missing_claim_fails_and_says_so(policy: Policy) -> None:
    decision = decide(policy.identities, "github", {"repository_id": "1"})
    assert decision.rule is None
    assert "ref is absent" in decision.explain_denial()


def test_a_non_string_claim_never_matches_a_string(policy: Policy) -> None:
    decision = decide(policy.identities, "github", claims(ref=["refs/heads/main"]))
    assert decision.rule is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (7, "7"),
        ("x", "x"),
        (None, None),
        (1.5, None),
        ({"a": 1}, None),
    ],
)
def test_claims_are_compared_as_provider_strings(value: Any, text: str | None) -> None:
    assert claim_text(value) == text


def test_explain_picks_the_issuer_from_iss(policy: Policy) -> None:
    decision = explain_claims(
        policy.issuers, policy.identities, claims(iss="https://token.actions.githubusercontent.com")
    )
    assert decision.issuer == "github" and decision.rule is not None


def test_explain_needs_an_issuer(policy: Policy) -> None:
    with pytest.raises(UsageError, match="cannot tell which issuer"):
        explain_claims(policy.issuers, policy.identities, claims())
    with pytest.raises(UsageError, match="no issuer named 'nope'"):
        explain_claims(policy.issuers, policy.identities, claims(), issuer="nope")


def test_explain_refuses_claims_from_an_issuer_the_policy_does_not_trust(policy: Policy) -> None:
    """Before: "cannot tell which issuer these claims are from (add `iss` ...)", exit 2,
    for claims that carry an `iss`: the answer is that no rule admits them (66)."""
    with pytest.raises(IdentityError, match="no issuer of this policy has url") as info:
        explain_claims(policy.issuers, policy.identities, claims(iss="https://elsewhere.example"))
    assert info.value.exit_code == 66
    with pytest.raises(IdentityError, match="this policy trusts no issuer"):
        explain_claims((), policy.identities, claims(iss="https://other.example"))
