"""Where the proxy's view of what runs could drift from the server's: each test is an
attack that once got a blocked statement run or a masked value out in clear.

String-literal lexing settings, SQL PREPARE names reused or deallocated in a failed
transaction, portal names an SQL DECLARE takes over, a Sync the server ignores inside
COPY FROM STDIN, and constraint errors that quote a whole row.
"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import pytest

from hgate.guard.sql_rules import ColumnMask, SqlRule
from hgate.policy.database import DatabaseLimits
from hgate.proxy import connect
from hgate.proxy import messages as msg
from hgate.proxy.upstream import UpstreamConnection, read_message
from tests.integration.proxy.conftest import (
    EVERYTHING,
    MakeProxy,
    ProxyHandle,
    bind,
    converse,
    execute,
    replies,
)

pytestmark = pytest.mark.integration

NAMES = (ColumnMask(table="patients", column="name", kind="NAME"),)
CLEAR = (b"Alice Example", b"Bob Example", b"ALICE EXAMPLE")
SYNC = msg.sync()
ASK_DELETE = SqlRule(name="ask-delete", action="approve", kinds=("delete",))


@pytest.fixture
def masked(make_proxy: MakeProxy) -> ProxyHandle:
    """Names masked by column rule (no content detector knows a name); deletes need an
    approval, which the test session cannot give."""
    return make_proxy(masks=NAMES, rules=(EVERYTHING, ASK_DELETE))


def _leaked(answered: list[tuple[str, bytes]]) -> list[bytes]:
    return [body for _kind, body in answered if any(name in body for name in CLEAR)]


def _kinds(answered: list[tuple[str, bytes]]) -> str:
    return "".join(kind if len(kind) == 1 else "!" for kind, _ in answered)


# --- settings that change how the server reads a statement -----------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SET standard_conforming_strings = off",
        "SET SESSION standard_conforming_strings TO 0",
        "SELECT set_config('standard_conforming_strings', 'off', false)",
    ],
)
def test_standard_conforming_strings_off_is_refused(masked: ProxyHandle, sql: str) -> None:
    # with it off the server reads '\'' as a quote and runs what the guard's parser
    # (which reads standard strings) took for the inside of a literal
    trick = "SELECT '\\''; SELECT upper(name) FROM patients; --'"
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"database\.setting"):
            conn.execute(sql)
        cur = conn.execute(trick)
        assert cur.fetchall() == [("\\'; SELECT upper(name) FROM patients; --",)]
        assert not cur.nextset()
        assert conn.execute("SHOW standard_conforming_strings").fetchone() == ("on",)
        conn.execute("SET standard_conforming_strings = on")


def test_a_role_default_the_guard_cannot_parse_under_is_refused(
    masked: ProxyHandle,
) -> None:
    role = masked.upstream.user
    masked.server.psql(
        f"ALTER ROLE {role} SET standard_conforming_strings = off", masked.upstream.dbname
    )
    try:
        with (
            pytest.raises(psycopg.OperationalError, match="standard_conforming_strings"),
            psycopg.connect(masked.dsn(), autocommit=True) as conn,
        ):
            conn.execute("SELECT '\\''; SELECT upper(name) FROM patients; --'")
    finally:
        masked.server.psql(f"ALTER ROLE {role} RESET ALL", masked.upstream.dbname)


# --- SQL PREPARE: checked like what it runs, names never trusted back ------------


def test_prepare_is_checked_for_masked_columns(masked: ProxyHandle) -> None:
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="masked_expression"):
            conn.execute("PREPARE up AS SELECT upper(name) FROM patients")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="execute_unknown"):
            conn.execute("EXECUTE up")


def test_a_failed_prepare_of_a_taken_name_keeps_the_first_verdict(masked: ProxyHandle) -> None:
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        conn.execute("PREPARE d AS DELETE FROM visits WHERE id = 7")
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            conn.execute("PREPARE d AS SELECT 1")  # the server keeps the DELETE
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="ask-delete"):
            conn.execute("EXECUTE d")
        assert conn.execute("SELECT count(*) FROM visits WHERE id = 7").fetchone() == (1,)


def test_a_deallocate_in_a_failed_transaction_does_not_free_the_name(
    masked: ProxyHandle,
) -> None:
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        conn.execute("PREPARE d AS DELETE FROM visits WHERE id = 8")
        conn.execute("BEGIN")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1/0")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("DEALLOCATE d")  # never ran
        conn.execute("ROLLBACK")
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            conn.execute("PREPARE d AS SELECT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="ask-delete"):
            conn.execute("EXECUTE d")
        assert conn.execute("SELECT count(*) FROM visits WHERE id = 8").fetchone() == (1,)


# --- portals: an SQL cursor under a name the proxy knew --------------------------


def test_a_cursor_declared_under_a_closed_portal_name_is_described(
    masked: ProxyHandle,
) -> None:
    answered = converse(
        masked,
        [
            (msg.query("BEGIN"), 1),
            (
                msg.parse("ids", "SELECT id FROM patients ORDER BY id")
                + msg.describe("S", "ids")
                + bind("c", "ids")
                + SYNC,
                1,
            ),
            (msg.query("CLOSE c"), 1),
            (msg.query("DECLARE c CURSOR FOR SELECT name FROM patients ORDER BY id"), 1),
            (execute("c") + SYNC, 1),
        ],
    )
    rows = [body for kind, body in answered if kind == "D"]
    assert len(rows) == 2 and not _leaked(answered)


def test_a_bind_refused_over_a_cursor_name_does_not_stand_for_the_cursor(
    masked: ProxyHandle,
) -> None:
    answered = converse(
        masked,
        [
            (msg.parse("ids", "SELECT id FROM patients") + msg.describe("S", "ids") + SYNC, 1),
            (msg.query("BEGIN"), 1),
            (msg.query("DECLARE c CURSOR FOR SELECT name FROM patients ORDER BY id"), 1),
            (msg.query("SAVEPOINT s"), 1),
            (bind("c", "ids") + SYNC, 1),  # "cursor c already exists"
            (msg.query("ROLLBACK TO s"), 1),  # the cursor outlives the savepoint
            (execute("c") + SYNC, 1),
        ],
    )
    rows = [body for kind, body in answered if kind == "D"]
    assert len(rows) == 2 and not _leaked(answered)


# --- COPY FROM STDIN: what the server ignores is not owed a reply -----------------


async def _until(conn: UpstreamConnection, kind: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    while True:
        try:
            code, body = await read_message(conn.reader, 1 << 20)
        except (asyncio.IncompleteReadError, ConnectionError):
            return [*out, ("EOF", b"")]
        out.append((chr(code), body))
        if chr(code) in (kind, "E"):
            return out


def _copy_then(
    handle: ProxyHandle, inside: bytes, after: list[tuple[bytes, int]]
) -> list[tuple[str, bytes]]:
    """Describe two statements, start COPY FROM STDIN, send `inside` (the copy's data
    and its end), then each of `after`."""

    async def run() -> list[tuple[str, bytes]]:
        conn = await connect(handle.agent(), {})
        try:
            conn.writer.write(
                msg.parse("none", "SELECT id FROM patients WHERE id < 0")
                + msg.parse("names", "SELECT name FROM patients ORDER BY id")
                + msg.describe("S", "none")
                + msg.describe("S", "names")
                + SYNC
            )
            out = await replies(conn, 1)
            conn.writer.write(msg.query("COPY visits (reason) FROM STDIN"))
            out += await _until(conn, "G")
            conn.writer.write(inside)
            for payload, ready in [(b"", 1), *after]:
                conn.writer.write(payload)
                out += await replies(conn, ready)
                if out[-1][0] == "EOF":
                    break
            return out
        finally:
            conn.close()
            with contextlib.suppress(ConnectionError):
                await conn.writer.wait_closed()

    return asyncio.run(asyncio.wait_for(run(), 30))


def test_a_sync_inside_copy_data_does_not_shift_replies(masked: ProxyHandle) -> None:
    # the server ignores that Sync; were it owed a ReadyForQuery, every later reply
    # would be read against the message before its own, and the rows of `names`
    # planned as the (empty, unmasked) result of `none`
    answered = _copy_then(
        masked,
        SYNC + msg.message(b"c"),
        [
            (
                bind("p1", "none")
                + execute("p1")
                + SYNC
                + bind("p2", "names")
                + execute("p2")
                + SYNC,
                2,
            )
        ],
    )
    assert not _leaked(answered)
    rows = [body for kind, body in answered if kind == "D"]
    assert len(rows) == 2


def test_a_query_inside_copy_data_ends_the_connection(masked: ProxyHandle) -> None:
    answered = _copy_then(masked, msg.message(b"d", b"x\n") + msg.query("SELECT 1"), [])
    assert answered[-2][0] == "E" and b"inside COPY FROM STDIN" in answered[-2][1]
    assert answered[-1] == ("EOF", b"")


def test_copy_in_extended_and_after_a_failed_copy(masked: ProxyHandle) -> None:
    # libpq's extended COPY: a Sync right after Execute (ignored once the COPY runs)
    # and another after CopyDone; and a COPY that fails, with a query pipelined after
    # it, which waits until the failure is known and then runs as usual
    copy = "COPY visits (patient_id, reason) FROM STDIN"
    answered = converse(
        masked,
        [
            (msg.parse("", copy) + bind("", "") + execute("") + SYNC, 0),
            (msg.message(b"d", b"1\tcopied\n") + msg.message(b"c") + SYNC, 1),
            (msg.query("COPY nosuch FROM STDIN") + msg.query("SELECT name FROM patients"), 2),
            (msg.query("SELECT count(*) FROM visits WHERE reason = 'copied'"), 1),
        ],
    )
    kinds = _kinds(answered)
    assert kinds.startswith("12GCZ"), kinds  # the Describe the proxy asks for is not shown
    assert kinds[5:].startswith("EZTDDCZ"), kinds
    assert answered[-3] == ("D", b"\x00\x01\x00\x00\x00\x011")
    assert not _leaked(answered)


# --- errors that quote a row --------------------------------------------------------


def test_a_constraint_error_quoting_a_masked_row_is_withheld(masked: ProxyHandle) -> None:
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.NotNullViolation) as info:
            conn.execute("UPDATE patients SET id = NULL WHERE id = 1")
        assert "withheld" in (info.value.diag.message_detail or "")
        with pytest.raises(psycopg.errors.UniqueViolation) as unmasked:
            conn.execute("UPDATE visits SET id = 2 WHERE id = 3")  # no masked columns
        assert unmasked.value.diag.message_detail == "Key (id)=(2) already exists."


# --- a position is a column reference the guard's parse shows as a number -----------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, name FROM patients ORDER BY 2",
        "SELECT DISTINCT ON (2) id, name FROM patients",  # after DISTINCT ON (1): same shape
        "SELECT count(*), name FROM patients GROUP BY ROLLUP (2)",
        "SELECT * FROM patients ORDER BY 2",
    ],
)
def test_ordering_or_grouping_by_a_masked_position_is_refused(
    masked: ProxyHandle, sql: str
) -> None:
    # sorting probe rows the agent inserts among the real ones reads a masked column
    # out a comparison at a time, as ORDER BY name would (which is refused)
    with psycopg.connect(masked.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT DISTINCT ON (1) id, name FROM patients").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="masked_expression"):
            conn.execute(sql)


def test_rows_fetched_through_a_cursor_portal_count_and_are_recorded(
    make_proxy: MakeProxy,
) -> None:
    # an Execute of a cursor SQL DECLAREd is the proxy's to describe; its rows are the
    # session's like any other (the exposure limit, the transcript)
    handle = make_proxy(limits=DatabaseLimits(max_rows=10))
    answered = converse(
        handle,
        [
            (msg.query("DECLARE c CURSOR WITH HOLD FOR SELECT id FROM visits"), 1),
            (execute("c") + SYNC, 1),
            (msg.query("SELECT 1"), 1),
        ],
    )
    assert sum(kind == "D" for kind, _ in answered) == 50
    assert answered[-2][0] == "E" and b"max_rows" in answered[-2][1]
    fetched = [r for r in handle.events if r.get("rows") == 50]
    assert len(fetched) == 1 and "c" in fetched[0]["statement"]


def test_a_foreign_key_error_quoting_a_masked_key_is_withheld(make_proxy: MakeProxy) -> None:
    handle = make_proxy(masks=(ColumnMask(table="patients", column="mrn", kind="MRN"),))
    handle.server.psql(
        "ALTER TABLE patients ADD UNIQUE (mrn);"
        "CREATE TABLE refs (mrn int8 REFERENCES patients (mrn));"
        "INSERT INTO refs VALUES (900001);"
        f"GRANT ALL ON refs TO {handle.upstream.user};",
        handle.upstream.dbname,
    )
    with psycopg.connect(handle.dsn(), autocommit=True) as conn:
        # the error names table refs, which has no masked column; the key is patients'
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as info:
            conn.execute("DELETE FROM patients WHERE id = 1")
        assert "900001" not in str(info.value)
        assert "withheld" in (info.value.diag.message_detail or "")


def test_a_copy_skipped_after_an_error_does_not_hold_the_session(masked: ProxyHandle) -> None:
    # the Bind fails (a parameter the COPY does not take), so the server skips the
    # COPY's Execute: nothing is waiting for its data
    bad_bind = msg.message(b"B", b"\0\0" + b"\0\0" + b"\0\x01\0\0\0\x011" + b"\0\0")
    answered = converse(
        masked,
        [
            (msg.parse("", "COPY visits (reason) FROM STDIN") + bad_bind + execute("") + SYNC, 1),
            (msg.query("SELECT 1"), 1),
        ],
    )
    assert _kinds(answered) == "1EZTDCZ"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM patients p WHERE p::text LIKE '%Alice%'",
        "SELECT id FROM patients p WHERE (p.*)::text LIKE '%Alice%'",
        "SELECT id FROM patients p ORDER BY substr((p.*)::text, 4)",
    ],
)
def test_a_whole_row_outside_the_output_is_an_oracle_too(masked: ProxyHandle, sql: str) -> None:
    # the guard sees a table's name, the server the row with its masked name in it
    with (
        psycopg.connect(masked.dsn(), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="whole-row"),
    ):
        conn.execute(sql)


def test_planner_statistics_of_masked_columns_are_refused(masked: ProxyHandle) -> None:
    # pg_stats shows every column the role may select, sampled values included, under
    # the view's own OID: no column rule can match it
    masked.server.psql("ANALYZE patients", masked.upstream.dbname)  # as autovacuum would
    with (
        psycopg.connect(masked.dsn(), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="masked_statistics"),
    ):
        conn.execute("SELECT histogram_bounds FROM pg_stats WHERE attname = 'name'")
