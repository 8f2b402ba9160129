"""Suite-wide plugins: real servers behind fixtures (see tests/fixtures/), and shared helpers."""

from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.oidc_server",
    "tests.fixtures.postgres_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.sshd_server",
]


@pytest.fixture
def agent_script(tmp_path: Path) -> Callable[[str], list[str]]:
    """Write a bash agent script in tmp_path; return the argv that runs it."""

    def make(body: str) -> list[str]:
        path = tmp_path / "agent.sh"
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
        return [str(path)]

    return make
