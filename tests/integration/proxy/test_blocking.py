"""Blocked statements fail like server errors and leave the session honest."""

from __future__ import annotations

import time
from dataclasses import replace

import psycopg
import pytest

from hgate.guard.sql_rules import ColumnMask, SqlRule
from hgate.guard.verdict import Verdict
from hgate.proxy import messages as msg
from tests.integration.proxy.conftest import MakeProxy, ProxyHandle, bind, converse, execute

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


def test_a_blocked_parse_is_one_refusal_however_its_pipeline_goes_on(strict: ProxyHandle) -> None:
    """Bind and Execute of a statement whose Parse was just blocked are discarded by the
    server with it: one error, one refusal in the evidence (not a second for the Bind).
    After the Sync, a Bind to that name is the agent's own new attempt: refused, recorded."""
    refused = "SELECT pg_read_file('/etc/hostname')"
    answered = converse(strict, [
        (msg.parse("s", refused) + bind("", "s") + execute("") + msg.sync(), 1),
        (bind("", "s") + execute("") + msg.sync(), 1),
        (msg.query("SELECT 7"), 1),
    ])  # fmt: skip
    errors = [dict(msg.parse_fields(body))["M"] for kind, body in answered if kind == "E"]
    assert len(errors) == 2 and "bind_unknown" not in errors[0] and "bind_unknown" in errors[1]
    assert [(e["verdict"], e["rule"]) for e in strict.events] == [
        ("block", _rule_of(errors[0])),
        ("block", "database.bind_unknown"),
        ("allow", "read-only"),
    ]


def _rule_of(message: str) -> str:
    return message.split("(rule ", 1)[1].split(")", 1)[0]


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


class SlowApprover:
    """An approver who takes a while, then approves, and notes what it was shown."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.shown: list[str] = []

    def settle(self, verdict: Verdict, *, text: str) -> Verdict:
        time.sleep(self.seconds)
        self.shown.append(text)
        return replace(verdict, action="allow", approval="approved")


def test_messages_pipelined_behind_a_held_statement_wait_their_turn(
    make_proxy: MakeProxy,
) -> None:
    """While one statement waits for its approval, what the agent sends next (in many
    small reads) is held unread and answered afterwards, in order; the statement the
    approver saw is the one that runs (a held EXECUTE-then-DEALLOCATE still finds its
    PREPAREd statement: the guard is not asked twice)."""
    deletes = SqlRule(name="deletes-need-approval", action="approve", kinds=("delete",))
    everything = SqlRule(
        name="all", action="allow", kinds=("select", "prepare", "execute", "deallocate", "delete")
    )
    approver = SlowApprover(0.3)
    handle = make_proxy(rules=(everything, deletes), approvals=approver)
    payload = (
        msg.query("PREPARE d AS DELETE FROM visits WHERE id = $1")
        + msg.query("EXECUTE d(5); DEALLOCATE d")
        + msg.query("SELECT count(*) FROM visits WHERE id = 5")
        + msg.parse("", "DELETE FROM visits WHERE id = $1")
        + msg.message(b"B", b"\0\0\0\0\0\1\0\0\0\1" + b"6" + b"\0\0")
        + msg.message(b"E", b"\0\0\0\0\0")
        + msg.message(b"S")
        + msg.query("SELECT count(*) FROM visits WHERE id IN (5, 6)")
    )
    replies = converse(handle, [(payload, 5)], pieces=40)
    kinds = "".join(kind for kind, _ in replies)
    assert "E" not in kinds, [dict(msg.parse_fields(b)) for k, b in replies if k == "E"]
    tags = [body.rstrip(b"\0").decode() for kind, body in replies if kind == "C"]
    assert tags == ["PREPARE", "DELETE 1", "DEALLOCATE", "SELECT 1", "DELETE 1", "SELECT 1"]
    counts = [msg.parse_data_row(body)[0] for kind, body in replies if kind == "D"]
    assert counts == [b"0", b"0"]
    assert approver.shown == [  # PREPARE only classifies: EXECUTE is what is held
        "EXECUTE d(5); DEALLOCATE d",
        "DELETE FROM visits WHERE id = $1",
    ]


def _cost(handle: ProxyHandle, visit: int) -> str:
    return handle.server.psql(f"SELECT cost FROM visits WHERE id = {visit}", handle.upstream.dbname)


def test_a_bad_length_refuses_the_whole_read(make_proxy: MakeProxy) -> None:
    """One read: an allowed UPDATE, a DELETE held for approval, then a header with an
    impossible length. Nothing of that read is handled: the UPDATE does not run, nobody
    is asked to approve the DELETE, nothing is recorded as refused or sent."""
    approver = SlowApprover(0)
    handle = make_proxy(
        rules=(
            SqlRule(name="writes", action="allow", kinds=("select", "update", "delete")),
            SqlRule(name="deletes-need-approval", action="approve", kinds=("delete",)),
        ),
        approvals=approver,
    )
    before = _cost(handle, 1)
    payload = (
        msg.query("UPDATE visits SET cost = 0 WHERE id = 1")
        + msg.query("DELETE FROM visits WHERE id = 7")
        + msg.parse("s", "SELECT pg_read_file('/etc/hostname')")
        + b"Q\0\0\0\2"
    )
    answered = converse(handle, [(payload, 3)])
    fatal = dict(msg.parse_fields(answered[0][1]))
    assert (answered[0][0], fatal["C"], answered[-1][0]) == ("E", "08P01", "EOF")
    assert "invalid message length" in fatal["M"]
    assert (_cost(handle, 1), approver.shown, handle.events) == (before, [], [])


def test_a_statement_sent_but_never_answered_is_recorded_unanswered(
    make_proxy: MakeProxy,
) -> None:
    """The agent sends a statement and hangs up before the reply: the server may well
    run it, so the evidence keeps it (error `unanswered`) rather than losing it with the
    connection."""
    handle = make_proxy()
    converse(handle, [(msg.query("SELECT pg_sleep(0.5)") + msg.message(b"X"), 0)])
    deadline = time.monotonic() + 10
    while not handle.events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(e["statement"], e["verdict"], e.get("error")) for e in handle.events] == [
        ("SELECT pg_sleep(0.5)", "allow", "unanswered")
    ]
