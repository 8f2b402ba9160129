"""The session's wiring: issued PG* variables in, the agent's PG* pointing at the proxy."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from hgate.errors import ConfigError
from hgate.mask import Masker
from hgate.policy.database import DatabasePolicy
from hgate.proxy import Upstream
from hgate.session.database_proxy import open_database_proxy, upstream_from_environment
from tests.fixtures.postgres_server import PostgresServer

pytestmark = pytest.mark.integration


def _issued(up: Upstream) -> dict[str, str]:
    return {
        "PGHOST": up.host,
        "PGPORT": str(up.port),
        "PGUSER": up.user,
        "PGPASSWORD": up.password,
        "PGDATABASE": up.dbname,
        "PGSSLMODE": "disable",
    }


def test_agent_reaches_the_database_only_through_the_proxy(
    session_role: Upstream, postgres_server: PostgresServer
) -> None:
    masker = Masker(key=b"w" * 32)
    events: list[dict[str, Any]] = []
    proxy = open_database_proxy(
        DatabasePolicy(proxy=True, default="allow"),
        _issued(session_role),
        masker=masker,
        content_masker=lambda: Masker(key=b"w" * 32),
        append=lambda kind, data: events.append({"type": kind, **data}),
    )
    assert proxy is not None
    try:
        env = proxy.environment()
        assert env["PGPORT"] != str(session_role.port)
        assert env["PGPASSWORD"] != session_role.password
        assert session_role.password not in "".join(env.values())
        assert masker.mask(f"pw {env['PGPASSWORD']}").findings  # issued secret is masked
        agent_env = {**os.environ, **env}
        out = subprocess.run(
            [str(postgres_server.bin_dir / "psql"), "-X", "-A", "-t", "-c", "SELECT current_user"],
            capture_output=True,
            text=True,
            env=agent_env,
            timeout=60,
        )
        assert out.stdout.strip() == session_role.user, out.stderr
        proxy.flush()  # allowed statements are batched per flush window
        assert events and events[-1]["type"] == "sql"
        record = events[-1]["statements"][-1]
        assert record["verdict"] == "allow" and record["statement"] == "SELECT current_user"
    finally:
        proxy.close()


def test_proxy_off_or_without_a_grant() -> None:
    masker = Masker(key=b"w" * 32)
    none = open_database_proxy(
        DatabasePolicy(proxy=False), {}, masker=masker, content_masker=None, append=print
    )
    assert none is None
    with pytest.raises(ConfigError, match="no database credential was issued"):
        open_database_proxy(
            DatabasePolicy(proxy=True), {}, masker=masker, content_masker=None, append=print
        )
    assert upstream_from_environment({"PGHOST": "db", "PGUSER": "r"}) == Upstream(
        host="db", port=5432, dbname="r", user="r", password="", sslmode="prefer"
    )
