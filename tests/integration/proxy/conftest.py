"""A session role on the real PostgreSQL fixture and a running proxy in front of it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from hgate.guard.sql_rules import KINDS, ColumnMask, SqlRule
from hgate.guard.verdict import ApprovalChannel
from hgate.mask import Masker, RegexDetector
from hgate.policy.database import DatabaseLimits, DatabasePolicy
from hgate.proxy import Upstream, connect
from hgate.proxy import messages as msg
from hgate.proxy.upstream import UpstreamConnection, read_message
from hgate.report.events import sql_records
from hgate.session import database_proxy
from hgate.session.database_proxy import DatabaseProxy
from tests.fixtures.postgres_server import PostgresServer

pytestmark = pytest.mark.integration

SSN = RegexDetector(name="ssn", kind="SSN", pattern=r"\b\d{3}-\d{2}-\d{4}\b")
EVERYTHING = SqlRule(
    name="test.everything", action="allow", kinds=tuple(k for k in KINDS if k != "grant")
)
SEED = """
CREATE TABLE patients (id int PRIMARY KEY, name text, ssn text, dob date, note varchar(200),
                       score int4, doc jsonb, mrn int8);
INSERT INTO patients VALUES
 (1, 'Alice Example', '123-45-6789', '1980-01-02', 'called 555-12-3456', 10,
  '{"a": 1}', 900001),
 (2, 'Bob Example', '987-65-4321', '1975-05-06', 'no notes', 20, '{"b": "x"}', 900002);
CREATE TABLE visits (id serial PRIMARY KEY, patient_id int, reason text, cost numeric(10,2),
                     at timestamptz DEFAULT '2024-01-01 10:00+00', flags bool[] DEFAULT '{t,f}');
INSERT INTO visits (patient_id, reason, cost) SELECT i % 2 + 1, 'reason ' || i, i * 1.5
  FROM generate_series(1, 50) i;
"""


@dataclass
class ProxyHandle:
    proxy: DatabaseProxy
    upstream: Upstream
    server: PostgresServer
    masker: Masker
    records: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def events(self) -> list[Mapping[str, Any]]:
        """Every statement record so far, one per statement (batched `sql` events are
        flushed first and flattened)."""
        self.proxy.flush()
        return list(self.records)

    def dsn(self) -> str:
        env = self.proxy.environment()
        return (
            f"host={env['PGHOST']} port={env['PGPORT']} dbname={env['PGDATABASE']} "
            f"user={env['PGUSER']} password={env['PGPASSWORD']} sslmode=disable"
        )

    def agent(self) -> Upstream:
        """The proxy as the agent sees it, for hgate's own protocol client."""
        env = self.proxy.environment()
        return Upstream(
            host="127.0.0.1", port=int(env["PGPORT"]), dbname=env["PGDATABASE"],
            user=env["PGUSER"], password=env["PGPASSWORD"], sslmode="disable",
        )  # fmt: skip

    def direct_dsn(self) -> str:
        up = self.upstream
        return (
            f"host={up.host} port={up.port} dbname={up.dbname} user={up.user} "
            f"password={up.password} sslmode=disable"
        )


@pytest.fixture
def session_role(postgres_server: PostgresServer, postgres_db: str) -> Upstream:
    """A login role like the credentials work issues: owns nothing, granted the test schema."""
    role = "agent_" + secrets.token_hex(4)
    password = secrets.token_urlsafe(16)
    postgres_server.psql(SEED, postgres_db)
    postgres_server.psql(
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}';"
        f"GRANT ALL ON SCHEMA public TO {role};"
        f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role};"
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role};",
        postgres_db,
    )
    return Upstream(
        host=postgres_server.host,
        port=postgres_server.port,
        dbname=postgres_db,
        user=role,
        password=password,
        sslmode="disable",
    )


MakeProxy = Callable[..., ProxyHandle]


@pytest.fixture(params=["uvloop", "asyncio"])
def make_proxy(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    session_role: Upstream,
    postgres_server: PostgresServer,
) -> Iterator[MakeProxy]:
    """Every proxy test runs on both loops the proxy can run on: uvloop (the `postgres`
    extra) and asyncio's own, whose transports differ in what the relay relies on
    (taking a transport over, pausing and resuming reads, closing)."""
    if request.param == "asyncio":
        monkeypatch.setattr(database_proxy, "new_event_loop", asyncio.new_event_loop)
    else:
        loop = database_proxy.new_event_loop()
        loop.close()
        assert isinstance(loop, uvloop.Loop)  # the test extra installs it
    started: list[DatabaseProxy] = []

    def make(
        *,
        rules: tuple[SqlRule, ...] = (EVERYTHING,),
        masks: tuple[ColumnMask, ...] = (),
        content: bool = True,
        default: str = "block",
        limits: DatabaseLimits | None = None,
        allow_function_call: bool = False,
        approvals: ApprovalChannel | None = None,
    ) -> ProxyHandle:
        policy = DatabasePolicy(
            proxy=True,
            default="allow" if default == "allow" else "block",
            rules=rules,
            masks=masks,
            content=content,
            limits=limits or DatabaseLimits(),
            allow_function_call=allow_function_call,
        )
        masker = Masker(key=b"k" * 32, detectors=[SSN])
        proxy = DatabaseProxy(policy, session_role)
        started.append(proxy)
        handle = ProxyHandle(
            proxy=proxy, upstream=session_role, server=postgres_server, masker=masker
        )
        proxy.start(
            masker=masker,
            append=lambda kind, data: handle.records.extend(sql_records(data)),
            approvals=approvals,
        )
        return handle

    yield make
    for proxy in started:
        proxy.close()


@pytest.fixture
def proxy(make_proxy: MakeProxy) -> ProxyHandle:
    return make_proxy()


async def replies(conn: UpstreamConnection, ready: int) -> list[tuple[str, bytes]]:
    """Every reply up to the `ready`-th ReadyForQuery, as (type letter, body); ends with
    ("EOF", b"") if the proxy closed the connection first."""
    out: list[tuple[str, bytes]] = []
    while ready:
        try:
            kind, body = await read_message(conn.reader, 1 << 20)
        except (asyncio.IncompleteReadError, ConnectionError):
            out.append(("EOF", b""))
            break
        out.append((chr(kind), body))
        ready -= kind == ord("Z")
    return out


def converse(
    handle: ProxyHandle, steps: list[tuple[bytes, int]], *, pieces: int = 1
) -> list[tuple[str, bytes]]:
    """Log in, then for each (payload, n): send payload (in `pieces` writes with a pause
    after each, so the proxy reads them apart) and read the replies up to the n-th
    ReadyForQuery. Returns every reply, as `replies` does."""
    agent = handle.agent()

    async def run() -> list[tuple[str, bytes]]:
        conn = await connect(agent, {})
        out: list[tuple[str, bytes]] = []
        try:
            for payload, ready in steps:
                step = max(1, -(-len(payload) // pieces))
                for at in range(0, len(payload), step):
                    conn.writer.write(payload[at : at + step])
                    if pieces > 1:
                        await conn.writer.drain()
                        await asyncio.sleep(0.002)
                out += await replies(conn, ready)
                if out and out[-1][0] == "EOF":
                    break
            return out
        finally:
            conn.close()
            with contextlib.suppress(ConnectionError):
                await conn.writer.wait_closed()

    return asyncio.run(asyncio.wait_for(run(), 60))


def bind(portal: str, statement: str) -> bytes:
    """Bind with no parameters and text results."""
    return msg.message(b"B", msg.encode_cstring(portal) + msg.encode_cstring(statement) + b"\0" * 6)


def execute(portal: str) -> bytes:
    return msg.message(b"E", msg.encode_cstring(portal) + b"\0\0\0\0")
