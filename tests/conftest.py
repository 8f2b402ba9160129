"""Suite-wide plugins: real servers behind fixtures (see tests/fixtures/), and shared helpers."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.oidc_server",
    "tests.fixtures.postgres_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.sshd_server",
]

CI_PREFIXES = ("GITHUB_", "GITLAB_", "ACTIONS_", "RUNNER_", "CI_")


def pytest_configure(config: pytest.Config) -> None:
    """The suite runs as on a developer's machine wherever it runs: a CI host's variables
    (`CI=true`, `GITHUB_ACTIONS`, ...) change what hgate allows (no unverified identity
    with grants, no development issuer) and where it writes; tests that mean a CI set
    those variables themselves."""
    for name in list(os.environ):
        if name == "CI" or name.startswith(CI_PREFIXES):
            del os.environ[name]


@pytest.fixture
def agent_script(tmp_path: Path) -> Callable[[str], list[str]]:
    """Write a bash agent script in tmp_path; return the argv that runs it."""

    def make(body: str) -> list[str]:
        path = tmp_path / "agent.sh"
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
        return [str(path)]

    return make
