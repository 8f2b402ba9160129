"""Policy mistakes as a user meets them on the command line: one `hgate: error:` line with
the place, and the documented exit code (65 for the policy, 67 for a `policy test`
fixture), through every command that takes a policy."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hgate.errors import PolicyError
from tests.unit.hgate_cli import ROOT, hgate, one_error_line

EXIT_POLICY, EXIT_CONFIG, EXIT_FIXTURE_FAILED = 65, 67, 1
LOCAL = str(ROOT / "policies" / "local.yaml")


def _with_policy(command: str, policy: Path) -> list[str]:
    return {
        "check": ["policy", "check", str(policy)],
        "run": ["run", "-p", str(policy), "--", "true"],
        "mask": ["mask", "-p", str(policy), "-q"],
        "test": ["policy", "test", str(policy), str(policy)],
        "explain": ["policy", "explain", str(policy), "--claims", LOCAL],
    }[command]


@pytest.mark.parametrize("command", ["check", "run", "mask"])
@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("version: 1\nname: !custom hi\n", ":2:7", "unsupported YAML tag '!custom'"),
        ("version: 1\nname: !!python/object:os.system x\n", ":2:7", "'!!python/object:os.system'"),
        ("version: 1\nname: t\nsession: {<<: {max_duration: 1m}}\n", ":3:11", "merge keys"),
    ],
)
def test_yaml_tags_exit_65_with_file_line_col(
    tmp_path: Path, command: str, text: str, where: str, message: str
) -> None:
    """Before: `hgate: internal error: ConstructorError`, exit 70."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    done = hgate(*_with_policy(command, policy), home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == EXIT_POLICY, done.stderr
    line = one_error_line(done)
    assert line.startswith(f"hgate: error: {policy}{where}: ") and message in line


@pytest.mark.parametrize(
    "session", ["max_duration: 99999999999999h", "kill_grace: .inf", "max_duration: .nan"]
)
def test_a_duration_that_would_crash_run_is_refused_at_load(tmp_path: Path, session: str) -> None:
    """Before: `policy check` said valid and `hgate run` died with OverflowError, exit 70."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nname: t\nidentities: [{{name: d, local: true}}]\nsession:\n  {session}\n"
    )
    for command in ("check", "run"):
        done = hgate(*_with_policy(command, policy), home=tmp_path / "home", cwd=tmp_path)
        assert done.returncode == EXIT_POLICY, done.stderr
        assert one_error_line(done).startswith(f"hgate: error: {policy}:5:")
    assert not (tmp_path / "runs").exists()  # no session started


@pytest.mark.parametrize("command", ["check", "run", "mask", "test", "explain"])
def test_a_directory_as_the_policy_exits_65_like_a_missing_one(
    tmp_path: Path, command: str
) -> None:
    """Before: typer's usage error (exit 2) for a directory, 65 for a missing file."""
    home = tmp_path / "home"
    done = hgate(*_with_policy(command, tmp_path), home=home, cwd=tmp_path)
    assert done.returncode == EXIT_POLICY, done.stderr
    assert one_error_line(done) == (
        f"hgate: error: {tmp_path}: this is a directory, not a policy file"
    )
    missing = hgate(*_with_policy(command, tmp_path / "nope.yaml"), home=home, cwd=tmp_path)
    assert missing.returncode == EXIT_POLICY
    assert "policy file not found" in one_error_line(missing)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "-p", "{p}", "--", "true"],
        ["policy", "check", "{p}"],
        ["policy", "test", "{p}", "{p}"],
        ["mask", "-p", "{p}"],
    ],
)
def test_an_unreadable_policy_is_the_loaders_error_not_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Before: click refused an unreadable file itself (exit 2). As root nothing is
    unreadable, so the permission check and the read are made to fail."""
    from hgate.cli.app import app

    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: t\n")
    real_access, real_open = os.access, os.open

    def no_access(path: object, mode: int, **kwargs: object) -> bool:
        return False if str(path) == str(policy) else real_access(path, mode)  # type: ignore[arg-type]

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(policy):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "access", no_access)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.chdir(tmp_path)
    argv = [str(policy) if a == "{p}" else a for a in args]
    result = CliRunner().invoke(app, argv)
    assert isinstance(result.exception, PolicyError), result.output
    assert str(result.exception) == f"{policy}: cannot read policy file: Permission denied"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"+ Patient SSN {{536-22-1234\n", ":1: a '+' case needs at least one {{value}}"),
        (b"garbage\n", ":1: a case starts with '+ ' (must mask) or '= ' (must keep)"),
        (b"+ ok {{536-22-1234}}\n= caf\xe9\n", ":2:6: fixture is not valid UTF-8"),
        (
            b"+ ok {{SSN:536-22-1234}}\n+ typo {{SNN:536-22-1234}}\n",
            ":2: unknown kind 'SNN' in {{SNN:\u2026}}: did you mean SSN?",
        ),
    ],
)
def test_a_malformed_fixture_is_one_clean_line_exit_67(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """Before: `unclosed.fx:1: line 1: ...` and a codec message, exit 2."""
    fixture = tmp_path / "case.fx"
    fixture.write_bytes(content)
    done = hgate("policy", "test", LOCAL, str(fixture))
    assert done.returncode == EXIT_CONFIG, done.stderr
    line = one_error_line(done)
    assert line.startswith(f"hgate: error: {fixture}{expected}")
    assert "line 1:" not in line and "codec" not in line
    assert "536-22-1234" not in done.stdout + done.stderr


@pytest.mark.parametrize("name", ["nope.fx", "."])
def test_a_missing_fixture_or_a_directory_is_one_clean_line(tmp_path: Path, name: str) -> None:
    """Before: `[Errno 2] No such file or directory: ...` (Python's text)."""
    fixture = tmp_path / name if name != "." else tmp_path
    done = hgate("policy", "test", LOCAL, str(fixture))
    assert done.returncode == EXIT_CONFIG, done.stderr
    line = one_error_line(done)
    assert line.startswith(f"hgate: error: {fixture}: ") and "Errno" not in line


def test_policy_test_exit_1_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    row = re.search(r"^\| 1 \| (.*)$", readme, flags=re.MULTILINE)
    assert row is not None and "policy test" in row.group(1)
    commands = (ROOT / "docs" / "commands.md").read_text()
    assert re.search(r"`hgate policy test.*\*\*1 at least one case failed\*\*", commands)


def _granting_policy(tmp_path: Path) -> Path:
    """Every section `policy check` should summarise, with a synthetic host key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    host_key = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    (tmp_path / "approvals").mkdir()
    policy = tmp_path / "grants.yaml"
    policy.write_text(
        f"""version: 1
name: grants
issuers:
  - {{name: github, url: "https://token.actions.githubusercontent.com", audience: "hgate:x"}}
identities:
  - name: records-agent
    issuer: github
    claims: {{repository_id: "612345678", repository_owner_id: "1", event_name: push}}
    grants:
      max_duration: 20m
      database:
        name: records
        tables:
          - {{table: appointments, privileges: [SELECT]}}
          - {{table: patients, privileges: [SELECT], columns: [id, created_at]}}
      ssh:
        principals: [records-agent]
        hosts: [{{host: reports.internal, host_keys: ["{host_key}"]}}]
        validity: 15m
  - name: developer
    local: true
mask:
  detectors: {{enable: all, disable: [DATE]}}
commands:
  default: block
  rules:
    - {{name: ls, action: allow, program: ls}}
    - {{name: rm, action: block, program: rm}}
    - {{name: kubectl, action: approve, program: kubectl}}
database:
  statements:
    rules: [{{name: read, action: allow, kinds: [select]}}]
  masking: {{columns: [{{column: patients.ssn, kind: SSN}}]}}
approvals:
  channel: {{type: directory, path: approvals}}
  approvers: [{{name: alice, key: "{host_key}"}}]
transcript:
  sinks:
    - {{type: directory, path: out}}
    - {{type: s3, bucket: acme-evidence, prefix: hgate}}
    - {{type: http, url: "https://evidence.example.org/v1/segments"}}
"""
    )
    return policy


def test_policy_check_says_what_each_identity_is_granted(tmp_path: Path) -> None:
    """README: `policy check` prints "what it grants". Before: identities were listed by
    name only, commands, database and approvals not at all, and an s3 or http sink was
    shown as `s3:runs` (a directory sink's default path)."""
    done = hgate("policy", "check", str(_granting_policy(tmp_path)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "records-agent: max_duration 1200s" in out
    assert "database records: SELECT on public.appointments" in out
    assert "SELECT (id, created_at) on public.patients" in out
    assert "ssh as records-agent (principals records-agent) to reports.internal:22" in out
    assert "developer: nothing beyond the session's limits" in out
    assert "disabled DATE" in out
    assert "default block, unparsable block, on violation record; 3 rule(s)" in out
    assert "1 allow, 1 block, 1 approve" in out
    assert "proxy on, statements default block, 1 rule(s), 1 masked column(s)" in out
    assert "directory channel, 1 approver(s)" in out
    assert "directory:out, s3://acme-evidence/hgate, collector https://evidence.example.org" in out
    assert "s3:runs" not in out
    summary = json.loads(
        hgate("policy", "check", str(tmp_path / "grants.yaml"), "--json", cwd=tmp_path).stdout
    )
    assert summary["commands"]["default"] == "block"
    assert summary["database"]["proxy"] is True
    assert summary["approvals"]["channel"] == "directory"
    assert [s["location"] for s in summary["transcript"]["sinks"]] == [
        "out",
        "s3://acme-evidence/hgate",
        "https://evidence.example.org/v1/segments",
    ]
