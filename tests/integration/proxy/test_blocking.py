"""Blocked statements fail like server errors and leave the session honest."""

from __future__ import annotations

import psycopg
import pytest

from hgate.guard.sql_rules import ColumnMask, SqlRule
from tests.integration.proxy.conftest import MakeProxy, ProxyHandle

pytestmark = pytest.mark.integration

PITFALLS = [
    ("SELECT 1; DELETE FROM visits", "database.unbounded_write"),
    (
        "WITH d AS (DELETE FROM visits RETURNING *) SELECT count(*) FROM d",
        "database.unbounded_write",
    ),
    ("EXPLAIN ANALYZE DELETE FROM visits", "database.unbounded_write"),
    ("UPDATE visits SET cost = 0 WHERE true", "database.unbounded_write"),
    ("COPY visits TO PROGRAM 'id'", "database.copy_program"),
    ("COPY visits FROM '/etc/passwd'", "database.copy_file"),
    ("SELECT pg_read_file('/etc/passwd')", "database.side_effect_function"),
    ("SELECT lo_export(1, '/tmp/x')", "database.side_effect_function"),
    ("SELECT dblink_connect('x')", "database.side_effect_function"),
    ("SELECT set_config('role', 'postgres', false)", "database.setting"),
    ("SELECT pg_terminate_backend(1)", "database.side_effect_function"),
    ("SELECT query_to_xml('select 1', true, true, '')", "database.dynamic_sql"),
    ("DO $$ BEGIN PERFORM 1; END $$", "database.do"),
    ("SET ROLE hgate_admin", "database.setting"),
    ("SET SESSION AUTHORIZATION hgate_admin", "database.setting"),
    ("SET search_path = evil, public", "database.setting"),
    ("ALTER SYSTEM SET work_mem = '1GB'", "database.alter_system"),
    ("LOAD 'plpgsql'", "database.load"),
    ("selec 1", "database.unparsable"),
]


@pytest.fixture
def strict(make_proxy: MakeProxy) -> ProxyHandle:
    read_only = SqlRule(
        name="read-only",
        action="allow",
        kinds=("select", "explain", "transaction", "show", "set", "prepare", "execute"),
    )
    writes = SqlRule(name="writes", action="allow", kinds=("update", "delete", "insert"))
    return make_proxy(rules=(read_only, writes))


@pytest.mark.parametrize(("sql", "rule"), PITFALLS)
def test_pitfall_blocked_and_session_goes_on(strict: ProxyHandle, sql: str, rule: str) -> None:
    with psycopg.connect(strict.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=rule) as info:
            conn.execute(sql)
        assert info.value.diag.message_hint and "approval" in info.value.diag.message_hint
        assert conn.execute("SELECT 7").fetchone() == (7,)
    assert strict.server.psql("SELECT count(*) FROM visits", strict.upstream.dbname).strip() == "50"
    blocked = [e for e in strict.events if e["verdict"] == "block"]
    assert blocked and blocked[-1]["rule"] == rule


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("CREATE TABLE x (a int)", "database.default"),
        ("GRANT SELECT ON patients TO PUBLIC", "database.default"),
        ("SELECT * INTO stolen FROM patients", "database.default"),
        ("CREATE TABLE stolen AS SELECT * FROM patients", "database.default"),
        ("TRUNCATE visits", "database.default"),
    ],
)
def test_kinds_outside_the_rules_are_blocked(strict: ProxyHandle, sql: str, rule: str) -> None:
    with (
        psycopg.connect(strict.dsn(), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=rule),
    ):
        conn.execute(sql)


def test_block_inside_begin_fails_the_transaction(strict: ProxyHandle) -> None:
    with psycopg.connect(strict.dsn()) as conn:
        conn.execute("UPDATE visits SET reason = 'changed' WHERE id = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="unbounded_write"):
            conn.execute("DELETE FROM visits")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
    reason = strict.server.psql("SELECT reason FROM visits WHERE id = 1", strict.upstream.dbname)
    assert reason.strip() == "reason 1"


def test_commit_after_a_block_rolls_back(strict: ProxyHandle) -> None:
    with psycopg.connect(strict.dsn(), autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE visits SET reason = 'changed' WHERE id = 2")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT pg_read_file('/etc/hostname')")
        status = conn.execute("COMMIT").statusmessage
        assert status == "ROLLBACK"  # what PostgreSQL answers to COMMIT in a failed block
    reason = strict.server.psql("SELECT reason FROM visits WHERE id = 2", strict.upstream.dbname)
    assert reason.strip() == "reason 2"


def test_block_in_pipeline_discards_until_sync(strict: ProxyHandle) -> None:
    with psycopg.connect(strict.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.pipeline():
            conn.execute("UPDATE visits SET reason = 'p' WHERE id = 3")
            conn.execute("DELETE FROM visits")
            conn.execute("UPDATE visits SET reason = 'q' WHERE id = 4")
        assert conn.execute("SELECT 1").fetchone() == (1,)
    rows = strict.server.psql(
        "SELECT reason FROM visits WHERE id IN (3, 4) ORDER BY id", strict.upstream.dbname
    )
    assert rows.split() == ["reason", "3", "reason", "4"]


def test_sql_prepare_is_enforced_at_execute(make_proxy: MakeProxy) -> None:
    approve_deletes = SqlRule(name="deletes-need-approval", action="approve", kinds=("delete",))
    everything = SqlRule(
        name="all", action="allow", kinds=("select", "prepare", "execute", "delete")
    )
    handle = make_proxy(rules=(everything, approve_deletes))
    with psycopg.connect(handle.dsn(), autocommit=True) as conn:
        conn.execute("PREPARE q AS SELECT count(*) FROM visits WHERE id > $1")
        assert conn.execute("EXECUTE q(40)").fetchone() == (10,)
        conn.execute("PREPARE d AS DELETE FROM visits WHERE id = $1")
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="approval is not configured"
        ):
            conn.execute("EXECUTE d(1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="execute_unknown"):
            conn.execute("EXECUTE never_prepared")


def test_masked_columns_cannot_leave_through_expressions(make_proxy: MakeProxy) -> None:
    handle = make_proxy(masks=(ColumnMask(table="patients", column="name", kind="NAME"),))
    with psycopg.connect(handle.dsn(), autocommit=True) as conn:
        for sql in (
            "SELECT upper(name) FROM patients",
            "SELECT p FROM patients p",
            "SELECT name FROM patients UNION SELECT 'x'",
            "SELECT x FROM (SELECT name AS x FROM patients) s",
            "COPY patients TO STDOUT",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="masked"):
                conn.execute(sql)
