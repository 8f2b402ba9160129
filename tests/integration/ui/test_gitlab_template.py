"""The GitLab CI/CD component: it parses, declares what GitLab needs, and its script runs.

GitLab's side is simulated as the runner does it: inputs interpolated, the `id_tokens:`
variable holding an ID token for the declared audience (minted by the local OIDC
issuer with GitLab's claims), CI variables set, the script lines in one bash.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.oidc_server import OidcServer, gitlab_claims
from tests.integration.ui.ci_sim import gitlab_job, gitlab_jobs, run_gitlab_script
from tests.integration.ui.ui_support import PHI, REPO, clean_env, expect_in, write_agent
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

AUDIENCE = "hgate:acme/records-api"
POLICY = """\
version: 1
name: gitlab-test
include: [hipaa-baseline.yaml, commands-baseline.yaml]
issuers:
  - name: gitlab
    url: {issuer}
    provider: gitlab
    audience: "{audience}"
identities:
  - name: records-agent
    issuer: gitlab
    claims:
      project_id: "1234"
      namespace_id: "72"
      ref: main
      ref_protected: "true"
      pipeline_source: [push, web]
session:
  max_duration: 60s
  kill_grace: 1s
"""
# Which processes of this job (JOB_MARK: not those of tests running beside it) hold the
# job's id token in an environment this user can read.
HOLDERS = r"""#!/usr/bin/env bash
for environ in /proc/[0-9]*/environ; do
  vars="$(tr '\0' '\n' < "$environ" 2>/dev/null)" || continue
  if grep -qx "JOB_MARK=$JOB_MARK" <<< "$vars" && grep -q '^HGATE_ID_TOKEN=' <<< "$vars"; then
    echo "token holder: $(cat "${environ%/environ}/comm")"
  fi
done
"""


def test_the_template_declares_the_token_inputs_and_artifacts() -> None:
    name, job = gitlab_job(
        REPO / ".gitlab-ci-template.yml",
        {"policy": "p.yaml", "run": "./agent.sh", "audience": AUDIENCE},
    )
    assert name == "hgate-agent"
    assert job["id_tokens"] == {"HGATE_ID_TOKEN": {"aud": AUDIENCE}}
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["paths"] == [".hgate/run/"]
    assert job["artifacts"]["reports"] == {"dotenv": ".hgate/hgate.env"}
    assert all(isinstance(line, str) for line in job["script"])
    assert not any("$[[" in line for line in job["script"]), "inputs interpolated into script"
    assert job["variables"]["HGATE_RUN"] == "./agent.sh"
    # hgate replaces the job's shell: nothing of the script runs after it, the rest of the
    # job is in after_script (its own shell) and a job that needs this one
    assert job["script"][-1].startswith("exec hgate run ")
    assert "--outputs-to" in job["script"][-1]
    assert any(line.startswith("hgate summary ") for line in job["after_script"])
    verdict = gitlab_jobs(
        REPO / ".gitlab-ci-template.yml",
        {"policy": "p.yaml", "run": "./agent.sh", "audience": AUDIENCE},
    )["hgate-agent-verdict"]
    assert verdict["needs"] == [{"job": "hgate-agent", "artifacts": True}]


def test_the_template_script_runs_a_verified_session(
    tmp_path: Path, oidc_server: OidcServer
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_agent(project)
    (project / "holders.sh").write_text(HOLDERS)
    (project / "holders.sh").chmod(0o755)
    (project / "policy.yaml").write_text(
        POLICY.format(issuer=oidc_server.issuer, audience=AUDIENCE)
    )
    # The job image's Python: a venv over this one, so pip installs only hgate itself.
    venv = tmp_path / "image-python"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    _, job = gitlab_job(
        REPO / ".gitlab-ci-template.yml",
        {
            "policy": "policy.yaml",
            "run": './holders.sh; ./agent.sh "$TASK"',
            "audience": AUDIENCE,
            "hgate-package": f"{REPO}[fast]",
        },
    )
    token = oidc_server.mint(audience=job["id_tokens"]["HGATE_ID_TOKEN"]["aud"], **gitlab_claims())
    base = clean_env()
    env = {
        **base,
        "PATH": f"{venv / 'bin'}:{base['PATH']}",
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(project),
        "CI_PROJECT_PATH": "acme/records-api",
        "CI_PROJECT_ID": "1234",
        "CI_PIPELINE_ID": "98765",
        "CI_JOB_ID": "55555",
        "CI_COMMIT_SHA": "b" * 40,
        "CI_COMMIT_REF_NAME": "main",
        "HGATE_ID_TOKEN": token,
        "TASK": "triage",
        "AGENT_EXIT": "0",
        "JOB_MARK": secrets.token_hex(8),
    }
    proc = run_gitlab_script(job, env, project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    expect_in(proc.stdout, "section_start:", "the job log")
    expect_in(proc.stdout, "hgate session ", "the job log")
    expect_in(proc.stdout, ": VALID (", "the job log")
    expect_in(proc.stdout, "project_path:acme/records-api:ref_type:branch:ref:main", "the log")
    expect_in(proc.stdout, "blocked    ", "the job log")
    dotenv = dict(
        line.split("=", 1) for line in (project / ".hgate/hgate.env").read_text().splitlines()
    )
    assert dotenv["HGATE_VERDICT"] == "VALID"
    transcript = Path(dotenv["HGATE_TRANSCRIPT"])
    assert transcript.parent == project / ".hgate/run"  # inside the artifact path
    assert (project / ".hgate/run/hgate.pub").is_file()
    assert not list(project.rglob("hgate.key")), "the signing key is in the project directory"
    assert_absent(
        {**PHI, "id_token": token}, log=log, transcript=transcript.read_text(), dotenv=str(dotenv)
    )
    # Before: the job's bash, which started hgate and waited for it, held the token too.
    holders = sorted(set(re.findall(r"token holder: (\S+)", proc.stdout)))
    assert holders == ["hgate"], f"processes holding the id token: {holders}"
    # The verdict job, with the dotenv report's variables, passes; a bad verdict fails it.
    inputs = {"policy": "policy.yaml", "run": "true", "audience": AUDIENCE}
    verdict_job = gitlab_jobs(REPO / ".gitlab-ci-template.yml", inputs)["hgate-agent-verdict"]
    for verdict, status in (("VALID", 0), ("INVALID", 1), ("MISMATCH", 1), ("", 1)):
        variables = {**base, **dotenv, "HGATE_VERDICT": verdict}
        ran = run_gitlab_script(verdict_job, variables, project)
        assert ran.returncode == status, (verdict, ran.stderr)
