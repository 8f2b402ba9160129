"""The guard's literal-normalised cache: one parse per statement shape, never a verdict
that a literal could have changed."""

from __future__ import annotations

import pytest

from hgate.guard.sql import PreparedVerdicts, SqlGuard
from hgate.guard.sql_rules import ColumnMask, SqlRule

READ = SqlRule(name="read", action="allow", kinds=("select", "set", "explain", "copy_out"))
WRITE = SqlRule(name="write", action="allow", kinds=("insert", "update", "delete"))


def guard() -> SqlGuard:
    return SqlGuard([READ, WRITE], masks=[ColumnMask(table="patients", column="ssn", kind="SSN")])


def test_same_shape_is_classified_once() -> None:
    g = guard()
    first = g.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 1")
    second = g.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 99999")
    third = g.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 'x'")
    assert first is second is third
    assert first.verdict.action == "allow"
    assert g.classify("SELECT  abalance FROM pgbench_accounts WHERE aid = 1") is not first


# pairs with the same normalised text whose verdicts differ: never shared
DIFFERENT = [
    ("SELECT set_config('work_mem', '1MB', false)", "SELECT set_config('search_path', 'x', false)"),
    ("SET client_encoding = 'UTF8'", "SET client_encoding = 'LATIN1'"),
    ("SET client_encoding TO utf8", "SET client_encoding TO latin1"),
    ("COPY t TO STDOUT (FORMAT 'csv')", "COPY t TO STDOUT (FORMAT 'binary')"),
]


@pytest.mark.parametrize(("allowed", "blocked"), DIFFERENT)
@pytest.mark.parametrize("allowed_first", [True, False])
def test_literal_dependent_verdicts_are_not_shared(
    allowed: str, blocked: str, allowed_first: bool
) -> None:
    g = guard()
    order = [allowed, blocked] if allowed_first else [blocked, allowed]
    verdicts = {text: g.classify(text).verdict for text in order}
    assert verdicts[allowed].action == "allow", verdicts[allowed]
    assert verdicts[blocked].action == "block", verdicts[blocked]


def test_structure_still_decides() -> None:
    g = guard()
    assert g.classify("DELETE FROM t WHERE a = 1").verdict.action == "allow"
    assert g.classify("DELETE FROM t WHERE 1 = 1").verdict.rule == "database.unbounded_write"
    assert g.classify("DELETE FROM t WHERE 2 = 2").verdict.rule == "database.unbounded_write"
    assert g.classify("DELETE FROM t WHERE a = 2").verdict.action == "allow"
    masked = g.classify("SELECT upper(ssn) FROM patients WHERE id = 1").verdict
    assert masked.rule == "database.masked_expression"
    again = g.classify("SELECT upper(ssn) FROM patients WHERE id = 2").verdict
    assert again.rule == "database.masked_expression"


def test_parameters_and_prepare_bypass_the_shape_cache() -> None:
    g = guard()
    prepared = PreparedVerdicts()
    assert g.check("SELECT $1::int", prepared).action == "allow"
    assert g.check("SELECT 5::int", prepared).action == "allow"
    assert g.check("SELECT 'a' FROM t WHERE 1 =", prepared).rule == "database.unparsable"
    assert g.check("SELECT 'b' FROM t WHERE 1 =", prepared).rule == "database.unparsable"
