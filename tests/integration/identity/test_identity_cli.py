"""The identity commands as a user runs them: dev-issuer, policy explain, policy check,
and `hgate run` recording a verified identity (or refusing with a GitHub annotation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.oidc_server import OWNER_ID, REPOSITORY_ID, OidcServer, github_claims
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

HGATE = [sys.executable, "-c", "from hgate.cli.app import main; main()"]


def hgate(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB_", "ACTIONS_", "HGATE_", "CI"))
    }
    base.update(env or {})
    return subprocess.run(
        [*HGATE, *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=60, check=False
    )


DEV_POLICY = """version: 1
name: dev
issuers:
  - {{name: dev, development: true, jwks_file: "{jwks}", audience: "hgate:dev"}}
identities:
  - name: records-agent
    issuer: dev
    claims:
      repository_id: "{repo_id}"
      repository_owner_id: "{owner_id}"
      ref: refs/heads/main
      event_name: push
    grants: {{max_duration: 2m}}
"""


@pytest.fixture
def dev_setup(tmp_path: Path) -> tuple[Path, Path]:
    issuer_dir = tmp_path / "issuer"
    done = hgate("dev-issuer", "init", "--dir", str(issuer_dir))
    assert done.returncode == 0, done.stderr
    assert "development: true" in done.stdout
    policy = tmp_path / "dev.yaml"
    policy.write_text(
        DEV_POLICY.format(jwks=issuer_dir / "jwks.json", repo_id=REPOSITORY_ID, owner_id=OWNER_ID)
    )
    return issuer_dir, policy


def mint(issuer_dir: Path, tmp_path: Path, **claims: str) -> str:
    claims_file = tmp_path / "job.json"
    claims_file.write_text(json.dumps(github_claims(**claims)))
    done = hgate(
        "dev-issuer",
        "mint",
        "--dir",
        str(issuer_dir),
        "--claims-file",
        str(claims_file),
        "--audience",
        "hgate:dev",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def run_with_dev_token(
    dev_setup: tuple[Path, Path], tmp_path: Path, *agent: str, in_file: bool = False
) -> tuple[str, subprocess.CompletedProcess[str], str]:
    """`hgate run --identity local` with a development token in $HGATE_ID_TOKEN, or in the
    file $HGATE_ID_TOKEN_FILE names."""
    issuer_dir, policy = dev_setup
    token = mint(issuer_dir, tmp_path)
    env = {"HGATE_ID_TOKEN": token}
    if in_file:
        token_file = tmp_path / "token.jwt"
        token_file.write_text(token)
        env = {"HGATE_ID_TOKEN_FILE": str(token_file)}
    out = tmp_path / "runs"
    done = hgate(
        "run",
        "--policy",
        str(policy),
        "--identity",
        "local",
        "--key-dir",
        str(tmp_path / "keys"),
        "--out",
        str(out),
        "--",
        *agent,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (transcript,) = out.glob("*.jsonl")
    return token, done, transcript.read_text()


def test_run_keeps_the_token_from_the_agent_and_the_log(
    dev_setup: tuple[Path, Path], tmp_path: Path
) -> None:
    token, done, text = run_with_dev_token(
        dev_setup, tmp_path, "sh", "-c", 'echo "token=$HGATE_ID_TOKEN"'
    )
    assert_absent({"token": token}, stdout=done.stdout, stderr=done.stderr, transcript=text)
    assert "token=\n" in done.stdout.replace("\r\n", "\n"), "the token variable is removed"


def test_run_keeps_the_token_file_variable_from_the_agent(
    dev_setup: tuple[Path, Path], tmp_path: Path
) -> None:
    """In file mode the variable hgate read is removed too: it leads to the token."""
    _, done, _ = run_with_dev_token(
        dev_setup, tmp_path, "sh", "-c", 'echo "file=${HGATE_ID_TOKEN_FILE:-unset}"', in_file=True
    )
    assert "verified by the DEVELOPMENT issuer" in done.stderr
    assert "file=unset\n" in done.stdout.replace("\r\n", "\n"), done.stdout


def test_run_records_the_verified_identity(dev_setup: tuple[Path, Path], tmp_path: Path) -> None:
    token, done, text = run_with_dev_token(dev_setup, tmp_path, "true")
    assert "verified by the DEVELOPMENT issuer, rule records-agent" in done.stderr
    assert_absent({"token": token}, stdout=done.stdout, stderr=done.stderr, transcript=text)
    identity = json.loads(text.splitlines()[0])["identity"]
    assert identity["verified"] is True and identity["rule"] == "records-agent"
    assert identity["issuer"] == "urn:hgate:dev-issuer" and identity["jti"]
    assert identity["claims"]["repository_id"] == REPOSITORY_ID
    assert identity["ci"]["run_id"] == "4242"


def test_explain_shows_the_match_and_the_closest_rule(
    dev_setup: tuple[Path, Path], tmp_path: Path
) -> None:
    _, policy = dev_setup
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(github_claims()))
    done = hgate("policy", "explain", str(policy), "--claims", str(claims), "--issuer", "dev")
    assert done.returncode == 0, done.stderr
    assert "MATCH rule 'records-agent'" in done.stdout
    assert f"ok   repository_id = '{REPOSITORY_ID}'" in done.stdout
    claims.write_text(json.dumps(github_claims(event_name="pull_request_target")))
    done = hgate(
        "policy", "explain", str(policy), "--claims", str(claims), "--issuer", "dev", "--json"
    )
    assert done.returncode == 66
    result = json.loads(done.stdout)
    assert result["matched"] is None
    assert "failed on event_name = 'pull_request_target'" in result["explanation"]


def test_check_warns_on_risky_rules(dev_setup: tuple[Path, Path]) -> None:
    _, policy = dev_setup
    done = hgate("policy", "check", str(policy))
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "development issuer" in done.stderr
    assert "job_workflow_ref" not in done.stderr


def test_a_denied_github_job_gets_an_error_annotation(
    oidc_server: OidcServer, tmp_path: Path
) -> None:
    policy = tmp_path / "ci.yaml"
    policy.write_text(
        "version: 1\nname: ci\nissuers:\n"
        f"  - {{name: github, url: '{oidc_server.issuer}', provider: github, audience: a}}\n"
        "identities:\n  - name: agent\n    issuer: github\n"
        f"    claims: {{repository_id: '{REPOSITORY_ID}', event_name: push}}\n"
    )
    oidc_server.token_claims = github_claims(event_name="pull_request_target")
    done = hgate(
        "run",
        "--policy",
        str(policy),
        "--out",
        str(tmp_path / "runs"),
        "--key-dir",
        str(tmp_path / "keys"),
        "--",
        "true",
        env=oidc_server.github_env(),
    )
    assert done.returncode == 66, done.stderr
    assert "closest rule 'agent'" in done.stderr
    assert done.stdout.startswith("::error title=hgate identity refused::")
    assert "failed on event_name = 'pull_request_target'" in done.stdout
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
