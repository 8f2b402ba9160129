"""A SQL statement held by an `approve` rule, end to end through the session's proxy.

A real `hgate run` issues a session role on the PostgreSQL fixture and puts its proxy in
front of it; the agent (psycopg, through the proxy) runs a statement the policy holds for
approval, then another on the same connection. `hgate approve` / `hgate deny` decide it
from another process; no answer in time is a denial.
"""

from __future__ import annotations

import socket
import sys
import time

import pytest

from hgate.report.events import sql_records
from tests.fixtures.postgres_server import PostgresServer
from tests.integration.approvals.conftest import USER, Approvals, Held

pytestmark = pytest.mark.integration

SEED = """
CREATE TABLE public.billing (id int PRIMARY KEY, amount int);
INSERT INTO public.billing VALUES (1, 100), (2, 250);
CREATE TABLE public.appointments (id int PRIMARY KEY, patient text);
INSERT INTO public.appointments VALUES (1, 'p1'), (2, 'p2'), (3, 'p3');
"""
POLICY = """\
version: 1
name: sql-approvals-test
identities:
  - name: developer
    local: true
    grants:
      database:
        name: {db}
        tables:
          - {{table: billing, privileges: [SELECT]}}
          - {{table: appointments, privileges: [SELECT]}}
session: {{max_duration: 90s, kill_grace: 1s}}
database:
  statements:
    default: block
    rules:
      - {{name: read-only, action: allow, kinds: [select]}}
      - {{name: billing-needs-approval, action: approve, tables: [billing]}}
approvals:
  channel: {{type: directory, path: {channel}}}
  timeout: {timeout}
  approvers:
    - {{name: alice, key_file: keys/alice.pub}}
    - {{name: bob, key_file: keys/bob.pub}}
    - {{name: carol, key_file: keys/carol.pub, identity: "{subject}"}}
  rules:
    - {{rule: billing-needs-approval, required: 1}}
"""
AGENT = """\
import psycopg

with psycopg.connect("", autocommit=True) as conn:  # PG* point at hgate's proxy
    try:
        rows = conn.execute("SELECT id, amount FROM billing ORDER BY id").fetchall()
        print("held-rows", rows, flush=True)
    except psycopg.Error as exc:
        print("held-failed", exc.sqlstate, flush=True)
        print("held-message", exc.diag.message_primary, flush=True)
    count = conn.execute("SELECT count(*) FROM appointments").fetchone()
    print("next-count", count[0] if count else None, flush=True)
"""


def start(approvals: Approvals, server: PostgresServer, db: str, *, timeout: str = "60s") -> Held:
    server.psql(SEED, db)
    for name in ("alice", "bob", "carol"):
        approvals.key(name)
    approvals.channel_dir.mkdir(exist_ok=True)
    policy = approvals.tmp_path / "policy.yaml"
    policy.write_text(
        POLICY.format(
            db=db,
            channel=approvals.channel_dir,
            timeout=timeout,
            subject=f"{USER}@{socket.gethostname()}",
        )
    )
    agent = approvals.tmp_path / "agent.py"
    agent.write_text(AGENT)
    launcher = approvals.tmp_path / "agent.sh"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {agent}\n")
    launcher.chmod(0o755)
    approvals.extra_env["HGATE_ADMIN_DSN"] = server.dsn("postgres")
    return approvals.start(policy, agent=launcher)


def check_evidence(approvals: Approvals, held: Held, status: str) -> None:
    (request,) = held.of("approval.request")
    assert request["request"]["id"] == held.request_id
    assert request["request"]["source"] == "sql"
    assert request["request"]["rule"] == "billing-needs-approval"
    assert "billing" in request["request"]["action"]
    (outcome,) = held.of("approval.outcome")
    assert (outcome["request_id"], outcome["status"]) == (held.request_id, status)
    if status != "expired":
        (decision,) = held.of("approval.decision")
        assert decision["accepted"] is True
    report = approvals.verify(held.transcript)  # type: ignore[arg-type]
    assert report.returncode == 0 and "VALID" in report.stdout, report.stdout + report.stderr


def test_an_approved_statement_runs_and_returns_its_rows(
    approvals: Approvals, postgres_server: PostgresServer, postgres_db: str
) -> None:
    held = start(approvals, postgres_server, postgres_db)
    request_id = approvals.wait_for_request(held, timeout=60)
    time.sleep(0.5)  # held: nothing has come back to the agent yet
    assert "held-" not in held.out_text() and held.proc.poll() is None
    assert "approved request" in approvals.decide("approve", request_id, "alice")
    approvals.finish(held)
    assert held.proc.returncode == 0, held.stderr
    assert "held-rows [(1, 100), (2, 250)]" in held.output
    assert "next-count 3" in held.output
    (outcome,) = held.of("approval.outcome")
    assert outcome["approved_by"] == ["alice"]
    records = [r for data in held.of("sql") for r in sql_records(data)]
    (billing,) = [r for r in records if "billing" in r["statement"]]
    assert (billing["verdict"], billing["approval"], billing["rows"]) == ("allow", "approved", 2)
    check_evidence(approvals, held, "approved")


@pytest.mark.parametrize("answer", ["deny", "expire"])
def test_a_denied_or_expired_statement_fails_with_42501_and_the_connection_lives_on(
    approvals: Approvals, postgres_server: PostgresServer, postgres_db: str, answer: str
) -> None:
    held = start(
        approvals, postgres_server, postgres_db, timeout="60s" if answer == "deny" else "2s"
    )
    request_id = approvals.wait_for_request(held, timeout=60)
    if answer == "deny":
        approvals.decide("deny", request_id, "bob", "--reason", "no billing today")
    approvals.finish(held)
    assert held.proc.returncode == 0, held.stderr
    assert "held-rows" not in held.output
    assert "held-failed 42501" in held.output
    assert "hgate blocked this statement (rule billing-needs-approval)" in held.output
    if answer == "deny":
        assert f"request {request_id} denied by bob: no billing today" in held.output
    else:
        assert f"request {request_id} no decision in time" in held.output
    assert "next-count 3" in held.output  # the same connection still works
    check_evidence(approvals, held, "denied" if answer == "deny" else "expired")
