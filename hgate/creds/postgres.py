"""The PostgreSQL backend: one LOGIN role per session with exactly the granted privileges.

Issuing is one transaction in the granted database (create the role, grant, set its
defaults, commit), so a grant that names a missing table leaves no role behind. Every
statement is composed with `psycopg.sql`; names are `sql.Identifier`s, values
`sql.Literal`s. The password goes to the server only as a SCRAM verifier.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from hgate.creds.interface import (
    CredentialBackend,
    CredentialBackendError,
    IssuedCredential,
    Revocation,
    RevocationError,
    Secret,
    SessionTerms,
)
from hgate.creds.postgres_roles import (
    connect,
    describe,
    drop_role,
    new_role_name,
    role_comment,
    scram_verifier,
)
from hgate.policy.grants import ALL_TABLES, DatabaseGrant, TableGrant

_SERIAL_SEQUENCES = (
    "SELECT sn.nspname, s.relname FROM pg_depend d "
    "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
    "JOIN pg_namespace sn ON sn.oid = s.relnamespace "
    "JOIN pg_class t ON t.oid = d.refobjid "
    "JOIN pg_namespace tn ON tn.oid = t.relnamespace "
    "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
    "AND d.deptype = 'a' AND tn.nspname = %s AND t.relname = %s"
)


class PostgresBackend(CredentialBackend):
    """Creates `hgate_s_<random>` from the admin DSN hgate holds; the agent never sees it."""

    name = "postgres"

    def __init__(self, grant: DatabaseGrant, admin_dsn: str) -> None:
        self._grant = grant
        self._admin_dsn = admin_dsn

    def issue(self, terms: SessionTerms) -> IssuedCredential:
        grant = self._grant
        role, password = new_role_name(), secrets.token_urlsafe(24)
        statements = _role_statements(grant, role, password, terms)
        try:
            with connect(self._admin_dsn, dbname=grant.name, autocommit=False) as conn:
                for statement in statements:
                    conn.execute(statement)
                sequences = _grant_sequences(conn, grant, role)
                host, port = str(conn.info.host), int(conn.info.port)
        except (CredentialBackendError, psycopg.Error) as exc:
            self._cleanup(role)
            detail = exc.message if isinstance(exc, CredentialBackendError) else describe(exc)
            raise CredentialBackendError(
                f"cannot create the session role in database {grant.name!r}: {detail}",
                remedy="check the grant's database, schemas and tables, and that the admin "
                "role may grant them (docs/credentials.md)",
            ) from exc
        except BaseException:
            self._cleanup(role)
            raise
        env = _environment(grant, role, password, host, port, self._admin_dsn)
        secrets_ = [Secret(kind="PG_PASSWORD", value=password)]
        secrets_ += [
            Secret(kind="PG_DSN", value=v, pieces=False)
            for k, v in env.items()
            if k == "DATABASE_URL"
        ]
        return IssuedCredential(
            backend=self.name,
            handle=role,
            environment=env,
            secrets=tuple(secrets_),
            record={
                "role": role,
                "database": grant.name,
                "host": host,
                "port": port,
                "valid_until": terms.not_after.isoformat(timespec="seconds"),
                "grant": grant.to_dict(),
                "sequences": sequences,
                "env": sorted(env),
            },
        )

    def revoke(self, issued: IssuedCredential) -> Revocation:
        record = drop_role(self._admin_dsn, issued.handle)
        return Revocation(backend=self.name, handle=issued.handle, record=record)

    def _cleanup(self, role: str) -> None:
        """After a failed issue: the transaction rolled back, but a lost COMMIT reply may not."""
        try:
            drop_role(self._admin_dsn, role)
        except RevocationError as exc:
            raise RevocationError(
                f"issuing failed and the half-made role could not be dropped: {exc.message}",
                remedy="run `hgate creds gc` once the database is reachable",
            ) from exc


def _role_statements(
    grant: DatabaseGrant, role: str, password: str, terms: SessionTerms
) -> list[sql.Composed]:
    ident = sql.Identifier(role)
    statements = [
        sql.SQL(
            "CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
            "NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {} VALID UNTIL {}"
        ).format(
            ident,
            sql.Literal(grant.connection_limit),
            sql.Literal(scram_verifier(password)),
            sql.Literal(terms.not_after.isoformat()),
        ),
        # Membership lets a non-superuser admin (CREATEROLE) end, disown and drop it later.
        sql.SQL("GRANT {} TO CURRENT_USER").format(ident),
        sql.SQL("COMMENT ON ROLE {} IS {}").format(
            ident, sql.Literal(role_comment(terms.session_id, terms.not_after))
        ),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(grant.name), ident),
    ]
    statements += [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), ident)
        for schema in grant.schemas
    ]
    statements += [_table_statement(table, ident) for table in grant.tables]
    timeout_ms = max(1, round(grant.statement_timeout * 1000))
    statements.append(
        sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(ident, sql.Literal(timeout_ms))
    )
    if grant.read_only:
        statements.append(
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ident)
        )
    return statements


def _table_statement(table: TableGrant, role: sql.Identifier) -> sql.Composed:
    if table.columns:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
        privileges = sql.SQL(", ").join(
            sql.SQL("{} ({})").format(sql.SQL(p), columns) for p in table.privileges
        )
    else:
        privileges = sql.SQL(", ").join(sql.SQL(p) for p in table.privileges)
    if table.table == ALL_TABLES:
        return sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(
            privileges, sql.Identifier(table.schema), role
        )
    return sql.SQL("GRANT {} ON TABLE {} TO {}").format(
        privileges, sql.Identifier(table.schema, table.table), role
    )


def _grant_sequences(conn: psycopg.Connection[Any], grant: DatabaseGrant, role: str) -> list[str]:
    """USAGE on the sequences behind serial columns of tables the role may INSERT into."""
    granted: list[str] = []
    ident = sql.Identifier(role)
    for table in grant.tables:
        if "INSERT" not in table.privileges:
            continue
        if table.table == ALL_TABLES:
            conn.execute(
                sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                    sql.Identifier(table.schema), ident
                )
            )
            granted.append(f"{table.schema}.*")
            continue
        for schema, name in conn.execute(_SERIAL_SEQUENCES, (table.schema, table.table)):
            conn.execute(
                sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                    sql.Identifier(schema, name), ident
                )
            )
            granted.append(f"{schema}.{name}")
    return granted


def _environment(
    grant: DatabaseGrant, role: str, password: str, host: str, port: int, admin_dsn: str
) -> dict[str, str]:
    """PG* variables libpq clients read, and/or a DATABASE_URL, as the grant says."""
    admin = conninfo_to_dict(admin_dsn)
    sslmode, rootcert = admin.get("sslmode"), admin.get("sslrootcert")
    env: dict[str, str] = {}
    if grant.env in ("pg", "both"):
        env |= {
            "PGHOST": host,
            "PGPORT": str(port),
            "PGDATABASE": grant.name,
            "PGUSER": role,
            "PGPASSWORD": password,
        }
        if sslmode:
            env["PGSSLMODE"] = str(sslmode)
        if rootcert:  # the CA the admin connection trusts, so verify-* means the same
            env["PGSSLROOTCERT"] = str(rootcert)
    if grant.env in ("database_url", "both"):
        params = {"sslmode": str(sslmode)} if sslmode else {}
        if rootcert:
            params["sslrootcert"] = str(rootcert)
        netloc = f"{role}:{quote(password, safe='')}@"
        if host.startswith("/"):  # a Unix-socket directory travels as a parameter
            params["host"] = host
            netloc += f":{port}"
        else:
            netloc += f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        query = f"?{urlencode(params)}" if params else ""
        env["DATABASE_URL"] = f"postgresql://{netloc}/{quote(grant.name, safe='')}{query}"
    return env
