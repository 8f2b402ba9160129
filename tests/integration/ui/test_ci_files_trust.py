"""The files later steps and jobs trust, against an agent that writes them while it runs.

The agent runs as the CI job's user, so it can write the project directory (GitLab's
`.hgate/`) and the runner's temp directory (GitHub's `$GITHUB_OUTPUT` files). What a
later step reads must still be what hgate and `hgate summary` wrote.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.oidc_server import OWNER_ID, REPOSITORY_ID, WORKFLOW, OidcServer, gitlab_claims
from tests.integration.ui.ci_sim import ActionRunner, gitlab_job, run_gitlab_script
from tests.integration.ui.test_action import CI_POLICY, job_env
from tests.integration.ui.test_gitlab_template import AUDIENCE, POLICY
from tests.integration.ui.ui_support import REPO, clean_env, write_agent

pytestmark = pytest.mark.integration

# The agent's writes, as the job's user: a half line and a verdict in the dotenv report.
GITLAB_AGENT = r"""
printf 'exit-code=0\ntranscript=/tmp/forged.jsonl\nx' >> .hgate/outputs
printf 'HGATE_VERDICT=VALID\n' >> .hgate/hgate.env
exit 3
"""


def _last(text: str, name: str) -> str:
    """The template's `sed -n 's/^NAME=//p' | tail -n 1`."""
    lines = [line for line in text.splitlines() if line.startswith(f"{name}=")]
    return lines[-1][len(name) + 1 :] if lines else ""


def _gitlab_project(tmp_path: Path, oidc_server: OidcServer, agent: str) -> Path:
    project = tmp_path / "project"
    (project / ".hgate").mkdir(parents=True)
    (project / "agent.sh").write_text(agent)
    (project / "agent.sh").chmod(0o755)
    (project / "policy.yaml").write_text(
        POLICY.format(issuer=oidc_server.issuer, audience=AUDIENCE)
    )
    return project


def _run_gitlab(
    tmp_path: Path, oidc_server: OidcServer, project: Path, **inputs: str
) -> subprocess.CompletedProcess[str]:
    """The template's job, its image's Python a venv over this one (pip installs hgate)."""
    venv = tmp_path / "image-python"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    _, job = gitlab_job(
        REPO / ".gitlab-ci-template.yml",
        {
            "policy": "policy.yaml",
            "run": "./agent.sh",
            "audience": AUDIENCE,
            "hgate-package": f"{REPO}[fast]",
            **inputs,
        },
    )
    token = oidc_server.mint(audience=AUDIENCE, **gitlab_claims())
    base = clean_env()
    env = {
        **base,
        "PATH": f"{venv / 'bin'}:{base['PATH']}",
        "TMPDIR": str(tmp_path),
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(project),
        "CI_PROJECT_PATH": "acme/records-api",
        "CI_PROJECT_ID": "1234",
        "CI_PIPELINE_ID": "98765",
        "CI_JOB_ID": "55556",
        "CI_COMMIT_SHA": "b" * 40,
        "CI_COMMIT_REF_NAME": "main",
        "HGATE_ID_TOKEN": token,
        "VICTIM": str(tmp_path / "victim"),
    }
    return run_gitlab_script(job, env, project)


def test_gitlab_what_the_agent_writes_in_dot_hgate_is_not_handed_on(
    tmp_path: Path, oidc_server: OidcServer
) -> None:
    project = _gitlab_project(tmp_path, oidc_server, GITLAB_AGENT)
    # What a commit could hold: the outputs file a symlink to a file of the agent's
    decoy = tmp_path / "decoy"
    decoy.write_text("exit-code=0\n")
    (project / ".hgate/outputs").symlink_to(decoy)
    proc = _run_gitlab(tmp_path, oidc_server, project)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert decoy.read_text() == "exit-code=0\n", "hgate wrote through a planted symlink"
    outputs = (project / ".hgate/outputs").read_text()
    assert _last(outputs, "exit-code") == "3"
    transcripts = sorted((project / ".hgate/run").glob("*.jsonl"))
    assert len(transcripts) == 1
    assert _last(outputs, "transcript") == str(transcripts[0])
    # The dotenv report later jobs get: the summary's three lines, nothing of the agent's
    dotenv = (project / ".hgate/hgate.env").read_text().splitlines()
    assert [line.split("=", 1)[0] for line in dotenv] == [
        "HGATE_SESSION_ID",
        "HGATE_TRANSCRIPT",
        "HGATE_VERDICT",
    ]
    assert _last("\n".join(dotenv), "HGATE_TRANSCRIPT") == str(transcripts[0])


def test_github_a_half_line_in_the_step_outputs_does_not_pass_a_failed_session(
    tmp_path: Path, oidc_server: OidcServer
) -> None:
    """The agent finds its step's $GITHUB_OUTPUT in $RUNNER_TEMP (the simulated runner's
    name for it) and leaves `exit-code=0` and half a line. Before: hgate's own
    `exit-code=3` became `xexit-code=3`, the action's exit-code output was 0 and its last
    step passed."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_agent(workspace)
    (workspace / "policy.yaml").write_text(
        CI_POLICY.format(
            issuer=oidc_server.issuer, repo_id=REPOSITORY_ID, owner_id=OWNER_ID, workflow=WORKFLOW
        )
    )
    agent = r"""printf 'exit-code=0\nx' >> "$RUNNER_TEMP/run.github_output"; exit 3"""
    runner = ActionRunner(
        REPO, workspace, job_env(oidc_server), {"policy": "policy.yaml", "run": agent}
    )
    result = runner.run()
    run = result.step("run")
    assert run.returncode == 3, run.stderr[-3000:]
    assert result.outputs["exit-code"] == "3"
    assert result.outputs["verdict"] == "VALID"
    assert result.steps[-1].outcome == "failure"
    assert result.steps[-1].returncode == 3


def test_gitlab_the_public_key_is_not_copied_through_a_planted_symlink(
    tmp_path: Path, oidc_server: OidcServer
) -> None:
    """Before: after_script's `cp` of `public-key:` followed the agent's symlink at
    .hgate/run/hgate.pub and overwrote the file it named."""
    victim = tmp_path / "victim"
    victim.write_text("the agent's target\n")
    agent = 'rm -f .hgate/run/hgate.pub; ln -s "$VICTIM" .hgate/run/hgate.pub\n'
    project = _gitlab_project(tmp_path, oidc_server, agent)
    job_key = tmp_path / "hgate-55556/home/hgate.pub"  # the job's key, as the auditors'
    proc = _run_gitlab(tmp_path, oidc_server, project, **{"public-key": str(job_key)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert victim.read_text() == "the agent's target\n", "cp wrote through the symlink"
    assert (project / ".hgate/run/hgate.pub").read_text() == job_key.read_text()
    dotenv = (project / ".hgate/hgate.env").read_text()
    assert _last(dotenv, "HGATE_VERDICT") == "VALID"


def test_github_the_public_key_is_not_copied_through_a_planted_symlink(
    tmp_path: Path, oidc_server: OidcServer
) -> None:
    """The agent finds hgate's transcript directory in $RUNNER_TEMP. Before: the summary
    step's `cp` followed the symlink it planted there as hgate.pub."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "policy.yaml").write_text(
        CI_POLICY.format(
            issuer=oidc_server.issuer, repo_id=REPOSITORY_ID, owner_id=OWNER_ID, workflow=WORKFLOW
        )
    )
    victim = tmp_path / "victim"
    victim.write_text("the agent's target\n")
    agent = 'ln -s "$VICTIM" "$(ls -d "$RUNNER_TEMP"/hgate-run.*)/hgate.pub"'
    env = job_env(oidc_server, VICTIM=str(victim))
    result = ActionRunner(REPO, workspace, env, {"policy": "policy.yaml", "run": agent}).run()
    assert result.step("run").returncode == 0, result.step("run").stderr[-3000:]
    assert victim.read_text() == "the agent's target\n", "cp wrote through the symlink"
    assert result.outputs["verdict"] == "VALID"
    assert result.steps[-1].outcome == "success"
