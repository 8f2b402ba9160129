"""A session role, end to end: the agent (a bash script under real `hgate run`) can do
exactly what the grant says with psql, nothing else, and the role is gone afterwards."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from hgate.creds.interface import (
    CredentialBackendError,
    IssuedCredential,
    RevocationError,
    SessionTerms,
)
from hgate.creds.postgres import PostgresBackend
from hgate.creds.postgres_roles import drop_role
from hgate.policy.grants import DatabaseGrant, TableGrant
from tests.fixtures.postgres_server import PostgresServer
from tests.integration.creds.conftest import CredsGate, events

pytestmark = pytest.mark.integration

PROBE = """\
q() { echo "== $1"; psql -X -A -t -v ON_ERROR_STOP=1 -c "$2" 2>&1; echo "rc=$?"; }
q select-granted "SELECT patient FROM appointments"
q select-columns "SELECT id, name FROM patients"
q insert-granted "INSERT INTO notes (body) VALUES ('seen') RETURNING id"
q other-table "SELECT amount FROM billing"
q other-column "SELECT ssn FROM patients"
q star-on-columns "SELECT * FROM patients"
q write-not-granted "UPDATE appointments SET patient = 'x'"
q delete-not-granted "DELETE FROM notes"
q create "CREATE TABLE evil (id int)"
q create-schema "CREATE SCHEMA evil"
q timeout "SHOW statement_timeout"
"""


def sections(stdout: bytes) -> dict[str, str]:
    text = stdout.decode(errors="replace").replace("\r\n", "\n")
    return {m[0]: m[1] for m in re.findall(r"== (\S+)\n(.*?)(?=\n== |\Z)", text, re.S)}


def test_agent_can_do_exactly_what_was_granted(
    creds_gate: CredsGate, agent: Callable[[str], list[str]]
) -> None:
    run = creds_gate.run(agent(PROBE), creds_gate.database_grant())
    assert run.returncode == 0, run.stderr
    out = sections(run.stdout)
    assert out["select-granted"].startswith("p1\nrc=0")
    assert "rc=0" in out["select-columns"] and "Ann Example" in out["select-columns"]
    assert out["insert-granted"].startswith("1\n")  # the serial's sequence was granted too
    for name, table in [
        ("other-table", "billing"),
        ("other-column", "patients"),
        ("star-on-columns", "patients"),
        ("write-not-granted", "appointments"),
        ("delete-not-granted", "notes"),
    ]:
        assert f"ERROR:  permission denied for table {table}" in out[name], name
        assert "rc=1" in out[name]
    assert "permission denied for schema public" in out["create"]
    assert "permission denied for database" in out["create-schema"]
    assert out["timeout"].startswith("5s")
    assert creds_gate.session_roles() == []
    issued, revoked = (
        events(run.transcript, "credential.issued"),
        events(run.transcript, "credential.revoked"),
    )
    assert issued[0]["role"] == revoked[0]["role"] and revoked[0]["state"] == "dropped"
    assert creds_gate.gate.verify(run.transcript).returncode == 0


def test_a_read_only_grant_refuses_writes(
    creds_gate: CredsGate, agent: Callable[[str], list[str]]
) -> None:
    grant = (
        f"      database:\n        name: {creds_gate.db}\n        read_only: true\n"
        "        tables:\n          - {table: appointments, privileges: [SELECT]}\n"
    )
    script = agent(
        'q() { echo "== $1"; psql -X -A -t -c "$2" 2>&1; echo "rc=$?"; }\n'
        'q read "SELECT count(*) FROM appointments"\n'
        "q write \"INSERT INTO appointments (patient) VALUES ('x')\"\n"
        "q write-rw \"BEGIN READ WRITE; INSERT INTO appointments (patient) VALUES ('x'); END\"\n"
        'q mode "SHOW default_transaction_read_only"\n'
    )
    run = creds_gate.run(script, grant)
    out = sections(run.stdout)
    assert out["read"].startswith("1\nrc=0")
    assert "cannot execute INSERT in a read-only transaction" in out["write"]
    assert "rc=1" in out["write"]
    # Opting out of the read-only default still meets the missing privilege.
    assert "permission denied for table appointments" in out["write-rw"]
    assert out["mode"].startswith("on")
    assert creds_gate.pg.psql("SELECT count(*) FROM appointments", creds_gate.db).strip() == "1"


def test_role_and_its_connections_end_when_the_agent_is_killed(
    creds_gate: CredsGate, agent: Callable[[str], list[str]]
) -> None:
    script = agent(
        'setsid psql -X -c "SELECT pg_sleep(120)" >/dev/null 2>&1 < /dev/null &\n'
        'until psql -X -A -t -c "SELECT count(*) FROM pg_stat_activity '
        "WHERE usename = current_user AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()\" "
        "| grep -q 1; do sleep 0.1; done\n"
        "echo connected; kill -KILL $$\n"
    )
    run = creds_gate.run(script, creds_gate.database_grant())
    assert run.returncode == 128 + 9
    assert b"connected" in run.stdout
    role = events(run.transcript, "credential.issued")[0]["role"]
    assert creds_gate.session_roles() == []
    active = creds_gate.pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'")
    assert active.strip() == "0"
    revoked = events(run.transcript, "credential.revoked")[0]
    assert revoked["terminated"] >= 1


def test_a_grant_that_cannot_be_issued_starts_no_agent_and_leaves_no_role(
    creds_gate: CredsGate, agent: Callable[[str], list[str]]
) -> None:
    grant = (
        f"      database:\n        name: {creds_gate.db}\n"
        "        tables:\n          - {table: no_such_table, privileges: [SELECT]}\n"
    )
    marker = creds_gate.gate.tmp_path / "agent-ran"
    run = creds_gate.run(agent(f"touch {marker}\n"), grant)
    assert run.returncode == 68
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("hgate: error: cannot create the session role in database")
    assert 'relation "public.no_such_table" does not exist' in last
    assert not marker.exists()
    assert creds_gate.session_roles() == []
    assert creds_gate.pg.password not in run.stderr


def test_a_database_grant_without_an_admin_dsn_is_refused(
    creds_gate: CredsGate, agent: Callable[[str], list[str]]
) -> None:
    env = creds_gate.gate.env()  # no HGATE_ADMIN_DSN
    policy = creds_gate.policy(creds_gate.database_grant())
    run = creds_gate.gate.run(agent("true\n"), policy=policy, env=env)
    assert run.returncode == 67
    assert "HGATE_ADMIN_DSN is not set" in run.stderr


def test_a_non_superuser_admin_can_issue_and_revoke(
    postgres_server: PostgresServer, postgres_db: str
) -> None:
    """The set-up docs/credentials.md recommends: CREATEROLE plus grant options, no superuser."""
    password = "issuer-" + datetime.now(UTC).strftime("%f")
    postgres_server.psql(
        f"CREATE ROLE hgate_issuer LOGIN CREATEROLE PASSWORD '{password}';"
        f'GRANT CONNECT ON DATABASE "{postgres_db}" TO hgate_issuer WITH GRANT OPTION;'
    )
    postgres_server.psql(
        "CREATE TABLE visits (id serial PRIMARY KEY, note text);"
        "GRANT USAGE ON SCHEMA public TO hgate_issuer WITH GRANT OPTION;"
        "GRANT SELECT, INSERT ON visits TO hgate_issuer WITH GRANT OPTION;"
        "GRANT USAGE ON SEQUENCE visits_id_seq TO hgate_issuer WITH GRANT OPTION;",
        postgres_db,
    )
    admin = postgres_server.dsn("postgres", user="hgate_issuer", password=password)
    grant = DatabaseGrant(
        name=postgres_db,
        schemas=("public",),
        tables=(TableGrant(schema="public", table="visits", privileges=("SELECT", "INSERT")),),
        read_only=False,
    )
    backend = PostgresBackend(grant, admin)
    try:
        issued = backend.issue(_terms(minutes=5))
        env = issued.environment
        dsn = postgres_server.dsn(postgres_db, user=env["PGUSER"], password=env["PGPASSWORD"])
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO visits (note) VALUES ('ok')")
            assert backend.revoke(issued).record["terminated"] == 1
        assert (
            postgres_server.psql(
                f"SELECT count(*) FROM pg_roles WHERE rolname = '{issued.handle}'"
            ).strip()
            == "0"
        )
        assert backend.revoke(issued).record["state"] == "absent"
    finally:
        postgres_server.psql(f'REVOKE ALL ON DATABASE "{postgres_db}" FROM hgate_issuer CASCADE')
        postgres_server.psql("DROP OWNED BY hgate_issuer CASCADE", postgres_db)
        postgres_server.psql("DROP ROLE hgate_issuer")


def test_a_wrong_admin_password_is_one_line_without_the_password(
    postgres_server: PostgresServer, postgres_db: str
) -> None:
    grant = DatabaseGrant(
        name=postgres_db,
        schemas=("public",),
        tables=(TableGrant(schema="public", table="*", privileges=("SELECT",)),),
        read_only=True,
    )
    wrong = "not-the-password-42"
    backend = PostgresBackend(grant, postgres_server.dsn("postgres", password=wrong))
    with pytest.raises(CredentialBackendError, match="password authentication failed") as info:
        backend.issue(_terms(minutes=5))
    assert wrong not in str(info.value)
    with pytest.raises(RevocationError, match="not an hgate session role"):
        drop_role(postgres_server.dsn(), "postgres")


def _terms(*, minutes: float) -> SessionTerms:
    now = datetime.now(UTC)
    return SessionTerms(
        session_id="test-session",
        subject="pytest",
        rule="test",
        not_before=now,
        not_after=now + timedelta(minutes=minutes),
    )


@pytest.fixture
def issuer(postgres_server: PostgresServer, postgres_db: str) -> Iterator[str]:
    """The non-superuser admin docs/credentials.md recommends, on a cluster where PUBLIC
    may still CREATE in `public` (the default before PostgreSQL 15, kept by pg_upgrade)."""
    password = "issuer-" + datetime.now(UTC).strftime("%f")
    postgres_server.psql(
        f"CREATE ROLE hgate_issuer LOGIN CREATEROLE PASSWORD '{password}';"
        f'GRANT CONNECT ON DATABASE "{postgres_db}" TO hgate_issuer WITH GRANT OPTION;'
        "GRANT CREATE ON SCHEMA public TO PUBLIC;"
    )
    postgres_server.psql(
        "CREATE TABLE visits (id serial PRIMARY KEY, note text);"
        "GRANT USAGE ON SCHEMA public TO hgate_issuer WITH GRANT OPTION;"
        "GRANT SELECT ON visits TO hgate_issuer WITH GRANT OPTION;"
        "GRANT CREATE ON SCHEMA public TO PUBLIC;",
        postgres_db,
    )
    try:
        yield postgres_server.dsn("postgres", user="hgate_issuer", password=password)
    finally:
        postgres_server.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", postgres_db)
        postgres_server.psql(
            "DROP FUNCTION IF EXISTS public.pg_terminate_backend(integer, smallint);"
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
            "DROP ROLE IF EXISTS hgate_hijacked;"
            f'REVOKE ALL ON DATABASE "{postgres_db}" FROM hgate_issuer CASCADE;'
        )
        postgres_server.psql("DROP OWNED BY hgate_issuer CASCADE", postgres_db)
        postgres_server.psql("DROP OWNED BY hgate_issuer CASCADE")
        postgres_server.psql("DROP ROLE hgate_issuer")


def _read_visits(postgres_db: str, issuer: str) -> tuple[PostgresBackend, IssuedCredential]:
    """A session role that may read `visits`, issued by `issuer`."""
    grant = DatabaseGrant(
        name=postgres_db,
        schemas=("public",),
        tables=(TableGrant(schema="public", table="visits", privileges=("SELECT",)),),
        read_only=True,
    )
    backend = PostgresBackend(grant, issuer)
    return backend, backend.issue(_terms(minutes=5))


def test_revocation_runs_nothing_the_session_role_planted(
    postgres_server: PostgresServer, postgres_db: str, issuer: str
) -> None:
    """A session role plants an overload of a function revocation calls, where the
    admin's default search_path would find it, and keeps a connection open so that
    revocation calls it; it must not run with the admin's rights (CVE-2018-1058)."""
    backend, issued = _read_visits(postgres_db, issuer)
    env = issued.environment
    as_agent = postgres_server.dsn("postgres", user=env["PGUSER"], password=env["PGPASSWORD"])
    with psycopg.connect(as_agent, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute(
            "CREATE FUNCTION public.pg_terminate_backend(integer, smallint) RETURNS boolean "
            "LANGUAGE plpgsql AS $$ BEGIN CREATE ROLE hgate_hijacked; "
            "RETURN pg_catalog.pg_terminate_backend($1, $2::bigint); END $$"
        )
        assert backend.revoke(issued).record["terminated"] == 1
    hijacked = postgres_server.psql(
        "SELECT count(*) FROM pg_roles WHERE rolname = 'hgate_hijacked'"
    )
    assert hijacked.strip() == "0", "revocation ran the session role's function as the admin"


def test_what_the_session_role_made_is_dropped_not_handed_to_the_admin(
    postgres_server: PostgresServer, postgres_db: str, issuer: str
) -> None:
    """A SECURITY DEFINER function or a large object the session made would outlive it,
    owned by the admin, if revocation reassigned them; they are dropped with the role."""
    backend, issued = _read_visits(postgres_db, issuer)
    env = issued.environment
    as_agent = postgres_server.dsn(postgres_db, user=env["PGUSER"], password=env["PGPASSWORD"])
    with psycopg.connect(as_agent, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute(
            "CREATE FUNCTION public.door() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"
        )
        conn.execute("SELECT lo_from_bytea(0, 'synthetic data left behind')")
    backend.revoke(issued)
    left = postgres_server.psql(
        "SELECT (SELECT count(*) FROM pg_proc WHERE proname = 'door') + "
        "(SELECT count(*) FROM pg_largeobject_metadata)",
        postgres_db,
    )
    assert left.strip() == "0", "objects the session made outlived its role"


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://hgate_issuer:Sup3r%zzSynthetic9@127.0.0.1:1/postgres",
        "host=127.0.0.1 password=Sup3r Synthetic9",
    ],
)
def test_an_admin_dsn_that_does_not_parse_is_refused_without_quoting_it(dsn: str) -> None:
    """libpq's parse errors quote the text they could not read: often the password."""
    with pytest.raises(CredentialBackendError, match="cannot be parsed") as info:
        drop_role(dsn, "hgate_s_000000000000")
    assert "Synthetic9" not in str(info.value) and "Synthetic9" not in str(info.value.remedy)
