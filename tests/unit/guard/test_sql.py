"""The SQL guard on its own: pitfalls, rule semantics, PREPARE/EXECUTE, the cache."""

from __future__ import annotations

import pytest

from hgate.guard.sql import PreparedVerdicts, SqlGuard
from hgate.guard.sql_rules import KINDS, ColumnMask, SqlRule

READ = SqlRule(
    name="read", action="allow", kinds=("select", "explain", "prepare", "execute", "deallocate")
)
WRITE = SqlRule(name="write", action="allow", kinds=("insert", "update", "delete"))
NO_BILLING = SqlRule(name="no-billing", action="block", tables=("billing.*",))
GUARD = SqlGuard(
    [READ, WRITE, NO_BILLING],
    masks=[ColumnMask(table="patients", column="ssn", kind="SSN")],
)

BLOCKED = [
    ("SELECT 1; DELETE FROM t", "database.unbounded_write"),
    ("WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d", ""),
    ("EXPLAIN ANALYZE DELETE FROM t", "database.unbounded_write"),
    ("SELECT * INTO copy FROM t", "database.default"),
    ("CREATE TABLE copy AS SELECT * FROM t", "database.default"),
    ("DELETE FROM t", "database.unbounded_write"),
    ("UPDATE t SET a = 1 WHERE true", "database.unbounded_write"),
    ("UPDATE t SET a = 1 WHERE 1 = 1", "database.unbounded_write"),
    ("COPY t TO PROGRAM 'curl x'", "database.copy_program"),
    ("COPY t FROM '/etc/passwd'", "database.copy_file"),
    ("COPY t TO '/tmp/out'", "database.copy_file"),
    ("SELECT pg_read_file('/etc/passwd')", "database.side_effect_function"),
    ("SELECT pg_catalog.pg_read_binary_file('x')", "database.side_effect_function"),
    ("SELECT lo_export(1, '/tmp/x')", "database.side_effect_function"),
    ("SELECT lo_import('/etc/passwd')", "database.side_effect_function"),
    ("SELECT * FROM dblink('host=x', 'select 1') AS r(a int)", "database.side_effect_function"),
    ("SELECT set_config('search_path', 'evil', false)", "database.setting"),
    ("SELECT set_config(current_user, 'x', false)", "database.setting"),
    ("SELECT pg_terminate_backend(42)", "database.side_effect_function"),
    ("SELECT pg_reload_conf()", "database.side_effect_function"),
    ("SELECT query_to_xml('DELETE FROM t', true, true, '')", "database.dynamic_sql"),
    ("SELECT table_to_xml('t', true, true, '')", "database.dynamic_sql"),
    ("DO $$ BEGIN EXECUTE 'DELETE FROM t'; END $$", "database.do"),
    ("SET ROLE postgres", "database.setting"),
    ("SET LOCAL ROLE postgres", "database.setting"),
    ("SET SESSION AUTHORIZATION postgres", "database.setting"),
    ("SET search_path TO evil", "database.setting"),
    ("SET client_encoding = 'LATIN1'", "database.setting"),
    ("CREATE TABLE x (a int)", "database.default"),
    ("DROP TABLE t", "database.default"),
    ("GRANT ALL ON t TO PUBLIC", "database.default"),
    ("ALTER SYSTEM SET work_mem = '1GB'", "database.alter_system"),
    ("LOAD 'evil'", "database.load"),
    ("SELECT * FROM billing.invoices", "no-billing"),
    ("selec 1", "database.unparsable"),
    ("SELECT 'unterminated", "database.unparsable"),
    ("COPY (SELECT 1) TO STDOUT (FORMAT binary)", "database.copy_binary"),
    ("SELECT upper(ssn) FROM patients", "database.masked_expression"),
    ("SELECT p FROM patients p", "database.masked_expression"),
    ("SELECT row_to_json(p) FROM patients p", "database.masked_expression"),
    ("SELECT ssn FROM patients UNION ALL SELECT 'x'", "database.masked_expression"),
    ("SELECT (SELECT ssn FROM patients LIMIT 1)", "database.masked_expression"),
    ("UPDATE patients SET ssn = ssn WHERE id = 1 RETURNING ssn", "database.masked_expression"),
    ("INSERT INTO t SELECT ssn FROM patients", "database.masked_expression"),
    ("COPY patients TO STDOUT", "database.masked_copy"),
    # found in an adversarial review: each returned or leaked plain masked values
    ("WITH patients AS (SELECT upper(ssn) AS s FROM patients) SELECT s FROM patients", ""),
    ("WITH patients AS (SELECT ssn FROM patients) SELECT * FROM patients", ""),
    ("SELECT ssn INTO leak_copy FROM patients", "database.masked_expression"),
    ("UPDATE patients SET note = ssn WHERE id = 1", "database.masked_expression"),
    ("MERGE INTO s USING patients p ON false WHEN NOT MATCHED THEN INSERT VALUES (p.ssn)", ""),
    ("SELECT ssn FROM patients FULL JOIN (VALUES ('x')) v(ssn) USING (ssn)", ""),
    ("SELECT ssn FROM patients NATURAL JOIN visits", "database.masked_expression"),
    ("SELECT id FROM patients WHERE ssn::int = 0", "database.masked_expression"),
    ("SELECT id, ssn FROM patients WHERE ssn LIKE '1%'", "database.masked_expression"),
    ("SELECT id FROM patients WHERE pg_notify('c', ssn)::text = ''", ""),
    ("SELECT id FROM patients WHERE set_config('my.x', ssn, false) <> ''", ""),
    ("SELECT id FROM patients ORDER BY substr(ssn, 1, 1)", "database.masked_expression"),
]


@pytest.mark.parametrize(("sql", "rule"), BLOCKED)
def test_pitfalls_are_blocked(sql: str, rule: str) -> None:
    verdict = GUARD.check(sql)
    assert verdict.action == "block", sql
    if rule:
        assert verdict.rule == rule


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT id, ssn FROM patients WHERE id > 3 ORDER BY 1",
        "SELECT * FROM patients",
        "EXPLAIN DELETE FROM t WHERE id = 1",
        "DELETE FROM t WHERE id = $1",
        "UPDATE t SET a = 1 WHERE CURRENT OF c",
        "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
        "SELECT set_config('jit', 'off', false)",
        "INSERT INTO t VALUES (1)",
        "",
    ],
)
def test_ordinary_statements_are_allowed(sql: str) -> None:
    assert GUARD.check(sql).action == "allow", GUARD.check(sql)


def test_allow_rules_must_cover_every_kind() -> None:
    guard = SqlGuard([READ])
    assert guard.check("SELECT 1").rule == "read"
    cte = guard.check("WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d")
    assert (cte.action, cte.rule) == ("block", "database.default")


def test_most_severe_rule_wins_and_approve_is_kept() -> None:
    guard = SqlGuard([READ, WRITE, SqlRule(name="ask", action="approve", kinds=("delete",))])
    verdict = guard.check("DELETE FROM t WHERE id = 1")
    assert (verdict.action, verdict.rule) == ("approve", "ask")


def test_prepare_classifies_and_execute_enforces() -> None:
    guard = SqlGuard([READ, SqlRule(name="ask", action="approve", kinds=("delete",))])
    prepared = PreparedVerdicts()
    assert guard.check("PREPARE q AS SELECT 1", prepared).action == "allow"
    assert guard.check("EXECUTE q", prepared).action == "allow"
    assert guard.check("PREPARE d AS DELETE FROM t WHERE id = $1", prepared).action == "allow"
    assert guard.check("EXECUTE d(1)", prepared).action == "approve"
    assert guard.check("EXPLAIN ANALYZE EXECUTE d(1)", prepared).action == "approve"
    assert guard.check("PREPARE x AS DELETE FROM t", prepared).action == "block"
    assert guard.check("EXECUTE x", prepared).rule == "database.execute_unknown"
    guard.check("DEALLOCATE ALL", prepared)
    assert guard.check("EXECUTE q", prepared).rule == "database.execute_unknown"


def test_verdicts_are_cached_by_text() -> None:
    guard = SqlGuard([READ])
    first = guard.classify("SELECT 42")
    assert guard.classify("SELECT 42") is first
    assert guard.classify("SELECT  42") is not first


def test_extra_node_types_extend_the_allow_list() -> None:
    sql = "CREATE EXTENSION IF NOT EXISTS hstore"
    ddl = SqlRule(name="ddl", action="allow", kinds=("ddl",))
    assert SqlGuard([ddl]).check(sql).rule == "database.node_type"
    assert SqlGuard([ddl], extra_node_types=["CreateExtensionStmt"]).check(sql).action == "allow"


def test_a_join_merging_a_column_a_glob_mask_names_is_blocked() -> None:
    """Masks are globs: `ssn*` covers `ssn_full`, also in a `USING` list."""
    guard = SqlGuard(
        [SqlRule(name="read", action="allow", kinds=("select",))],
        masks=[ColumnMask(table="patients", column="ssn*", kind="SSN")],
    )
    verdict = guard.check("SELECT ssn_full FROM patients FULL JOIN v USING (ssn_full)")
    assert (verdict.action, verdict.rule) == ("block", "database.masked_expression")
    assert guard.check("SELECT id FROM patients JOIN visits USING (id)").action == "allow"


def test_a_prepare_keeps_the_stricter_verdict_and_deallocate_only_retires() -> None:
    # the guard hears of a PREPARE or DEALLOCATE before the server runs it, and the
    # server may not: a taken name keeps its first statement, an aborted transaction
    # keeps a statement DEALLOCATE named
    guard = SqlGuard([READ, SqlRule(name="ask", action="approve", kinds=("delete",))])
    prepared = PreparedVerdicts()
    guard.check("PREPARE d AS DELETE FROM t WHERE id = $1", prepared)
    guard.check("PREPARE d AS SELECT 1", prepared)
    assert guard.check("EXECUTE d(1)", prepared).action == "approve"
    guard.check("DEALLOCATE d", prepared)
    assert guard.check("EXECUTE d(1)", prepared).rule == "database.execute_unknown"
    guard.check("PREPARE d AS SELECT 2", prepared)
    assert guard.check("EXECUTE d(1)", prepared).action == "approve"
    assert prepared.taken == {"d"}


def test_prepare_checks_masked_columns_and_positions_are_columns() -> None:
    masks = [ColumnMask(table="t", column="secret", kind="X")]
    guard = SqlGuard([SqlRule(name="all", action="allow", kinds=KINDS)], masks=masks)
    for sql in (
        "PREPARE p AS SELECT upper(secret) FROM t",
        "SELECT id, secret FROM t ORDER BY 2",
        "SELECT DISTINCT ON (2) id, secret FROM t",
        "SELECT * FROM t GROUP BY 1, 2",
    ):
        assert guard.check(sql).rule == "database.masked_expression", sql
    for sql in (
        "SELECT id FROM t x WHERE x::text LIKE '%a%'",
        "SELECT id FROM t ORDER BY (t.*)::text",
    ):
        assert "whole-row" in guard.check(sql).reason, sql
    assert guard.check("SELECT * FROM pg_stats").rule == "database.masked_statistics"
    assert guard.check("SELECT id FROM u x WHERE x::text LIKE '%a%'").action == "allow"
    assert guard.check("SELECT DISTINCT ON (1) id, secret FROM t").action == "allow"
    assert guard.check("SELECT DISTINCT ON (2) id, secret FROM t").action == "block"


def test_settings_that_change_lexing_are_refused() -> None:
    guard = SqlGuard([SqlRule(name="all", action="allow", kinds=KINDS)])
    for sql in (
        "SET standard_conforming_strings = off",
        "SET standard_conforming_strings TO 0",
        "SELECT set_config('standard_conforming_strings', 'on', false)",
        "SET NAMES 'SJIS'",
        "COPY t FROM STDIN; COPY t FROM STDIN",
    ):
        assert guard.check(sql).action == "block", sql
    for sql in ("SET standard_conforming_strings = on", "RESET standard_conforming_strings"):
        assert guard.check(sql).action == "allow", sql
