"""The `approvals:` policy section: keys checked at load, mistakes reported with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgate.errors import PolicyError
from hgate.policy.loader import load_policy
from tests.unit.approvals.conftest import person

HEAD = "version: 1\nname: p\nidentities: [{name: dev, local: true}]\n"
# the rules the sections below name (after the body, so the places they expect hold)
RULES = (
    "commands:\n  rules:\n"
    "    - {name: deploy, action: approve, program: deploy}\n"
    "    - {name: r, action: approve, program: r}\n"
    "database:\n  statements:\n    rules: [{name: drop, action: approve, kinds: [ddl]}]\n"
)


def write(tmp_path: Path, body: str) -> Path:
    alice, bob = person("alice"), person("bob", openssh=True)
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "bob.pub").write_text(bob.approver.public_key + " bob@laptop\n")
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + body.replace("ALICE", alice.approver.public_key) + RULES)
    return path


def test_a_full_section_loads(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            """\
approvals:
  channel: {type: directory, path: shared}
  timeout: 5m
  approvers:
    - {name: alice, key: "ALICE"}
    - {name: bob, key_file: keys/bob.pub, identity: bob@laptop}
  rules:
    - {rule: deploy, required: 2, timeout: 30s}
    - {rule: drop, approvers: [bob]}
""",
        )
    )
    section = policy.approvals
    assert section is not None
    assert section.channel.path == str(tmp_path / "shared")
    assert [a.name for a in section.approvers] == ["alice", "bob"]
    assert section.approvers[1].identity == "bob@laptop"
    assert section.approvers[1].key_id.startswith("SHA256:")
    deploy, drop, other = (section.requirement(r) for r in ("deploy", "drop", "other"))
    assert (deploy.required, deploy.timeout) == (2, 30.0)
    assert [a.name for a in section.approvers_for(drop)] == ["bob"]
    assert (other.required, other.timeout) == (1, 300.0)


def test_no_section_means_no_approvals(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")).approvals is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "approvals:\n  channel: {type: directory}\n  approvers: [{name: a, key: ALICE}]\n",
            r"policy.yaml:5:12: approvals.channel: a directory channel needs `path`",
        ),
        (
            "approvals:\n  channel: {type: directory, path: d, url: x}\n"
            "  approvers: [{name: a, key: ALICE}]\n",
            r"approvals.channel.url: `url` does not apply to a directory channel",
        ),
        (
            "approvals:\n  channel: {type: directory, path: d}\n"
            "  approvers: [{name: a, key: ssh-rsa AAAA}]\n",
            r"policy.yaml:6:\d+: .*approver 'a': not an OpenSSH public key",
        ),
        (
            "approvals:\n  channel: {type: directory, path: d}\n"
            "  approvers: [{name: a, key_file: keys/none.pub}]\n",
            r"cannot read approver key file .*none.pub",
        ),
        (
            "approvals:\n  channel: {type: directory, path: d}\n"
            "  approvers: [{name: a, key: ALICE}]\n  rules: [{rule: r, required: 2}]\n",
            r"rule 'r' requires 2 approvals from 1 approvers",
        ),
        (
            "approvals:\n  channel: {type: directory, path: d}\n"
            "  approvers: [{name: a, key: ALICE}]\n  rules: [{rule: r, approvers: [zed]}]\n",
            r"'zed' is not a listed approver",
        ),
        (
            "approvals:\n  channel: {type: directory, path: d}\n"
            "  approvers: [{name: a, key: ALICE}, {name: b, key: ALICE}]\n",
            r"approver 'b' has the same key as another approver",
        ),
        (  # before: accepted; the rule it meant was held with the default requirement
            "approvals:\n  channel: {type: directory, path: d}\n"
            "  approvers: [{name: a, key: ALICE}]\n  rules: [{rule: deplo, required: 1}]\n",
            r"policy.yaml:7:18: approvals.rules\[0\].rule: no commands or database rule is "
            r"named 'deplo'",
        ),
        (
            "approvals:\n  channel: {type: pigeon, path: d}\n"
            "  approvers: [{name: a, key: ALICE}]\n",
            r"expected one of directory, http, terminal, found 'pigeon'",
        ),
    ],
)
def test_mistakes_fail_the_policy_with_their_place(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write(tmp_path, body))
