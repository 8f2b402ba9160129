"""The guard checks relations that carry a masked table's values (partitions, children,
views) like the masked table itself, from what its `relations` source reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from hgate.guard.sql import SqlGuard
from hgate.guard.sql_rules import KINDS, ColumnMask, SqlRule, TableRef

EVERYTHING = SqlRule(name="test.everything", action="allow", kinds=KINDS)
MASKS = (ColumnMask(table="patients", column="name", kind="NAME"),)
Origins = tuple[tuple[str, str], ...]


class Unresolved(Exception):
    pass


class Relations:
    """An in-memory catalog: relation -> column -> the (table, column)s it carries."""

    def __init__(self, tables: dict[TableRef, dict[str, Origins]]) -> None:
        self.tables = tables
        self.resolved = False
        self.generation = 0
        self.asked: list[set[TableRef]] = []

    def require(self, refs: Iterable[TableRef]) -> None:
        self.asked.append(set(refs))
        if not self.resolved:
            raise Unresolved

    def columns_of(self, ref: TableRef) -> Mapping[str, Origins] | None:
        return self.tables.get(ref)


CHILD: dict[str, Origins] = {
    "id": (("public.patients_old", "id"), ("public.patients", "id")),
    "name": (("public.patients_old", "name"), ("public.patients", "name")),
}
VIEW: dict[
    str, Origins
] = {  # a view reading patients.id and patients.name: either may be in either column
    "id": (("public.patients_v", "id"), ("public.patients", "id"), ("public.patients", "name")),
    "label": (
        ("public.patients_v", "label"),
        ("public.patients", "id"),
        ("public.patients", "name"),
    ),
}


def _guard(relations: Relations | None) -> SqlGuard:
    return SqlGuard([EVERYTHING], masks=MASKS, relations=relations)


def _resolved() -> Relations:
    relations = Relations({("", "patients_old"): CHILD, ("", "patients_v"): VIEW})
    relations.resolved = True
    return relations


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("COPY patients_old TO STDOUT", "database.masked_copy"),
        ("SELECT CAST(name AS int) FROM patients_old", "database.masked_expression"),
        ("SELECT id FROM patients_old WHERE name LIKE 'A%'", "database.masked_expression"),
        ("CREATE TEMP TABLE t AS SELECT * FROM patients_old", "database.masked_expression"),
        ("SELECT id FROM patients_v WHERE label = 'x'", "database.masked_expression"),
        ("SELECT id FROM patients_v WHERE id = 1", "database.masked_expression"),
        ("PREPARE s AS SELECT upper(name) FROM patients_old", "database.masked_expression"),
    ],
)
def test_carriers_of_masked_columns_are_checked_like_the_table(sql: str, rule: str) -> None:
    assert _guard(None).check(sql).action == "allow"  # the name alone says nothing
    verdict = _guard(_resolved()).check(sql)
    assert (verdict.action, verdict.rule) == ("block", rule)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, name FROM patients_old WHERE id = 3",  # plain output: the proxy masks it
        "SELECT label FROM patients_v",
        "SELECT reason FROM visits WHERE reason LIKE 'x%'",  # carries nothing masked
    ],
)
def test_plain_use_stays_allowed(sql: str) -> None:
    assert _guard(_resolved()).check(sql).action == "allow"


def test_an_unresolved_name_waits_and_nothing_is_cached() -> None:
    relations = Relations({("", "patients_old"): CHILD})
    guard = _guard(relations)
    sql = "SELECT id FROM patients_old WHERE name = 'x'"
    with pytest.raises(Unresolved):
        guard.check(sql)
    assert relations.asked == [{("", "patients_old")}]
    relations.resolved = True
    assert guard.check(sql).action == "block"


def test_ddl_drops_verdicts_based_on_the_catalog() -> None:
    relations = Relations({})
    relations.resolved = True
    guard = _guard(relations)
    sql = "SELECT id FROM patients_old WHERE name = 'x'"
    assert guard.check(sql).action == "allow"  # not a child of patients (yet)
    relations.tables[("", "patients_old")] = CHILD  # ALTER TABLE … INHERIT patients
    relations.generation += 1
    assert guard.check(sql).action == "block"
