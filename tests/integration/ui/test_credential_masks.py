"""`hgate run --github-masks`: each credential hgate issues is announced to the runner with
`::add-mask::` the moment it exists, before the agent can print it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.oidc_server import REPOSITORY_ID, OidcServer
from tests.fixtures.postgres_server import PostgresServer
from tests.integration.creds.conftest import CLINIC_SQL, DATABASE_GRANT
from tests.integration.ui.ui_support import HGATE, clean_env

pytestmark = pytest.mark.integration

AGENT = """#!/usr/bin/env bash
printf '%s' "$PGPASSWORD" > "$LEAK"
echo "password: $PGPASSWORD"
"""


def _github_policy(issuer: str, grants: str) -> str:
    """A database granted to a verified GitHub job (in CI only a verified job gets one)."""
    return (
        "version: 1\nname: creds-test\nissuers:\n"
        f"  - {{name: github, url: '{issuer}', provider: github, audience: a}}\n"
        "identities:\n  - name: agent\n    issuer: github\n"
        f"    claims: {{repository_id: '{REPOSITORY_ID}', event_name: push}}\n"
        f"    grants:\n{grants}session:\n  max_duration: 60s\n  kill_grace: 1s\n"
    )


def test_issued_credentials_are_masked_by_the_runner_too(
    tmp_path: Path, postgres_server: PostgresServer, postgres_db: str, oidc_server: OidcServer
) -> None:
    postgres_server.psql(CLINIC_SQL, postgres_db)
    policy = tmp_path / "policy.yaml"
    policy.write_text(_github_policy(oidc_server.issuer, DATABASE_GRANT.format(db=postgres_db)))
    agent = tmp_path / "agent.sh"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    leak = tmp_path / "leak"
    env = clean_env(
        HGATE_HOME=str(tmp_path / "home"),
        HGATE_ADMIN_DSN=postgres_server.dsn("postgres"),
        LEAK=str(leak),
        **oidc_server.github_env(),
    )
    proc = subprocess.run(
        [*HGATE, "run", "--policy", str(policy), "--out", str(tmp_path / "runs"), "--", str(agent)],
        env=env,
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    password = leak.read_text()
    assert len(password) >= 16
    lines = proc.stdout.decode().splitlines()
    mask_line = f"::add-mask::{password}"
    announced = [i for i, line in enumerate(lines) if line == mask_line]
    printed = [i for i, line in enumerate(lines) if line.startswith("password: ")]
    assert announced, "the issued password was not announced with ::add-mask::"
    assert printed and announced[0] < printed[0], "announced only after the agent printed"
    masked = lines[printed[0]].startswith("password: [PG_PASSWORD:")
    assert masked, "printed unmasked"  # the line itself would show the password
    off = subprocess.run(
        [*HGATE, "run", "--no-github-masks", "--policy", str(policy), "--out",
         str(tmp_path / "runs2"), "--", str(agent)],
        env=env, capture_output=True, timeout=90, check=False,
    )  # fmt: skip
    assert off.returncode == 0, off.stderr.decode(errors="replace")
    announced_anyway = b"::add-mask::" in off.stdout
    assert not announced_anyway, "--no-github-masks still announced secrets"
