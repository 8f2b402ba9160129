"""Revocation on the ways out that skip the happy path: hgate interrupted, runner crashed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from hgate.creds.interface import SessionTerms
from hgate.creds.postgres import PostgresBackend
from hgate.creds.postgres_roles import drop_role
from hgate.policy.grants import DatabaseGrant, TableGrant
from tests.integration.creds.conftest import CredsGate

pytestmark = pytest.mark.integration


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGALRM],
    ids=lambda sig: sig.name,
)
def test_role_is_dropped_when_hgate_is_interrupted(
    creds_gate: CredsGate, agent: Callable[[str], list[str]], sig: signal.Signals
) -> None:
    started = creds_gate.gate.tmp_path / "started"
    script = agent(
        'psql -X -A -t -c "SELECT current_user" > ' + str(started) + ".tmp && "
        f"mv {started}.tmp {started}\nsleep 60\n"
    )
    gate = creds_gate.gate
    argv = gate.command(
        "run",
        "--policy",
        str(creds_gate.policy(creds_gate.database_grant())),
        "--out",
        str(gate.tmp_path / "runs"),
        "--",
        *script,
    )
    proc = subprocess.Popen(
        argv,
        env=creds_gate.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(started.exists, "the agent to connect")
        role = started.read_text().strip()
        assert creds_gate.session_roles() == [role]
        os.kill(proc.pid, sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert creds_gate.session_roles() == [], stderr.decode(errors="replace")


def _orphan(creds_gate: CredsGate, *, ended_minutes_ago: float) -> tuple[str, str]:
    """A session role as a SIGKILLed runner leaves it: issued, never revoked."""
    grant = DatabaseGrant(
        name=creds_gate.db,
        schemas=("public",),
        tables=(TableGrant(schema="public", table="appointments", privileges=("SELECT",)),),
        read_only=True,
    )
    start = datetime.now(UTC) - timedelta(hours=1)
    terms = SessionTerms(
        session_id="crashed-session",
        subject="pytest",
        rule="test",
        not_before=start,
        not_after=datetime.now(UTC) - timedelta(minutes=ended_minutes_ago),
    )
    issued = PostgresBackend(grant, creds_gate.pg.dsn()).issue(terms)
    return issued.handle, issued.environment["PGPASSWORD"]


def test_creds_gc_drops_the_roles_of_ended_sessions_only(creds_gate: CredsGate) -> None:
    ended, ended_password = _orphan(creds_gate, ended_minutes_ago=5)
    running, running_password = _orphan(creds_gate, ended_minutes_ago=-30)
    pg = creds_gate.pg
    # A connection the crashed session left open: VALID UNTIL alone would not end it.
    with psycopg.connect(pg.dsn(creds_gate.db, user=running, password=running_password)) as conn:
        pg.psql(f"ALTER ROLE {running} VALID UNTIL 'infinity'")
        pg.psql(
            f"COMMENT ON ROLE {ended} IS 'hgate session crashed ends 2000-01-01T00:00:00+00:00'"
        )
        dry = subprocess.run(
            creds_gate.gate.command("creds", "gc", "--dry-run"),
            env=creds_gate.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert dry.returncode == 0, dry.stderr
        assert f"would drop {ended}" in dry.stdout
        assert sorted(creds_gate.session_roles()) == sorted([ended, running])
        gc = subprocess.run(
            creds_gate.gate.command("creds", "gc"),
            env=creds_gate.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert gc.returncode == 0, gc.stderr
        assert f"dropped {ended}" in gc.stdout
        assert f"kept {running}: its session ends" in gc.stdout
        assert creds_gate.session_roles() == [running]
        assert conn.execute("SELECT 1").fetchone() == (1,)  # still running: left alone
    assert ended_password not in gc.stdout + gc.stderr
    drop_role(pg.dsn(), running)
    assert creds_gate.session_roles() == []


def test_creds_gc_terminates_the_connections_of_an_ended_session(creds_gate: CredsGate) -> None:
    role, password = _orphan(creds_gate, ended_minutes_ago=-5)
    pg = creds_gate.pg
    conn = psycopg.connect(pg.dsn(creds_gate.db, user=role, password=password), autocommit=True)
    with conn:
        # Time passes: the session has ended, its connection is still open.
        pg.psql(f"COMMENT ON ROLE {role} IS 'hgate session crashed ends 2000-01-01T00:00:00Z'")
        gc = subprocess.run(
            creds_gate.gate.command("creds", "gc", "--json"),
            env=creds_gate.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert gc.returncode == 0, gc.stderr
        assert role in gc.stdout
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    assert creds_gate.session_roles() == []


def test_creds_gc_without_an_admin_dsn_is_a_config_error(creds_gate: CredsGate) -> None:
    gc = subprocess.run(
        creds_gate.gate.command("creds", "gc"),
        env=creds_gate.gate.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gc.returncode == 67
    assert "no admin DSN" in gc.stderr
