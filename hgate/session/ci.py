"""Where this run happens: the CI coordinates that bind a transcript to one job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ci_coordinates(env: Mapping[str, str]) -> dict[str, Any] | None:
    """GitHub Actions or GitLab CI run coordinates from the job's environment, else None."""
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY", "")
        run_id = env.get("GITHUB_RUN_ID", "")
        return {
            "provider": "github",
            "repository": repo,
            "repository_id": env.get("GITHUB_REPOSITORY_ID", ""),
            "run_id": run_id,
            "run_attempt": env.get("GITHUB_RUN_ATTEMPT", ""),
            "workflow": env.get("GITHUB_WORKFLOW_REF", env.get("GITHUB_WORKFLOW", "")),
            "job": env.get("GITHUB_JOB", ""),
            "ref": env.get("GITHUB_REF", ""),
            "sha": env.get("GITHUB_SHA", ""),
            "event": env.get("GITHUB_EVENT_NAME", ""),
            "actor": env.get("GITHUB_ACTOR", ""),
            "url": f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else "",
        }
    if env.get("GITLAB_CI") == "true":
        return {
            "provider": "gitlab",
            "repository": env.get("CI_PROJECT_PATH", ""),
            "repository_id": env.get("CI_PROJECT_ID", ""),
            "run_id": env.get("CI_PIPELINE_ID", ""),
            "run_attempt": "",
            "workflow": env.get("CI_CONFIG_PATH", ""),
            "job": env.get("CI_JOB_ID", ""),
            "ref": env.get("CI_COMMIT_REF_NAME", ""),
            "sha": env.get("CI_COMMIT_SHA", ""),
            "event": env.get("CI_PIPELINE_SOURCE", ""),
            "actor": env.get("GITLAB_USER_LOGIN", ""),
            "url": env.get("CI_JOB_URL", ""),
        }
    return None
