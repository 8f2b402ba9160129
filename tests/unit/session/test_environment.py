"""The agent's environment never carries hgate's secrets; removed values are masked."""

from __future__ import annotations

from hgate.policy.model import EnvironmentPolicy
from hgate.session.environment import agent_environment

BASE = {
    "PATH": "/usr/bin",
    "HGATE_SIGNING_KEY": "-----BEGIN PRIVATE KEY----- synthetic",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "synthetic-request-token",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://example.invalid/token",
    "DEPLOY_TOKEN": "synthetic-deploy-token",
    "API_KEY": "synthetic-api-key-value",
    "SHORT": "1",
}


def test_hgate_secrets_are_always_removed() -> None:
    env = agent_environment(BASE, EnvironmentPolicy())
    assert "HGATE_SIGNING_KEY" not in env.variables
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in env.variables
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in env.variables
    assert env.variables["PATH"] == "/usr/bin"
    assert (
        dict(env.secret_values)["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
        == BASE["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    )


def test_policy_globs_remove_and_mask() -> None:
    env = agent_environment(BASE, EnvironmentPolicy(remove=("*_TOKEN",), mask=("API_KEY", "SHORT")))
    assert "DEPLOY_TOKEN" not in env.variables
    assert env.variables["API_KEY"] == BASE["API_KEY"]
    names = [name for name, _ in env.secret_values]
    assert "DEPLOY_TOKEN" in names and "API_KEY" in names
    assert "SHORT" not in names, "one-character values would mask ordinary text"
    assert "DEPLOY_TOKEN" in env.removed


def test_additions_win() -> None:
    env = agent_environment(BASE, EnvironmentPolicy(), additions={"HGATE_SESSION_ID": "s1"})
    assert env.variables["HGATE_SESSION_ID"] == "s1"


def test_key_location_is_removed_but_not_masked() -> None:
    env = agent_environment({"HGATE_HOME": "/home/dev/.config/hgate"}, EnvironmentPolicy())
    assert "HGATE_HOME" not in env.variables
    assert env.secret_values == (), "a path is not a secret; masking it garbles output"


def test_githubs_workflow_command_files_are_not_the_agents() -> None:
    """Through $GITHUB_ENV a step sets BASH_ENV for every later step: agent code would
    run outside hgate, after it, with the job's secrets."""
    files = {name: f"/runner/_temp/_runner_file_commands/{name.lower()}" for name in (
        "GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"
    )}  # fmt: skip
    env = agent_environment({**files, "GITHUB_SHA": "abc"}, EnvironmentPolicy())
    assert env.variables == {"GITHUB_SHA": "abc"}
    assert set(files) <= set(env.removed)
