"""The issuers:/identities: sections: what loads, what is refused (with file:line:col), and
the risky-but-valid rules `hgate policy check` warns about."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hgate.errors import PolicyError
from hgate.identity import DEV_ISSUER_URL as IDENTITY_DEV_URL
from hgate.policy.claims import risky_rules
from hgate.policy.identities import DEV_ISSUER_URL
from hgate.policy.loader import load_policy, shipped_policies_dir
from hgate.policy.model import Policy

GITHUB = """version: 1
name: t
issuers:
  - name: github
    url: https://token.actions.githubusercontent.com
    audience: hgate:t
identities:
  - name: agent
    issuer: github
    claims:
{claims}
"""
SAFE_CLAIMS = """      repository_id: "1"
      repository_owner_id: "2"
      ref: refs/heads/main
      event_name: push
      workflow_ref: o/r/.github/workflows/a.yml@refs/heads/main
"""


def load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)


def warnings_of(policy: Policy) -> list[str]:
    return [str(w) for w in risky_rules(policy.issuers, policy.identities)]


def test_a_full_rule_loads_with_typed_matchers_and_grants(tmp_path: Path) -> None:
    text = GITHUB.format(claims=SAFE_CLAIMS + "      run_attempt: 1\n      flag: true\n")
    text += "    grants:\n      max_duration: 20m\n"
    policy = load(tmp_path, text)
    (issuer,) = policy.issuers
    assert (issuer.provider, issuer.algorithms, issuer.audience) == (
        "github",
        ("RS256", "ES256"),
        "hgate:t",
    )
    (rule,) = policy.identities
    assert rule.issuer == "github" and rule.grants.max_duration == 1200.0
    patterns = {m.claim: m.any_of[0].pattern for m in rule.claims}
    assert patterns["run_attempt"] == "1" and patterns["flag"] == "true"
    assert rule.location.endswith(":8:5")


def test_the_dev_issuer_url_is_the_same_constant_on_both_sides() -> None:
    assert DEV_ISSUER_URL == IDENTITY_DEV_URL


@pytest.mark.parametrize(
    ("issuer", "where", "message"),
    [
        (
            "    url: https://x\n    audience: a\n    algorithms: [HS256]\n",
            ":7:18",
            r"'HS256' is never accepted",
        ),
        (
            "    url: https://x\n    audience: a\n    algorithms: [none]\n",
            ":7:18",
            r"'none' is never accepted",
        ),
        (
            "    url: https://x\n    audience: a\n    algorithms: [RS999]\n",
            ":7:18",
            r"unknown algorithm",
        ),
        ("    url: http://issuer.example\n    audience: a\n", ":5:10", r"must start with https://"),
        ("    url: https://x\n", ":4:5", r"missing required key 'audience'"),
        ("    url: https://x\n    audience: '  '\n", ":6:15", r"audience must not be empty"),
        (
            "    url: https://x\n    audience: a\n    jwks_file: j.json\n",
            ":7:16",
            r"only a `development: true` issuer reads a static JWKS",
        ),
        ("    development: true\n    audience: a\n", ":4:5", r"needs `jwks_file`"),
        (
            "    development: true\n    url: https://x\n    audience: a\n    jwks_file: j\n",
            ":6:10",
            r"development issuer's url is always",
        ),
        (
            "    url: urn:hgate:dev-issuer\n    audience: a\n",
            ":5:10",
            r"mark it `development: true`",
        ),
        ("    url: https://x\n    audience: a\n    leeway: 10m\n", ":7:13", r"at most 300s"),
        (
            "    url: https://x\n    audience: a\n    provider: jenkins\n",
            ":7:15",
            r"expected one of github, gitlab, generic",
        ),
        (  # before: accepted, and the token looked for in a variable that cannot exist
            "    url: https://x\n    audience: a\n    token_env: 'ID TOKEN'\n",
            ":7:16",
            r"'ID TOKEN' is not an environment variable name",
        ),
    ],
)
def test_bad_issuers_are_refused_with_their_place(
    tmp_path: Path, issuer: str, where: str, message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        load(tmp_path, f"version: 1\nname: t\nissuers:\n  - name: i\n{issuer}")
    assert str(caught.value.location).endswith(where)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("    issuer: github\n", r"missing required key 'claims'"),
        ("    issuer: github\n    claims: {}\n", r"must match at least one claim"),
        ("    issuer: gitlab\n    claims: {ref: x}\n", r"unknown issuer 'gitlab'"),
        ("    claims: {ref: x}\n", r"missing required key 'issuer'"),
        ("    local: true\n    issuer: github\n", r"takes no issuer or claims"),
        ("    issuer: github\n    claims: {aud: x}\n", r"`aud` is checked by token verification"),
        ("    issuer: github\n    claims: {jti: x}\n", r"`jti` is checked by token verification"),
        ("    issuer: github\n    claims: {ref: []}\n", r"empty list matches nothing"),
        ("    issuer: github\n    claims: {ref: 'regex:(['}\n", r"invalid regular expression"),
        ("    issuer: github\n    claims: {ref: 'glob:'}\n", r"needs a pattern"),
        ("    issuer: github\n    claims: {ref: {a: b}}\n", r"expected a single value"),
        ("    issuer: github\n    claims: {ref: x, ref: y}\n", r"duplicate key 'ref'"),
        (
            "    issuer: github\n    claims: {ref: x}\n    grants: {databse: x}\n",
            r"unknown key 'databse'",
        ),
    ],
)
def test_bad_rules_are_refused(tmp_path: Path, rule: str, message: str) -> None:
    text = (
        "version: 1\nname: t\nissuers:\n  - {name: github, url: 'https://x', audience: a}\n"
        f"identities:\n  - name: r\n{rule}"
    )
    with pytest.raises(PolicyError, match=message):
        load(tmp_path, text)


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    text = GITHUB.format(claims=SAFE_CLAIMS) + "  - name: agent\n    local: true\n"
    with pytest.raises(PolicyError, match=r"duplicate identity rule name 'agent'"):
        load(tmp_path, text)


def test_the_safe_rule_draws_no_warning(tmp_path: Path) -> None:
    assert warnings_of(load(tmp_path, GITHUB.format(claims=SAFE_CLAIMS))) == []


@pytest.mark.parametrize(
    ("replace", "by", "warning"),
    [
        (
            '      repository_id: "1"\n      repository_owner_id: "2"\n',
            "      repository: o/r\n",
            r"names no immutable repository_id or repository_owner_id",
        ),
        (
            '      repository_id: "1"\n      repository_owner_id: "2"\n',
            "      repository_id: 'glob:*'\n      repository: o/r\n",
            r"names no immutable repository_id",
        ),
        ("      event_name: push\n", "", r"`event_name` admits pull_request / pull_request_target"),
        (
            "      event_name: push\n",
            "      event_name: [push, pull_request_target]\n",
            r"code from a fork",
        ),
        ("      event_name: push\n", "      event_name: 'glob:pull*'\n", r"code from a fork"),
        (
            "      workflow_ref: o/r/.github/workflows/a.yml@refs/heads/main\n",
            "      job_workflow_ref: o/shared/.github/workflows/a.yml@refs/heads/main\n",
            r"job_workflow_ref without workflow_ref",
        ),
        ("      ref: refs/heads/main\n", "", r"pins neither `ref` nor `environment`"),
        (
            "      ref: refs/heads/main\n",
            "      sub: 'glob:repo:o/r:*'\n",
            r"matches `sub` with a pattern",
        ),
        ("audience: hgate:t", "audience: https://github.com/acme", r"GitHub's default"),
    ],
)
def test_risky_github_rules_are_warned_about(
    tmp_path: Path, replace: str, by: str, warning: str
) -> None:
    text = GITHUB.format(claims=SAFE_CLAIMS)
    assert replace in text
    found = warnings_of(load(tmp_path, text.replace(replace, by)))
    assert any(re.search(warning, w) for w in found), found


GITLAB = """version: 1
name: t
issuers:
  - {name: gitlab, url: "https://gitlab.com", audience: a}
identities:
  - name: r
    issuer: gitlab
    claims:
      project_id: "1"
      ref_protected: "true"
      pipeline_source: push
"""


def test_risky_gitlab_rules_are_warned_about(tmp_path: Path) -> None:
    assert warnings_of(load(tmp_path, GITLAB)) == []
    weak = GITLAB.replace('      project_id: "1"\n', "      project_path: o/r\n")
    weak = weak.replace('      ref_protected: "true"\n', "      ref_protected: [true, false]\n")
    weak = weak.replace("      pipeline_source: push\n", "")
    found = " | ".join(warnings_of(load(tmp_path, weak)))
    assert "project_id or namespace_id" in found
    assert 'require ref_protected: "true"' in found
    assert "`pipeline_source` admits merge_request_event" in found


@pytest.mark.parametrize(
    ("pin", "warned"),
    [
        ("      ref: main\n", True),  # a protected tag named `main` matches too
        ("      ref: main\n      ref_type: [branch, tag]\n", True),
        ("      ref: main\n      ref_type: branch\n", False),
        ("      ref: main\n      ref_path: refs/heads/main\n", False),
        ("      ref_path: refs/heads/main\n", False),
    ],
)
def test_a_gitlab_ref_without_its_type_is_warned_about(
    tmp_path: Path, pin: str, warned: bool
) -> None:
    """GitLab's `ref` is a bare name (`main`) for a branch or a tag alike; GitHub's is not."""
    text = GITLAB.replace("      pipeline_source: push\n", "      pipeline_source: push\n" + pin)
    found = " | ".join(warnings_of(load(tmp_path, text)))
    assert ("a tag of that name" in found) is warned, found


def test_local_rules_and_development_issuers_are_warned_about(tmp_path: Path) -> None:
    text = (
        "version: 1\nname: t\nissuers:\n  - {name: dev, development: true, jwks_file: j, "
        "audience: a}\nidentities:\n  - {name: me, local: true}\n"
    )
    policy = load(tmp_path, text)
    assert policy.issuers[0].jwks_file == tmp_path / "j"
    found = " | ".join(warnings_of(policy))
    assert "development issuer" in found and "unverified local session" in found


@pytest.mark.parametrize("name", ["github-actions.yaml", "gitlab-ci.yaml"])
def test_shipped_ci_policies_are_safe(name: str) -> None:
    policy = load_policy(shipped_policies_dir() / name)
    assert warnings_of(policy) == []
    assert all(not i.development for i in policy.issuers)
    assert all(not r.local for r in policy.identities)
