"""Routes around the column masks: each must come back masked or be blocked, never clear.

The seeded names have no shape the content detectors know, so a value that escapes its
column rule would reach the agent in clear: each route is tried with the session's role
through the proxy, and every byte of rows, errors and notices is searched for them.
"""

from __future__ import annotations

import psycopg
import pytest

from hgate.guard.sql_rules import ColumnMask
from tests.integration.proxy.conftest import MakeProxy, ProxyHandle
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration

NAMES = {
    "a patient's name": "Alice Example",
    "a child row's name": "Carol Inherit",
    "a masked partition's value": "Dana Partition",
}
MASKS = (
    ColumnMask(table="patients", column="name", kind="NAME"),
    ColumnMask(table="patients", column="dob", kind="DOB"),
)
# objects an admin made before the session: an inheritance child, a partitioned table
# with the mask on its parent, a view and a materialized view over the masked column
SETUP = """
CREATE TABLE patients_old () INHERITS (patients);
INSERT INTO patients_old (id, name, ssn) VALUES (3, 'Carol Inherit', '000-00-0000');
CREATE TABLE patients_parted (id int, name text) PARTITION BY RANGE (id);
CREATE TABLE patients_p1 PARTITION OF patients_parted FOR VALUES FROM (0) TO (100);
INSERT INTO patients_parted VALUES (1, 'Alice Example');
CREATE VIEW patients_v AS SELECT id, name AS label FROM patients;
CREATE MATERIALIZED VIEW patients_mv AS SELECT id, name || $$ (mv)$$ AS label FROM patients;
CREATE TABLE notes_parted (id int, note text) PARTITION BY LIST (id);
CREATE TABLE notes_p1 PARTITION OF notes_parted FOR VALUES IN (1);
INSERT INTO notes_parted VALUES (1, 'Dana Partition');
"""
PARTED = ColumnMask(table="patients_parted", column="name", kind="NAME")
PARTITION = ColumnMask(table="notes_p1", column="note", kind="NOTE")  # the parent has none


@pytest.fixture
def sidestep(make_proxy: MakeProxy, session_role: object) -> ProxyHandle:
    handle = make_proxy(masks=(*MASKS, PARTED, PARTITION))
    role = handle.upstream.user
    handle.server.psql(
        SETUP + f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role};", handle.upstream.dbname
    )
    return handle


def _run(handle: ProxyHandle, statements: list[str], *, binary: bool = False) -> str:
    """Everything the agent sees for the statements: rows, errors, notices (as one text)."""
    seen: list[str] = []
    with psycopg.connect(handle.dsn(), autocommit=True) as conn:
        conn.add_notice_handler(lambda d: seen.append(f"{d.message_primary} {d.message_detail}"))
        for sql in statements:
            try:
                cur = conn.cursor(binary=binary)
                if sql.startswith("COPY"):
                    with cur.copy(sql) as copy:
                        seen.extend(bytes(data).decode() for data in copy)
                    continue
                cur.execute(sql)
                while True:
                    if cur.description is not None:
                        seen.append(repr(cur.fetchall()))
                    if not cur.nextset():
                        break
            except psycopg.Error as exc:
                diag = exc.diag
                seen.append(f"{diag.sqlstate} {diag.message_primary} {diag.message_detail}")
                seen.append(f"{diag.context} {diag.message_hint}")
    return "\n".join(seen)


ROUTES = {
    "inheritance child": ["SELECT name FROM patients_old"],
    "inheritance parent with ONLY": ["SELECT name FROM ONLY patients_old"],
    "partition": ["SELECT name FROM patients_p1"],
    "view": ["SELECT label FROM patients_v"],
    "materialized view": ["SELECT label FROM patients_mv"],
    "whole row": ["SELECT p FROM patients p"],
    "row_to_json": ["SELECT row_to_json(p) FROM patients p"],
    "row cast to text": ["SELECT p::text FROM patients p"],
    "to_jsonb": ["SELECT to_jsonb(p) FROM patients p"],
    "array": ["SELECT ARRAY[p.name] FROM patients p"],
    "string_agg": ["SELECT string_agg(name, ',') FROM patients"],
    "format": ["SELECT format('%s', name) FROM patients"],
    "table function": ["SELECT * FROM unnest(ARRAY(SELECT name FROM patients))"],
    "json_populate": [
        "SELECT * FROM json_each_text((SELECT row_to_json(p) FROM patients p LIMIT 1))"
    ],
    "cte": ["WITH c AS (SELECT name FROM patients) SELECT name FROM c"],
    "cte star": ["WITH c AS (SELECT * FROM patients) SELECT * FROM c"],
    "subquery star": ["SELECT * FROM (SELECT * FROM patients) s"],
    "lateral": ["SELECT x.n FROM patients p, LATERAL (SELECT p.name AS n) x"],
    "returning": ["UPDATE patients SET score = score WHERE id = 1 RETURNING name"],
    "returning star": ["UPDATE patients SET score = score WHERE id = 1 RETURNING *"],
    "cursor": [
        "BEGIN",
        "DECLARE c CURSOR FOR SELECT name FROM patients",
        "FETCH ALL FROM c",
        "COMMIT",
    ],
    "cursor star": [
        "BEGIN",
        "DECLARE c CURSOR FOR SELECT * FROM patients_old",
        "FETCH ALL FROM c",
        "COMMIT",
    ],
    "copy select": ["COPY (SELECT name FROM patients) TO STDOUT"],
    "copy child": ["COPY patients_old TO STDOUT"],
    "copy view": ["COPY (SELECT * FROM patients_v) TO STDOUT"],
    "cast error": ["SELECT CAST(name AS int) FROM patients"],
    "cast error child": ["SELECT CAST(name AS int) FROM patients_old"],
    "explain verbose": ["EXPLAIN (VERBOSE) SELECT name FROM patients WHERE name = 'x'"],
    "temp table": [
        "CREATE TEMP TABLE t AS SELECT name FROM patients",
        "SELECT name FROM t",
    ],
    "temp table star": [
        "CREATE TEMP TABLE t2 AS SELECT * FROM patients_old",
        "SELECT * FROM t2",
    ],
    "select into": ["SELECT * INTO TEMP t3 FROM patients", "SELECT * FROM t3"],
    "insert select": [
        "CREATE TEMP TABLE t4 (n text)",
        "INSERT INTO t4 SELECT name FROM patients",
        "SELECT n FROM t4",
    ],
    "own view": ["CREATE VIEW mine AS SELECT name FROM patients", "SELECT * FROM mine"],
    "own view star": ["CREATE VIEW mine2 AS SELECT * FROM patients_old", "SELECT * FROM mine2"],
    "own matview": [
        "CREATE MATERIALIZED VIEW mmv AS SELECT * FROM patients",
        "SELECT * FROM mmv",
    ],
    "table statement": ["TABLE patients_old"],
    "union": ["SELECT name FROM patients UNION ALL SELECT 'x'"],
    "prepared": ["PREPARE s AS SELECT * FROM patients_old", "EXECUTE s"],
    "oracle on a child": ["SELECT id FROM patients_old WHERE name = 'Carol Inherit'"],
    "oracle on a view": ["SELECT id FROM patients_v WHERE label LIKE 'Alice%'"],
    "row detail of a child": ["UPDATE patients_old SET id = NULL WHERE id = 3"],
    "parent of a masked partition": ["SELECT note FROM notes_parted"],
    "parent of a masked partition, copy": ["COPY notes_parted TO STDOUT"],
    "parent of a masked partition, cast": ["SELECT note::int FROM notes_parted"],
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masked_names_never_reach_the_agent(
    sidestep: ProxyHandle, route: str, binary: bool
) -> None:
    seen = _run(sidestep, ROUTES[route], binary=binary)
    assert_absent(NAMES, **{route: seen})
