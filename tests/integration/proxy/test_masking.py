"""Masked results in every format: column rules by OID, content detectors, taint, errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import Any

import psycopg
import pytest

from hgate.guard.sql_rules import ColumnMask
from hgate.proxy import connect
from hgate.proxy import messages as msg
from hgate.proxy.upstream import read_message
from tests.integration.proxy.conftest import (
    MakeProxy,
    ProxyHandle,
    bind,
    converse,
    execute,
    replies,
)

pytestmark = pytest.mark.integration

MASKS = (
    ColumnMask(table="patients", column="name", kind="NAME"),
    ColumnMask(table="patients", column="dob", kind="DOB"),
    ColumnMask(table="public.patients", column="mrn", kind="MRN"),
    ColumnMask(table="patients", column="doc", kind="DOC"),
)


@pytest.fixture
def masked(make_proxy: MakeProxy) -> ProxyHandle:
    return make_proxy(masks=MASKS)


def _rows(handle: ProxyHandle, sql: str, *, binary: bool, prepare: bool | None = None) -> Any:
    with psycopg.connect(handle.dsn(), autocommit=True) as conn:
        cur = conn.cursor(binary=binary)
        cur.execute(sql, prepare=prepare)
        return cur.fetchall()


@pytest.mark.parametrize(("binary", "prepare"), [(False, None), (True, None), (True, True)])
def test_column_rules_follow_oids_not_labels(
    masked: ProxyHandle, binary: bool, prepare: bool | None
) -> None:
    rows = _rows(
        masked,
        "SELECT id, name AS innocent, dob, mrn, doc, ssn, score FROM patients ORDER BY id",
        binary=binary,
        prepare=prepare,
    )
    first = rows[0]
    token = masked.masker.token("NAME", "Alice Example")
    assert first[0] == 1
    assert first[1] == token  # text type: the keyed token, whatever the alias
    assert first[2] is None and first[3] is None  # date and int8: no valid token -> NULL
    assert first[4] == masked.masker.token("DOC", '{"a": 1}')  # jsonb: a JSON string
    assert first[5] == masked.masker.token("SSN", "123-45-6789")  # content detector
    assert first[6] == 10  # untouched int4 keeps its shape


def test_pipeline_and_psql_are_masked(masked: ProxyHandle) -> None:
    with psycopg.connect(masked.dsn(), autocommit=True) as conn, conn.pipeline():
        cur = conn.execute("SELECT name FROM patients WHERE id = %s", (2,), binary=True)
        other = conn.execute("SELECT note FROM patients WHERE id = 1")
        assert cur.fetchall() == [(masked.masker.token("NAME", "Bob Example"),)]
        assert other.fetchall() == [(f"called {masked.masker.token('SSN', '555-12-3456')}",)]
    env = {**os.environ, **masked.proxy.environment()}
    out = subprocess.run(
        [str(masked.server.bin_dir / "psql"), "-X", "-A", "-t", "-c", "SELECT * FROM patients"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    ).stdout
    assert "Alice" not in out and "123-45-6789" not in out and "[NAME:" in out


def test_values_from_masked_columns_join_the_taint_set(masked: ProxyHandle) -> None:
    _rows(masked, "SELECT name FROM patients", binary=False)
    printed = masked.masker.mask("the agent echoes Bob Example to its terminal")
    assert "Bob Example" not in printed.text
    assert [f.kind for f in printed.findings] == ["NAME"]


def test_asyncpg_without_a_second_describe_is_masked(masked: ProxyHandle) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    env = masked.proxy.environment()

    async def run() -> list[Any]:
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            stmt = await conn.prepare("SELECT name, score, ssn FROM patients WHERE id = $1")
            return [tuple(await stmt.fetchrow(i) or ()) for i in (1, 2, 1)]
        finally:
            await conn.close()

    rows = asyncio.run(run())
    assert rows[0] == (
        masked.masker.token("NAME", "Alice Example"),
        10,
        masked.masker.token("SSN", "123-45-6789"),
    )
    assert rows[2] == rows[0]


def test_error_detail_notice_and_copy_rows_are_masked(masked: ProxyHandle) -> None:
    masked.server.psql("CREATE UNIQUE INDEX ON visits (reason)", masked.upstream.dbname)
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        conn.execute("UPDATE visits SET reason = '111-22-3333' WHERE id = 5")
        with pytest.raises(psycopg.errors.UniqueViolation) as info:
            conn.execute("UPDATE visits SET reason = '111-22-3333' WHERE id = 6")
        detail = info.value.diag.message_detail or ""
        assert "111-22-3333" not in detail and "[SSN:" in detail
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute('DROP TABLE IF EXISTS "222-33-4444"')
        assert notices and "222-33-4444" not in notices[0] and "[SSN:" in notices[0]
        with conn.cursor().copy("COPY (SELECT reason FROM visits WHERE id = 5) TO STDOUT") as cp:
            data = b"".join(bytes(chunk) for chunk in cp)
        assert b"111-22-3333" not in data and b"[SSN:" in data
    counted = [e for e in masked.events if e.get("masked")]
    assert counted and all("111-22-3333" not in e["statement"] for e in masked.events)


def test_notification_payload_is_masked(masked: ProxyHandle) -> None:
    with psycopg.connect(masked.dsn(), autocommit=True) as listener:
        listener.execute("LISTEN hg")
        with psycopg.connect(masked.dsn(), autocommit=True) as sender:
            sender.execute("NOTIFY hg, 'ssn 333-44-5555'")
        note = next(listener.notifies(timeout=5, stop_after=1))
    assert "333-44-5555" not in note.payload and "[SSN:" in note.payload


def test_sql_events_carry_rows_and_masked_counts(masked: ProxyHandle) -> None:
    _rows(masked, "SELECT name, ssn FROM patients WHERE ssn = '123-45-6789'", binary=False)
    event = next(e for e in masked.events if e["statement"].startswith("SELECT name, ssn"))
    assert "123-45-6789" not in event["statement"]
    assert event["rows"] == 1 and event["masked"] == {"NAME": 1, "SSN": 1}
    assert event["verdict"] == "allow" and event["tag"] == "SELECT 1"


def test_repeated_prepared_executions_stay_masked_in_each_format(masked: ProxyHandle) -> None:
    """libpq Describes the portal on every execution; the proxy reuses the plan it made
    for those RowDescription bytes, which differ by result format."""
    token = masked.masker.token("NAME", "Alice Example")
    sql = "SELECT name, score FROM patients WHERE id = %s"
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        for binary in (False, True, False, True):
            for _ in range(3):
                cur = conn.cursor(binary=binary)
                cur.execute(sql, (1,), prepare=True)
                assert cur.fetchall() == [(token, 10)]


def test_reads_split_at_every_byte_while_the_catalog_is_read(make_proxy: MakeProxy) -> None:
    """The first masked result waits for a pg_catalog look-up; everything the agent
    pipelined meanwhile (here one byte per read) is held, then answered in order."""
    payload = (
        msg.query("SELECT name AS alias, ssn FROM patients WHERE id = 1")
        + msg.query("SELECT 7")
        + msg.parse("", "SELECT id, name FROM patients WHERE id = $1")
        + msg.message(b"B", b"\0\0\0\0\0\1\0\0\0\1" + b"2" + b"\0\0")
        + msg.describe("P", "")
        + msg.message(b"E", b"\0\0\0\0\0")
        + msg.message(b"S")
    )
    split = make_proxy(masks=MASKS)
    one_byte_reads = converse(split, [(payload, 3)], pieces=len(payload))
    whole = converse(make_proxy(masks=MASKS), [(payload, 3)])
    assert one_byte_reads == whole
    rows = [msg.parse_data_row(body) for kind, body in whole if kind == "D"]
    name, bob = (
        split.masker.token("NAME", "Alice Example"),
        split.masker.token("NAME", "Bob Example"),
    )
    assert rows == [
        [name.encode(), split.masker.token("SSN", "123-45-6789").encode()],
        [b"7"],
        [b"2", bob.encode()],
    ]
    assert not any(b"Alice" in body or b"Bob" in body for _, body in one_byte_reads)


def _slow_catalog(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every pg_catalog reply read waits `seconds` first: a slow catalog server."""
    real = read_message

    async def slow(reader: asyncio.StreamReader, limit: int) -> tuple[int, bytes]:
        await asyncio.sleep(seconds)
        return await real(reader, limit)

    monkeypatch.setattr("hgate.proxy.catalog.read_message", slow)


def test_a_portal_rebound_while_rows_wait_for_the_catalog_keeps_its_plan(
    make_proxy: MakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the first rows of `SELECT name` wait for the catalog, the agent binds the
    unnamed portal to a harmless statement: the waiting rows are still masked by the
    plan of the portal they came from."""
    _slow_catalog(monkeypatch, 0.05)
    handle = make_proxy(masks=MASKS)
    agent = handle.agent()

    async def run() -> list[tuple[str, bytes]]:
        conn = await connect(agent, {})
        try:
            conn.writer.write(
                msg.parse("s2", "SELECT 1::int4 AS a, 'x'::text AS b")
                + msg.describe("S", "s2")
                + msg.message(b"S")
            )
            await replies(conn, 1)
            conn.writer.write(
                msg.parse("", "SELECT name FROM patients WHERE id = 1")
                + msg.message(b"B", b"\0\0" + b"\0\0" * 3)
                + msg.describe("P", "")
                + msg.message(b"E", b"\0\0\0\0\0")
                + msg.message(b"S")
            )
            await asyncio.sleep(0.1)  # the DataRow now waits for the catalog
            conn.writer.write(
                msg.message(b"B", b"\0s2\0" + b"\0\0" * 3)
                + msg.message(b"E", b"\0\0\0\0\0")
                + msg.message(b"S")
            )
            return await replies(conn, 2)
        finally:
            conn.close()
            await conn.writer.wait_closed()

    answered = asyncio.run(asyncio.wait_for(run(), 60))
    rows = [msg.parse_data_row(body) for kind, body in answered if kind == "D"]
    assert rows == [[handle.masker.token("NAME", "Alice Example").encode()], [b"1", b"x"]]


def test_an_agent_leaving_mid_look_up_does_not_derail_the_catalog(
    make_proxy: MakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent whose rows wait for the catalog disconnects: the cancelled look-up must
    not leave its reply on the shared catalog connection for the next look-up to read
    (which would resolve the next table to nothing and unmask its columns)."""
    _slow_catalog(monkeypatch, 1.0)
    handle = make_proxy(masks=(*MASKS, ColumnMask(table="visits", column="reason", kind="R")))
    agent = handle.agent()

    async def leave() -> None:
        conn = await connect(agent, {})
        conn.writer.write(msg.query("SELECT name FROM patients WHERE id = 1"))
        await asyncio.sleep(0.3)  # the look-up is in flight
        conn.close()
        await asyncio.sleep(0.5)

    async def read() -> list[tuple[str, bytes]]:
        conn = await connect(agent, {})
        try:
            conn.writer.write(msg.query("SELECT reason FROM visits WHERE id = 1"))
            return await replies(conn, 1)
        finally:
            conn.close()
            await conn.writer.wait_closed()

    asyncio.run(leave())
    monkeypatch.undo()
    time.sleep(1.0)  # the cancelled look-up's reply has arrived by now
    answered = asyncio.run(asyncio.wait_for(read(), 60))
    rows = [msg.parse_data_row(body) for kind, body in answered if kind == "D"]
    assert rows == [[handle.masker.token("R", "reason 1").encode()]]


NAME_ONLY = (ColumnMask(table="patients", column="name", kind="NAME"),)
SYNC = msg.message(b"S")
ALICE_ROW = msg.query("SELECT name FROM patients WHERE id = 1")


def _data_rows(answered: list[tuple[str, bytes]]) -> list[list[bytes | None]]:
    return [msg.parse_data_row(body) for kind, body in answered if kind == "D"]


@pytest.mark.parametrize("named", [False, True])
def test_a_portal_runs_the_statement_it_was_bound_to(make_proxy: MakeProxy, named: bool) -> None:
    """The statement a portal was bound to is replaced (unnamed: by the next Parse;
    named: Close, then Parse again) and the new one described before the portal runs:
    its rows are still planned from what it was bound to."""
    handle = make_proxy(masks=NAME_ONLY)
    name = "s" if named else ""
    replace = msg.message(b"C", b"S" + msg.encode_cstring(name)) if named else b""
    answered = converse(handle, [
        (msg.query("BEGIN"), 1),
        (msg.parse(name, "SELECT name FROM patients WHERE id = 1") + bind("p", name) + replace
         + msg.parse(name, "SELECT 1::int4 AS a") + msg.describe("S", name) + SYNC, 1),
        (execute("p") + SYNC, 1),
    ])  # fmt: skip
    assert _data_rows(answered) == [[handle.masker.token("NAME", "Alice Example").encode()]]
    handle.proxy.flush()
    (ran,) = [r for r in handle.records if r.get("rows")]
    assert ran["statement"] == "SELECT name FROM patients WHERE id = 1"


@pytest.mark.parametrize("injected", [False, True])
def test_a_describe_lost_to_an_error_is_asked_again(make_proxy: MakeProxy, injected: bool) -> None:
    """A Describe discarded because an earlier message failed never answers: the portal
    is described again when it runs (the connection is not cut, the rows are masked)."""
    handle = make_proxy(masks=NAME_ONLY)
    failing = msg.parse("", "SELECT 1/0") + bind("", "") + execute("")
    lost = execute("p") if injected else msg.describe("P", "p")
    answered = converse(handle, [
        (msg.query("BEGIN"), 1),
        (msg.parse("s", "SELECT name FROM patients WHERE id = 1") + bind("p", "s") + SYNC, 1),
        (msg.query("SAVEPOINT sp"), 1),
        (failing + lost + SYNC, 1),
        (msg.query("ROLLBACK TO SAVEPOINT sp"), 1),
        (execute("p") + SYNC, 1),
    ])  # fmt: skip
    assert ("EOF", b"") not in answered
    assert _data_rows(answered) == [[handle.masker.token("NAME", "Alice Example").encode()]]


@pytest.mark.parametrize("reused", [False, True])
def test_a_cursor_opened_with_sql_and_run_by_the_protocol_is_masked(
    make_proxy: MakeProxy, reused: bool
) -> None:
    """DECLARE opens a portal the proxy never saw bound (`reused`: under the name of a
    protocol portal from a transaction that has ended): an Execute of it is described
    first and masked."""
    handle = make_proxy(masks=NAME_ONLY)
    earlier = msg.parse("", "SELECT 1::int4 AS a") + bind("c", "") + msg.describe("P", "c")
    steps = [(earlier + execute("c") + SYNC, 1)] if reused else []
    answered = converse(handle, [
        *steps,
        (msg.query("BEGIN"), 1),
        (msg.query("DECLARE c CURSOR FOR SELECT name FROM patients WHERE id = 1"), 1),
        (execute("c") + SYNC, 1),
    ])  # fmt: skip
    assert _data_rows(answered)[-1] == [handle.masker.token("NAME", "Alice Example").encode()]


def test_a_bind_to_a_statement_not_parsed_through_hgate_is_blocked(make_proxy: MakeProxy) -> None:
    """SQL PREPARE is enforced at SQL EXECUTE; a protocol Bind to that name (here after
    the name was a harmless protocol statement) would run it unchecked, so it is refused
    like a blocked statement, and the connection goes on."""
    handle = make_proxy(masks=NAME_ONLY)
    answered = converse(handle, [
        (msg.parse("s", "SELECT 1::int4 AS a") + msg.describe("S", "s") + SYNC, 1),
        (msg.query("DEALLOCATE s"), 1),
        (msg.query("PREPARE s AS SELECT name FROM patients WHERE id = 1"), 1),
        (bind("p", "s") + execute("p") + SYNC, 1),
        (bind("q", "never_prepared") + execute("q") + SYNC, 1),
        (msg.query("SELECT 7"), 1),
    ])  # fmt: skip
    errors = [dict(msg.parse_fields(body)) for kind, body in answered if kind == "E"]
    assert [(e["C"], "bind_unknown" in e["M"]) for e in errors] == [("42501", True)] * 2
    assert _data_rows(answered) == [[b"7"]]
