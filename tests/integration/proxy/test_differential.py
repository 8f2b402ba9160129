"""The same SQL directly and through the proxy: identical status, columns, types and rows.

Nothing here is masked (content detectors off, no column rules) or blocked, so any
difference is the proxy changing the protocol.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import psycopg
import pytest

from tests.integration.proxy.conftest import MakeProxy, ProxyHandle

pytestmark = pytest.mark.integration

QUERIES = [
    "SELECT 1 AS one, 'x'::text AS t, NULL::int AS n, 1.5::numeric AS num",
    "SELECT * FROM patients ORDER BY id",
    "SELECT id, name AS full_name, doc, dob FROM patients WHERE id = 2",
    "SELECT * FROM visits ORDER BY id",
    "SELECT count(*), sum(cost), avg(cost) FROM visits",
    "SELECT p.name, v.reason FROM patients p JOIN visits v ON v.patient_id = p.id ORDER BY v.id",
    "SELECT g, g::text || 'x', now() IS NOT NULL FROM generate_series(1, 300) g",
    "SELECT ARRAY[1,2,3] AS a, '{\"k\": [1, 2]}'::jsonb AS j, 'a'::bytea AS b, "
    "'00000000-0000-0000-0000-000000000001'::uuid AS u",
    "SELECT '2024-01-02 03:04:05+00'::timestamptz AS ts, interval '1 day' AS iv",
    "UPDATE visits SET cost = cost + 1 WHERE id = 3",
    "INSERT INTO visits (id, patient_id, reason, cost) VALUES (1000, 1, 'new', 2.5) "
    "RETURNING id, reason",
    "DELETE FROM visits WHERE id = 1",
    "SELECT '' AS empty",
]


@pytest.fixture
def plain(make_proxy: MakeProxy) -> ProxyHandle:
    return make_proxy(content=False)


def _psycopg_run(dsn: str, binary: bool, prepare: bool | None) -> list[Any]:
    out: list[Any] = []
    with psycopg.connect(dsn) as conn:
        for sql in QUERIES:
            cur = conn.cursor(binary=binary)
            cur.execute(sql, prepare=prepare)
            desc = [(d.name, d.type_code) for d in cur.description or []]
            rows = cur.fetchall() if cur.description else None
            out.append((cur.statusmessage, cur.rowcount, desc, rows))
        conn.rollback()
    return out


@pytest.mark.parametrize(
    ("binary", "prepare"), [(False, None), (True, None), (False, True), (True, True)]
)
def test_psycopg_same_results(plain: ProxyHandle, binary: bool, prepare: bool | None) -> None:
    direct = _psycopg_run(plain.direct_dsn(), binary, prepare)
    proxied = _psycopg_run(plain.dsn(), binary, prepare)
    assert proxied == direct


def test_psycopg_pipeline_same_results(plain: ProxyHandle) -> None:
    def run(dsn: str) -> list[Any]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            with conn.pipeline():
                cursors = [conn.execute(sql) for sql in QUERIES[:9]]
            return [(c.statusmessage, c.fetchall()) for c in cursors]

    assert run(plain.dsn()) == run(plain.direct_dsn())


def test_psycopg_params_and_server_errors_match(plain: ProxyHandle) -> None:
    def run(dsn: str) -> list[Any]:
        out: list[Any] = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            out.append(conn.execute("SELECT %s::int + %s, %s", (1, 2, "three")).fetchall())
            try:
                conn.execute("SELECT * FROM no_such_table")
            except psycopg.Error as exc:
                out.append((exc.sqlstate, exc.diag.message_primary))
            out.append(conn.execute("SELECT 42").fetchall())
        return out

    assert run(plain.dsn()) == run(plain.direct_dsn())


def _psql(handle: ProxyHandle, sql: str, *, direct: bool) -> subprocess.CompletedProcess[str]:
    up = handle.upstream
    env = dict(os.environ)
    if direct:
        env.update(
            PGHOST=up.host,
            PGPORT=str(up.port),
            PGUSER=up.user,
            PGPASSWORD=up.password,
            PGDATABASE=up.dbname,
            PGSSLMODE="disable",
        )
    else:
        env.update(handle.proxy.environment())
    return subprocess.run(
        [str(handle.server.bin_dir / "psql"), "-X", "-A", "-c", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM patients ORDER BY id; SELECT count(*) FROM visits",
        "BEGIN; UPDATE visits SET cost = 0 WHERE id = 2; ROLLBACK",
        "SELECT * FROM visits ORDER BY id LIMIT 5",
        "COPY (SELECT id, reason FROM visits ORDER BY id) TO STDOUT",
        "\\d patients",
    ],
)
def test_psql_same_output(plain: ProxyHandle, sql: str) -> None:
    direct = _psql(plain, sql, direct=True)
    proxied = _psql(plain, sql, direct=False)
    assert (proxied.returncode, proxied.stdout, proxied.stderr) == (
        direct.returncode,
        direct.stdout,
        direct.stderr,
    )


def test_psql_copy_from_stdin(plain: ProxyHandle) -> None:
    up = plain.upstream
    env = {**os.environ, **plain.proxy.environment()}
    proc = subprocess.run(
        [
            str(plain.server.bin_dir / "psql"),
            "-X",
            "-c",
            "COPY visits (patient_id, reason) FROM STDIN",
        ],
        input="1\tcopied one\n2\tcopied two\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "COPY 2"
    count = plain.server.psql("SELECT count(*) FROM visits WHERE reason LIKE 'copied%'", up.dbname)
    assert count.strip() == "2"


def test_asyncpg_same_results(plain: ProxyHandle) -> None:
    asyncpg = pytest.importorskip("asyncpg")

    async def run(dsn: str) -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            out: list[Any] = []
            for sql in QUERIES[:9]:
                rows = await conn.fetch(sql)
                out.append([tuple(r.items()) for r in rows])
            stmt = await conn.prepare("SELECT id, name FROM patients WHERE id = $1")
            out.append([tuple(await stmt.fetchrow(i) or ()) for i in (1, 2, 1)])
            out.append(await conn.execute("UPDATE visits SET cost = cost WHERE id = 4"))
            async with conn.transaction():
                cursor = await conn.cursor("SELECT g FROM generate_series(1, 20) g")
                out.append(await cursor.fetch(7))
            return out
        finally:
            await conn.close()

    def url(dsn: str) -> str:
        parts = dict(p.split("=", 1) for p in dsn.split())
        return (
            f"postgresql://{parts['user']}:{parts['password']}@{parts['host']}:{parts['port']}"
            f"/{parts['dbname']}?sslmode=disable"
        )

    assert asyncio.run(run(url(plain.dsn()))) == asyncio.run(run(url(plain.direct_dsn())))
