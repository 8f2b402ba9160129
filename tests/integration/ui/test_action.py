"""action.yml, run step by step as the GitHub runner would, against a local OIDC issuer.

The job gets the real environment a runner gives: GITHUB_ACTIONS, the ID-token request
variables pointing at the fixture's token endpoint (which answers GitHub's request shape),
the run coordinates, fresh GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STEP_SUMMARY files per step.
hgate is really pip-installed from the action's own directory into the action's venv.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.fixtures.oidc_server import OWNER_ID, REPOSITORY_ID, WORKFLOW, OidcServer
from tests.integration.ui.ci_sim import ActionRun, ActionRunner
from tests.integration.ui.ui_support import PHI, REPO, clean_env, expect_in, hgate, write_agent
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

CI_POLICY = """\
version: 1
name: ci-test
include: [hipaa-baseline.yaml, commands-baseline.yaml]
issuers:
  - name: github
    url: {issuer}
    provider: github
    audience: hgate:test
identities:
  - name: records-agent
    issuer: github
    claims:
      repository_id: "{repo_id}"
      repository_owner_id: "{owner_id}"
      ref: refs/heads/main
      event_name: [push, workflow_dispatch]
      workflow_ref: {workflow}
session:
  max_duration: 60s
  kill_grace: 1s
"""
BROKEN_POLICY = """\
version: 1
name: broken
identities:
  - name: dev
    local: true
session:
  max_duration: forever
"""
# A task text that would run `touch pwned` if any input were pasted into shell text.
HOSTILE_TASK = 'triage"; touch pwned; echo "$(touch pwned2)'


@pytest.fixture(scope="module")
def jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the scenarios, like one runner's temp: the action's venv is built once."""
    return tmp_path_factory.mktemp("runner")


def job_env(oidc_server: OidcServer, **extra: str) -> dict[str, str]:
    return clean_env(
        **oidc_server.github_env(),
        GITHUB_REPOSITORY="acme/records-api",
        GITHUB_REPOSITORY_ID=REPOSITORY_ID,
        GITHUB_RUN_ID="4242",
        GITHUB_RUN_ATTEMPT="1",
        GITHUB_JOB="agent",
        GITHUB_SHA="a" * 40,
        GITHUB_REF="refs/heads/main",
        GITHUB_EVENT_NAME="push",
        GITHUB_WORKFLOW_REF=WORKFLOW,
        GITHUB_SERVER_URL="https://github.com",
        **extra,
    )


def run_action(jobs_dir: Path, name: str, env: dict[str, str], **inputs: str) -> ActionRun:
    workspace = jobs_dir / name
    workspace.mkdir()
    write_agent(workspace)
    (workspace / "policy.yaml").write_text(inputs.pop("policy_text"))
    runner = ActionRunner(REPO, workspace, env, {"policy": "policy.yaml", **inputs})
    return runner.run()


def test_the_action_runs_masks_summarises_and_uploads(
    jobs_dir: Path, oidc_server: OidcServer
) -> None:
    policy = CI_POLICY.format(
        issuer=oidc_server.issuer, repo_id=REPOSITORY_ID, owner_id=OWNER_ID, workflow=WORKFLOW
    )
    env = job_env(oidc_server, TASK=HOSTILE_TASK, AGENT_EXIT="3")
    result = run_action(jobs_dir, "happy", env, policy_text=policy, run='./agent.sh "$TASK"')
    install, run, summary = result.step("install"), result.step("run"), result.step("summary")
    assert install.outcome == "success", install.stderr[-3000:]
    assert Path(install.outputs["hgate"]).is_file()
    # The run step `exec`s hgate, so its status is the agent's; later steps still run.
    assert (run.outcome, run.returncode) == ("failure", 3), run.stderr[-3000:]
    assert summary.outcome == "success", summary.stderr[-3000:]

    # The agent ran with the hostile task as one argument, and nothing was injected.
    expect_in(run.stdout, f"task: {HOSTILE_TASK}", "the run step's log")
    assert not list((jobs_dir / "happy").glob("pwned*"))

    # Outputs, and the job environment later steps see.
    outputs = result.outputs
    transcript = Path(outputs["transcript"])
    assert outputs["verdict"] == "VALID"
    assert outputs["exit-code"] == "3"
    assert transcript.is_file() and transcript.stem == outputs["session-id"]
    assert result.job_env["HGATE_TRANSCRIPT"] == str(transcript)
    assert result.job_env["HGATE_VERDICT"] == "VALID"

    # The job summary: identity, policy, counts by type, the blocked action, the verdict.
    text = result.summary
    assert "VALID" in text
    assert "repo:acme/records-api:ref:refs/heads/main" in text
    assert "ci-test" in text
    assert "| `SSN` | 1 |" in text and "| `EMAIL` | 1 |" in text and "| `PHONE` | 1 |" in text
    assert "git-push-force" in text and "blocked" in text
    expect_in(
        summary.stdout, "::warning title=hgate blocked::rule git-push-force", "the summary log"
    )

    # Masks: the ID token and the request token were announced to the runner...
    token = oidc_server.issued[-1]
    assert f"::add-mask::{token}\n" in run.stdout, "ID token not announced with ::add-mask::"
    request_announced = f"::add-mask::{oidc_server.request_token}\n" in run.stdout
    assert request_announced, "request token not announced with ::add-mask::"
    # ...the agent never saw the request token, and no secret or PHI went anywhere else.
    expect_in(run.stdout, "request token: [gone]", "the run step's log")
    # ...and no process of the job but hgate (sealed: see test_same_user_reach) holds it
    # in an environment another process of the same user could read: no step shell, no tee.
    holders = sorted(set(re.findall(r"token holder: (\S+)", run.stdout)))
    assert holders == ["hgate"], f"processes holding the request token: {holders}"
    log_without_masks = "".join(
        line for line in run.stdout.splitlines(keepends=True) if not line.startswith("::add-mask::")
    )
    secrets = {**PHI, "id_token": token, "request_token": oidc_server.request_token}
    assert_absent(
        secrets,
        log=log_without_masks + run.stderr + summary.stdout,
        summary=text,
        transcript=transcript.read_text(),
        outputs=repr(outputs),
    )

    # The artifact: upload-artifact pinned to a commit, carrying the run directory.
    (upload,) = [s for s in result.steps if s.uses]
    assert re.fullmatch(r"actions/upload-artifact@[0-9a-f]{40}", upload.uses)
    assert upload.outcome == "success"
    assert Path(upload.with_["path"]) == transcript.parent
    assert upload.with_["name"] == f"hgate-transcript-{outputs['session-id']}"
    assert (transcript.parent / "hgate.pub").is_file()

    # The last step passes the agent's exit code on, so the job fails like the agent did.
    final = result.steps[-1]
    assert (final.outcome, final.returncode) == ("failure", 3)

    key = str(transcript.parent / "hgate.pub")
    verified = hgate("verify", str(transcript), "--key", key, "--expect-run", "4242")
    assert verified.returncode == 0, verified.stdout


def test_a_policy_mistake_is_annotated_on_its_line_and_nothing_runs(
    jobs_dir: Path, oidc_server: OidcServer
) -> None:
    result = run_action(
        jobs_dir, "broken", job_env(oidc_server), policy_text=BROKEN_POLICY, run="./agent.sh"
    )
    run = result.step("run")
    assert run.outputs["exit-code"] == "65"
    annotation = next(line for line in run.stdout.splitlines() if line.startswith("::error"))
    assert annotation.startswith(
        "::error file=policy.yaml,line=7,col=17,title=hgate policy error::"
    )
    assert "task:" not in run.stdout, "the agent started"
    assert result.outputs["verdict"] == "NONE"
    assert "did not start" in result.summary and "policy does not load" in result.summary
    assert "policy.yaml:7:17" in result.summary
    assert [s.outcome for s in result.steps if s.uses] == ["skipped"]
    assert (result.steps[-1].outcome, result.steps[-1].returncode) == ("failure", 65)


def test_inputs_reach_shell_only_through_the_environment() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    steps = action["runs"]["steps"]
    for step in steps:
        assert "${{" not in step.get("run", ""), f"expression in the script of {step.get('id')}"
    used = {m for s in steps for v in s.get("env", {}).values() for m in re.findall(
        r"inputs\.([a-z-]+)", str(v))}  # fmt: skip
    assert {"policy", "run", "identity", "signing-key", "public-key"} <= used
    install = next(s for s in steps if s.get("id") == "install")
    assert 'spec="$GITHUB_ACTION_PATH"' in install["run"]
    assert '-m pip install --quiet --disable-pip-version-check "$spec"' in install["run"]
    assert set(action["outputs"]) >= {"session-id", "transcript", "verdict"}
