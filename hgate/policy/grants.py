"""The `database:` and `ssh:` grants of an identity rule: what the session's credentials allow.

A grant names resources and privileges only. The admin DSN and the SSH CA key that
turn a grant into a credential are never in the policy: hgate reads them from its own
environment (see docs/credentials.md). Everything not named here is denied.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from hgate.policy.document import Node

Privilege = Literal["SELECT", "INSERT", "UPDATE", "DELETE"]
PRIVILEGES: tuple[Privilege, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE")
EnvStyle = Literal["pg", "database_url", "both"]
ENV_STYLES: tuple[EnvStyle, ...] = ("pg", "database_url", "both")
SSH_EXTENSIONS = (
    "permit-pty",
    "permit-user-rc",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-X11-forwarding",
)
MAX_STATEMENT_TIMEOUT = 2_147_483.0  # seconds: PostgreSQL takes at most 2^31-1 milliseconds
ALL_TABLES = "*"
DATABASE_KEYS = (
    "name",
    "schemas",
    "tables",
    "read_only",
    "statement_timeout",
    "connection_limit",
    "env",
)
TABLE_KEYS = ("schema", "table", "privileges", "columns")
SSH_KEYS = (
    "hosts",
    "user",
    "principals",
    "validity",
    "source_address",
    "force_command",
    "extensions",
    "host_ca",
)
HOST_KEYS = ("host", "port", "host_keys")
_IDENT = re.compile(r"^[^\x00-\x1f\x7f]{1,63}$")
_HOST_PATTERN = re.compile(r"^[A-Za-z0-9.*?_:\[\]-]{1,253}$")
_PRINCIPAL = re.compile(r"^[^\s,\x00-\x1f\x7f]{1,255}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TableGrant:
    """Privileges on one table (or `*`: every table of the schema); columns narrow them."""

    schema: str
    table: str
    privileges: tuple[Privilege, ...]
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": f"{self.schema}.{self.table}"}
        out["privileges"] = list(self.privileges)
        if self.columns:
            out["columns"] = list(self.columns)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseGrant:
    """One database: CONNECT, USAGE on its schemas, and exactly these table privileges."""

    name: str
    schemas: tuple[str, ...]  # USAGE: the listed schemas plus every table's schema
    tables: tuple[TableGrant, ...]
    read_only: bool
    statement_timeout: float = 60.0
    connection_limit: int = 5
    env: EnvStyle = "pg"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schemas": list(self.schemas),
            "tables": [t.to_dict() for t in self.tables],
            "read_only": self.read_only,
            "statement_timeout": self.statement_timeout,
            "connection_limit": self.connection_limit,
            "env": self.env,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SshHost:
    """A host pattern the agent may reach, and the host keys its known_hosts pins."""

    host: str
    port: int = 22
    host_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SshGrant:
    """One OpenSSH user certificate: principals, validity, options and extensions."""

    hosts: tuple[SshHost, ...]
    principals: tuple[str, ...]
    user: str
    validity: float | None = None  # None: until the session's end
    source_address: tuple[str, ...] = ()
    force_command: str | None = None
    extensions: tuple[str, ...] = ("permit-pty",)
    host_ca: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": [f"{h.host}:{h.port}" for h in self.hosts],
            "principals": list(self.principals),
            "user": self.user,
            "validity": self.validity,
            "source_address": list(self.source_address),
            "force_command": self.force_command,
            "extensions": list(self.extensions),
        }


def parse_database_grant(node: Node) -> DatabaseGrant:
    fields = node.mapping(DATABASE_KEYS, required=("name", "tables"))
    tables = tuple(_table(item) for item in fields["tables"].items())
    if not tables:
        fields["tables"].fail("grant at least one table (default deny: no tables, no grant)")
    schemas: list[str] = []
    if (schemas_node := fields.get("schemas")) is not None:
        schemas = [_identifier(s) for s in schemas_node.items()]
    for table in tables:
        if table.schema not in schemas:
            schemas.append(table.schema)
    writes = any(p != "SELECT" for t in tables for p in t.privileges)
    read_only = writes is False
    if (ro_node := fields.get("read_only")) is not None:
        read_only = ro_node.boolean()
        if read_only and writes:
            ro_node.fail("a read_only grant may only give SELECT; remove the write privileges")
    timeout = fields.get("statement_timeout")
    limit = fields.get("connection_limit")
    env = fields.get("env")
    return DatabaseGrant(
        name=_identifier(fields["name"]),
        schemas=tuple(schemas),
        tables=tables,
        read_only=read_only,
        statement_timeout=timeout.duration(
            maximum=MAX_STATEMENT_TIMEOUT, why="PostgreSQL's limit for statement_timeout"
        )
        if timeout is not None
        else 60.0,
        connection_limit=limit.integer(minimum=1, maximum=100) if limit is not None else 5,
        env=_env_style(env) if env is not None else "pg",
    )


def _table(item: Node) -> TableGrant:
    fields = item.mapping(TABLE_KEYS, required=("table", "privileges"))
    schema = _identifier(s) if (s := fields.get("schema")) is not None else "public"
    table_node = fields["table"]
    table = table_node.string()
    if table != ALL_TABLES:
        table = _identifier(table_node)
    privileges: list[Privilege] = []
    for priv_node in fields["privileges"].items():
        privilege = _privilege(priv_node)
        if privilege in privileges:
            priv_node.fail(f"{privilege} is listed twice")
        privileges.append(privilege)
    if not privileges:
        fields["privileges"].fail("list at least one of " + ", ".join(PRIVILEGES))
    columns: tuple[str, ...] = ()
    if (col_node := fields.get("columns")) is not None:
        columns = tuple(_identifier(c) for c in col_node.items())
        if not columns:
            col_node.fail("an empty column list grants nothing; remove `columns` or name some")
        if table == ALL_TABLES:
            col_node.fail("columns can only narrow a named table, not `*`")
        if "DELETE" in privileges:
            col_node.fail("DELETE applies to whole rows; it cannot be limited to columns")
    return TableGrant(schema=schema, table=table, privileges=tuple(privileges), columns=columns)


def _privilege(node: Node) -> Privilege:
    value = node.string().upper()
    for privilege in PRIVILEGES:
        if value == privilege:
            return privilege
    node.fail(f"unknown privilege {node.string()!r}; expected one of {', '.join(PRIVILEGES)}")


def _env_style(node: Node) -> EnvStyle:
    choice = node.choice(ENV_STYLES)
    return "database_url" if choice == "database_url" else "both" if choice == "both" else "pg"


def _identifier(node: Node) -> str:
    """A PostgreSQL name as written (quoted by hgate, never interpolated)."""
    value = node.string()
    if not _IDENT.match(value):
        node.fail(f"{value!r} is not a PostgreSQL name (1-63 printable characters)")
    return value


def parse_ssh_grant(node: Node) -> SshGrant:
    fields = node.mapping(SSH_KEYS, required=("hosts", "principals"))
    principals = tuple(_principal(p) for p in fields["principals"].items())
    if not principals:
        fields["principals"].fail("name at least one principal")
    host_ca = _public_key(c) if (c := fields.get("host_ca")) is not None else None
    hosts = tuple(_host(h, pinned=host_ca is not None) for h in fields["hosts"].items())
    if not hosts:
        fields["hosts"].fail("name at least one host")
    extensions: tuple[str, ...] = ("permit-pty",)
    if (ext_node := fields.get("extensions")) is not None:
        extensions = tuple(e.choice(SSH_EXTENSIONS) for e in ext_node.items())
    sources: tuple[str, ...] = ()
    if (src_node := fields.get("source_address")) is not None:
        sources = tuple(_network(s) for s in src_node.items())
        if not sources:
            src_node.fail("an empty source_address list would admit nobody; remove the key")
    command = None
    if (cmd_node := fields.get("force_command")) is not None:
        command = cmd_node.string()
        if not command.strip() or "\n" in command or "\x00" in command:
            cmd_node.fail("force_command must be one non-empty line")
    user = _principal(u) if (u := fields.get("user")) is not None else principals[0]
    validity = fields.get("validity")
    return SshGrant(
        hosts=hosts,
        principals=principals,
        user=user,
        validity=validity.duration() if validity is not None else None,
        source_address=sources,
        force_command=command,
        extensions=extensions,
        host_ca=host_ca,
    )


def _host(item: Node, *, pinned: bool) -> SshHost:
    fields = item.mapping(HOST_KEYS, required=("host",))
    host = fields["host"].string()
    if not _HOST_PATTERN.match(host):
        fields["host"].fail(f"{host!r} is not a host name, address or ssh_config pattern")
    port = fields.get("port")
    keys: tuple[str, ...] = ()
    if (keys_node := fields.get("host_keys")) is not None:
        keys = tuple(_public_key(k) for k in keys_node.items())
    if not keys and not pinned:
        item.fail(
            "hgate writes a strict known_hosts: give this host's `host_keys` "
            "(or a grant-level `host_ca`)"
        )
    return SshHost(
        host=host,
        port=port.integer(minimum=1, maximum=65535) if port is not None else 22,
        host_keys=keys,
    )


def _public_key(node: Node) -> str:
    """An OpenSSH public key line (`type base64 [comment]`), checked, comment dropped."""
    text = node.string().strip()
    parts = text.split()
    try:
        load_ssh_public_key(" ".join(parts[:2]).encode())
    except (ValueError, IndexError, TypeError) as exc:
        node.fail(f"not an OpenSSH public key line ({type(exc).__name__})")
    return " ".join(parts[:2])


def _principal(node: Node) -> str:
    value = node.string()
    if not _PRINCIPAL.match(value):
        node.fail(f"{value!r} is not a principal (no spaces, commas or control characters)")
    return value


def _network(node: Node) -> str:
    value = node.string()
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        node.fail(f"{value!r} is not an address or CIDR block")
