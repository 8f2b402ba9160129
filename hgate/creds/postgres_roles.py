"""Session roles in a PostgreSQL cluster: naming, the end-time marker, dropping, and gc.

Every role hgate creates is called `hgate_s_<random>` and carries a comment
`hgate session <id> ends <UTC time>`, so an operator can read it in `pg_roles` and
`hgate creds gc` can drop the roles of sessions that ended without cleaning up (a
runner killed with SIGKILL). `VALID UNTIL` stops new logins at the same time, but does
not end open connections: dropping always terminates them first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hgate.creds.interface import CredentialBackendError, RevocationError

ROLE_PREFIX = "hgate_s_"
_ROLE_LIKE = ROLE_PREFIX.replace("_", r"\_") + "%"
_ROLE_NAME = re.compile(r"^hgate_s_[0-9a-f]{12}$")
_MARKER = re.compile(r"^hgate session (?P<session>\S+) ends (?P<ends>\S+)")
SCRAM_ITERATIONS = 4096
TERMINATE_WAIT_MS = 5000
_SEQUENCE_PRIVILEGES = {"USAGE": "USAGE", "SELECT": "SELECT", "UPDATE": "UPDATE"}
_SEQUENCE_GRANTS = (
    "SELECT n.nspname, c.relname, a.privilege_type FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
    "WHERE c.relkind = 'S' AND a.grantee = %s AND a.grantor = "
    "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
)


def new_role_name() -> str:
    return ROLE_PREFIX + secrets.token_hex(6)


def role_comment(session_id: str, ends: datetime) -> str:
    return f"hgate session {session_id} ends {ends.astimezone(UTC).isoformat(timespec='seconds')}"


def comment_end(comment: str | None) -> datetime | None:
    """The session end a role's comment records, or None when it is not hgate's marker."""
    match = _MARKER.match(comment or "")
    if match is None:
        return None
    try:
        ends = datetime.fromisoformat(match.group("ends"))
    except ValueError:
        return None
    return ends if ends.tzinfo is not None else ends.replace(tzinfo=UTC)


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed here so the plain password
    never travels to the server (or into its statement log)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def describe(exc: psycopg.Error, hide: Iterable[str] = ()) -> str:
    """One line about a psycopg error: the server's primary message, or libpq's first line."""
    primary = getattr(exc.diag, "message_primary", None)
    lines = str(exc).strip().splitlines()
    line = str(primary or (lines[0] if lines else type(exc).__name__))
    for value in hide:
        if value:
            line = line.replace(value, "***")
    return line


@contextmanager
def connect(
    admin_dsn: str, *, dbname: str | None = None, autocommit: bool = True
) -> Iterator[psycopg.Connection[Any]]:
    """An admin connection (to `dbname` instead of the DSN's own database, when given).

    Its search_path is `pg_catalog, pg_temp` before anything runs: session roles may
    create functions and operators in schemas on the default path (`public` on clusters
    older than 15), and an overload there that matches a call better than the built-in
    one would run with the admin's rights (CVE-2018-1058)."""
    extra: dict[str, Any] = {"connect_timeout": 10, "application_name": "hgate"}
    if dbname is not None:
        extra["dbname"] = dbname
    conninfo = admin_dsn_conninfo(admin_dsn, **extra)
    try:
        conn = psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.Error as exc:
        raise CredentialBackendError(
            f"cannot connect with the admin DSN: {describe(exc, hide=_secrets_of(admin_dsn))}",
            remedy="check HGATE_ADMIN_DSN (host, port, user, password, database)",
        ) from exc
    with conn:
        conn.execute("SET search_path = pg_catalog, pg_temp")
        if not autocommit:
            conn.commit()
        yield conn


def admin_dsn_conninfo(admin_dsn: str, **extra: Any) -> str:
    """The DSN with `extra` parameters; one that does not parse is refused without
    libpq's message, which quotes the text it could not read (the password, often)."""
    try:
        return make_conninfo(admin_dsn, **extra)
    except (psycopg.Error, ValueError):
        raise CredentialBackendError(
            "the admin DSN cannot be parsed",
            remedy="check HGATE_ADMIN_DSN: a key=value string or a postgresql:// URL "
            "(percent-encode special characters in the password)",
        ) from None


def _secrets_of(admin_dsn: str) -> tuple[str, ...]:
    password = conninfo_to_dict(admin_dsn).get("password")
    return (str(password),) if password else ()


def drop_role(admin_dsn: str, role: str) -> dict[str, Any]:
    """End the role's connections, remove what it owns or was granted everywhere, drop it.

    Idempotent: a role that no longer exists is reported as `absent`.
    """
    if not _ROLE_NAME.match(role):
        raise RevocationError(f"refusing to drop {role!r}: not an hgate session role")
    ident = sql.Identifier(role)
    try:
        with connect(admin_dsn) as conn:
            row = conn.execute("SELECT oid FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if row is None:
                return {"role": role, "state": "absent"}
            oid = int(row[0])
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN CONNECTION LIMIT 0").format(ident))
            terminated = _terminate(conn, oid)
            databases = [
                str(r[0])
                for r in conn.execute(
                    "SELECT DISTINCT d.datname FROM pg_shdepend s "
                    "JOIN pg_database d ON d.oid = s.dbid "
                    "WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = %s "
                    "AND d.datallowconn ORDER BY 1",
                    (oid,),
                )
            ]
            current = str(conn.info.dbname)
            for dbname in databases:
                if dbname != current:
                    with connect(admin_dsn, dbname=dbname) as other:
                        _drop_owned(other, ident, oid)
            _drop_owned(conn, ident, oid)  # also revokes privileges on shared objects (CONNECT)
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
            terminated += _terminate(conn, oid)  # a login that raced the NOLOGIN
    except CredentialBackendError as exc:
        raise RevocationError(f"role {role} may still exist: {exc.message}") from exc
    except psycopg.Error as exc:
        raise RevocationError(f"role {role} may still exist: {describe(exc)}") from exc
    return {"role": role, "state": "dropped", "terminated": terminated, "databases": databases}


def _terminate(conn: psycopg.Connection[Any], oid: int) -> int:
    rows = conn.execute(
        "SELECT pg_catalog.pg_terminate_backend(pid, %s) FROM pg_catalog.pg_stat_activity "
        "WHERE usesysid = %s AND pid <> pg_catalog.pg_backend_pid()",
        (TERMINATE_WAIT_MS, oid),
    ).fetchall()
    return len(rows)


def _drop_owned(conn: psycopg.Connection[Any], ident: sql.Identifier, oid: int) -> None:
    # A non-owner's DROP OWNED revokes ALL on sequences, which PostgreSQL refuses without
    # every column privilege; revoking exactly what the role holds first avoids that.
    rows = conn.execute(_SEQUENCE_GRANTS, (oid,)).fetchall()
    for schema, name, privilege in rows:
        if privilege in _SEQUENCE_PRIVILEGES:
            conn.execute(
                sql.SQL("REVOKE {} ON SEQUENCE {} FROM {}").format(
                    sql.SQL(_SEQUENCE_PRIVILEGES[privilege]), sql.Identifier(schema, name), ident
                )
            )
    # never REASSIGN OWNED: what the session made (a SECURITY DEFINER function, a large
    # object holding data) would live on, owned by the admin
    conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))


@dataclass(frozen=True, slots=True, kw_only=True)
class GcReport:
    """What `hgate creds gc` found: dropped roles, roles still in use, and failures."""

    dropped: tuple[str, ...] = ()
    active: tuple[tuple[str, datetime], ...] = ()  # (role, session end)
    unmarked: tuple[str, ...] = ()  # prefix matches, but no end time to go by: left alone
    failed: tuple[tuple[str, str], ...] = field(default=())  # (role, reason)


def collect_garbage(admin_dsn: str, *, now: datetime, dry_run: bool = False) -> GcReport:
    """Drop every hgate session role whose session has ended (comment, else VALID UNTIL)."""
    try:
        with connect(admin_dsn) as conn:
            rows = conn.execute(
                "SELECT rolname, shobj_description(oid, 'pg_authid'), "
                "CASE WHEN isfinite(rolvaliduntil) THEN rolvaliduntil END "
                "FROM pg_roles WHERE rolname LIKE %s ORDER BY rolname",
                (_ROLE_LIKE,),
            ).fetchall()
    except psycopg.Error as exc:
        raise CredentialBackendError(f"cannot list session roles: {describe(exc)}") from exc
    dropped: list[str] = []
    active: list[tuple[str, datetime]] = []
    unmarked: list[str] = []
    failed: list[tuple[str, str]] = []
    for name, comment, valid_until in rows:
        ends = comment_end(comment) or valid_until
        if not _ROLE_NAME.match(name) or ends is None:
            unmarked.append(name)
        elif ends > now:
            active.append((name, ends))
        elif dry_run:
            dropped.append(name)
        else:
            try:
                drop_role(admin_dsn, name)
                dropped.append(name)
            except RevocationError as exc:
                failed.append((name, exc.message))
    return GcReport(
        dropped=tuple(dropped), active=tuple(active), unmarked=tuple(unmarked), failed=tuple(failed)
    )
