"""Startup, authentication, cancel, fast-path refusal and pgbench through the proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import struct
import subprocess
import time

import psycopg
import pytest

from hgate.proxy import Upstream, UpstreamError, connect
from hgate.proxy import messages as msg
from hgate.proxy.upstream import read_message
from tests.integration.proxy.conftest import ProxyHandle

pytestmark = pytest.mark.integration


def _raw(handle: ProxyHandle, payload: bytes, read: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", handle.proxy.port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while len(data) < read:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def _startup(params: dict[str, str], version: int = 196608) -> bytes:
    body = struct.pack("!i", version)
    for key, value in params.items():
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def _agent(handle: ProxyHandle, *, password: str | None = None) -> Upstream:
    agent = handle.agent()
    return agent if password is None else dataclasses.replace(agent, password=password)


def test_ssl_and_gssenc_requests_get_n(proxy: ProxyHandle) -> None:
    assert _raw(proxy, struct.pack("!ii", 8, 80877103)) == b"N"
    assert _raw(proxy, struct.pack("!ii", 8, 80877104)) == b"N"
    with psycopg.connect(proxy.dsn().replace("sslmode=disable", "sslmode=prefer")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_direct_tls_hello_is_closed(proxy: ProxyHandle) -> None:
    hello = bytes([0x16, 0x03, 0x01, 0x00, 0xA5, 0x01]) + b"\0" * 64
    assert _raw(proxy, hello) == b""
    with psycopg.connect(proxy.dsn()) as conn:  # the proxy is still serving
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_newer_minor_and_pq_options_get_negotiate_protocol_version(proxy: ProxyHandle) -> None:
    env = proxy.proxy.environment()
    packet = _startup(
        {"user": env["PGUSER"], "database": env["PGDATABASE"], "_pq_.fancy": "1"},
        version=(3 << 16) | 2,
    )
    reply = _raw(proxy, packet, read=9)
    assert reply[:1] == b"v"
    newest, count = struct.unpack_from("!ii", reply, 5)
    assert (newest, count) == (0, 1)
    assert b"_pq_.fancy\0" in reply


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"options": "-c role=hgate_admin"}, "42501", "startup options"),
        ({"options": "-c search_path=evil"}, "42501", "startup options"),
        ({"replication": "database"}, "42501", "replication"),
        ({"database": "postgres"}, "3D000", "not available"),
        ({"user": "hgate_admin"}, "28P01", "password authentication failed"),
    ],
)
def test_startup_refusals(proxy: ProxyHandle, params: dict[str, str], code: str, text: str) -> None:
    env = proxy.proxy.environment()
    reply = _raw(
        proxy, _startup({"user": env["PGUSER"], "database": env["PGDATABASE"], **params}), 64
    )
    assert reply[:1] == b"E"
    fields = dict(msg.parse_fields(reply[5:]))
    assert fields["S"] == "FATAL" and fields["C"] == code and text in fields["M"]


def test_wrong_password_is_refused(proxy: ProxyHandle) -> None:
    with pytest.raises(UpstreamError, match="password authentication failed"):
        asyncio.run(connect(_agent(proxy, password="wrong"), {}))


def test_unknown_startup_gucs_are_dropped(proxy: ProxyHandle) -> None:
    async def run() -> list[str]:
        conn = await connect(_agent(proxy), {"search_path": "evil", "application_name": "me"})
        try:
            conn.writer.write(msg.query("SHOW search_path; SHOW application_name"))
            values = []
            while True:
                kind, body = await read_message(conn.reader, 1 << 20)
                if kind == ord("D"):
                    values.append((msg.parse_data_row(body)[0] or b"").decode())
                if kind == ord("Z"):
                    return values
        finally:
            conn.close()
            await conn.writer.wait_closed()

    assert asyncio.run(run()) == ['"$user", public', "me"]


def test_function_call_is_refused_and_session_goes_on(proxy: ProxyHandle) -> None:
    async def run() -> tuple[dict[str, str], bytes, list[bytes]]:
        conn = await connect(_agent(proxy), {})
        try:
            # FunctionCall: oid of pg_backend_pid (2026), no args, text result
            call = struct.pack("!ihhh", 2026, 0, 0, 0)
            conn.writer.write(msg.message(b"F", call) + msg.query("SELECT 5"))
            kinds: list[bytes] = []
            error: dict[str, str] = {}
            status = b""
            while len(kinds) < 6:
                kind, body = await read_message(conn.reader, 1 << 20)
                kinds.append(bytes([kind]))
                if kind == ord("E"):
                    error = dict(msg.parse_fields(body))
                if kind == ord("Z") and not status:
                    status = body
                if kinds.count(b"Z") == 2:
                    break
            return error, status, kinds
        finally:
            conn.close()
            await conn.writer.wait_closed()

    error, status, kinds = asyncio.run(run())
    assert error["C"] == "42501" and "function_call" in error["M"]
    assert status == b"I"
    assert kinds == [b"E", b"Z", b"T", b"D", b"C", b"Z"]


def test_cancel_during_pg_sleep(proxy: ProxyHandle) -> None:
    """psql sends a CancelRequest on SIGINT (a separate process: libpq's PQcancel holds
    the GIL while it waits, which would starve an in-process proxy)."""
    env = {**os.environ, **proxy.proxy.environment()}
    psql = subprocess.Popen(
        [str(proxy.server.bin_dir / "psql"), "-X", "-c", "SELECT pg_sleep(20)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(1.0)
        started = time.monotonic()
        psql.send_signal(signal.SIGINT)
        _out, err = psql.communicate(timeout=15)
    finally:
        if psql.poll() is None:
            psql.kill()
            psql.communicate()
    assert time.monotonic() - started < 10
    assert "canceling statement due to user request" in err
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT 3").fetchone() == (3,)


def test_cancel_with_a_wrong_key_does_nothing(proxy: ProxyHandle) -> None:
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        pid = conn.info.backend_pid
        _raw(proxy, struct.pack("!iiii", 16, 80877102, pid, 12345), read=0)
        assert conn.execute("SELECT pg_sleep(0.3), 1").fetchone() == ("", 1)


def _pgbench(handle: ProxyHandle, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **handle.proxy.environment()}
    return subprocess.run(
        [str(handle.server.bin_dir / "pgbench"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def test_pgbench_init_and_select_only_in_every_mode(proxy: ProxyHandle) -> None:
    init = _pgbench(proxy, "-i", "-s", "1", "-q")
    assert init.returncode == 0, init.stderr
    for mode in ("simple", "extended", "prepared"):
        run = _pgbench(proxy, "-S", "-n", "-t", "200", "-c", "2", "-M", mode)
        assert run.returncode == 0, run.stderr
        assert "number of transactions actually processed: 400/400" in run.stdout
        assert "number of failed transactions: 0" in run.stdout


def test_an_agent_that_stops_reading_stops_the_server(proxy: ProxyHandle) -> None:
    """Back-pressure: the proxy stops reading from PostgreSQL while the agent's side is
    full, so the server waits (ClientWrite) instead of the proxy buffering the result;
    when the agent reads again, every row arrives."""
    rows, width = 40_000, 1000
    sql = f"SELECT repeat('x', {width}) FROM generate_series(1, {rows})"
    env = proxy.proxy.environment()

    async def run() -> tuple[list[str], int, bytes]:
        conn = await connect(_agent(proxy), {})
        try:
            conn.writer.write(msg.query(sql))
            await conn.writer.drain()

            def wait_event() -> str:
                return proxy.server.psql(
                    "SELECT wait_event FROM pg_stat_activity "
                    f"WHERE usename = '{env['PGUSER']}' AND query LIKE '%generate_series%'",
                    proxy.upstream.dbname,
                ).strip()

            waits: list[str] = []
            for _ in range(50):  # the stalled server shows up within a few seconds
                await asyncio.sleep(0.1)
                if wait_event() == "ClientWrite":
                    break
            for _ in range(5):  # and stays stalled while the agent does not read
                await asyncio.sleep(0.2)
                waits.append(wait_event())
            count, tag = 0, b""
            while True:
                kind, body = await read_message(conn.reader, 1 << 20)
                count += kind == ord("D")
                if kind == ord("C"):
                    tag = body
                if kind == ord("Z"):
                    return waits, count, tag
        finally:
            conn.close()
            await conn.writer.wait_closed()

    waits, count, tag = asyncio.run(asyncio.wait_for(run(), 120))
    assert waits == ["ClientWrite"] * 5
    assert (count, tag) == (rows, f"SELECT {rows}\0".encode())


def test_nothing_after_terminate_is_handled(proxy: ProxyHandle) -> None:
    """Terminate, then more in the same write: what follows Terminate is not handled
    (a statement there could even be held for an approval nobody needs); the agent is
    told why before the connection ends."""

    async def run() -> tuple[int, bytes]:
        conn = await connect(_agent(proxy), {})
        try:
            conn.writer.write(msg.message(b"X") + msg.query("SELECT 1"))
            return await read_message(conn.reader, 1 << 20)
        finally:
            conn.close()
            await conn.writer.wait_closed()

    kind, body = asyncio.run(asyncio.wait_for(run(), 30))
    fields = dict(msg.parse_fields(body))
    assert chr(kind) == "E" and fields["C"] == "08P01" and "after Terminate" in fields["M"]
