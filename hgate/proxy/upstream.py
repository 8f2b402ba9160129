"""The proxy as a client of PostgreSQL: connect, TLS if asked, log in as the session role.

Socket, TLS and authentication failures become `UpstreamError` here, at the boundary,
with the server's message but never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from hgate.errors import HgateError
from hgate.guard.sql_rules import UTF8_ENCODINGS
from hgate.proxy import messages as msg

if TYPE_CHECKING:
    from scramp import ScramClient

SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[SslMode, ...] = get_args(SslMode)
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
CANCEL_CODE = 80877102
PROTOCOL_3_0 = 196608


class UpstreamError(HgateError):
    """PostgreSQL could not be reached or refused the session role."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """Where the session's PostgreSQL is and how the proxy logs in (the session role)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    sslmode: SslMode = "prefer"
    # libpq's sslrootcert: a CA file, "system" for the system's store, "" for libpq's
    # default (~/.postgresql/root.crt); read for verify-ca and verify-full only
    sslrootcert: str = ""
    connect_timeout: float = 10.0


@dataclass(slots=True)
class UpstreamConnection:
    """A logged-in upstream connection and what the server said while starting."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    greeting: list[bytes]  # raw ParameterStatus / NoticeResponse messages, in order
    pid: int = 0
    key: int = 0
    status: bytes = b"I"

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


async def read_message(reader: asyncio.StreamReader, limit: int) -> tuple[int, bytes]:
    """One whole message (type, body); raises ProtocolViolation on a bad length."""
    header = await reader.readexactly(5)
    length = int.from_bytes(header[1:5], "big")
    if length < 4 or length > limit:
        raise msg.ProtocolViolation(f"invalid message length {length}")
    return header[0], await reader.readexactly(length - 4)


async def connect(target: Upstream, params: dict[str, str]) -> UpstreamConnection:
    """Open, authenticate and wait for ReadyForQuery; every failure is an UpstreamError."""
    try:
        return await asyncio.wait_for(_connect(target, params), target.connect_timeout)
    except UpstreamError:
        raise
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError) as exc:
        raise UpstreamError(
            f"cannot connect to PostgreSQL at {target.host}:{target.port}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    except msg.ProtocolViolation as exc:
        raise UpstreamError(f"PostgreSQL at {target.host}:{target.port}: {exc}") from exc


async def _connect(target: Upstream, params: dict[str, str]) -> UpstreamConnection:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        if target.sslmode != "disable":
            writer.write(SSL_REQUEST)
            answer = await reader.readexactly(1)
            if answer == b"S":
                await writer.start_tls(_ssl_context(target), server_hostname=target.host)
            elif target.sslmode != "prefer":
                raise UpstreamError(f"PostgreSQL refused TLS and sslmode is {target.sslmode}")
        body = struct.pack("!i", PROTOCOL_3_0)
        for name, value in {**params, "user": target.user, "database": target.dbname}.items():
            body += msg.encode_cstring(name) + msg.encode_cstring(value)
        body += b"\0"
        writer.write(struct.pack("!i", len(body) + 4) + body)
        conn = UpstreamConnection(reader=reader, writer=writer, greeting=[])
        await _authenticate(conn, target)
        return conn
    except BaseException:
        writer.close()
        raise


def unsafe_setting(name: str, value: str) -> str:
    """Why a setting the server reports makes the guard's parse unreliable ('' if not):
    checked at login and whenever the server reports a change."""
    if name == "standard_conforming_strings" and value != "on":
        return "standard_conforming_strings is off: the guard would misread string literals"
    if name == "client_encoding" and value.lower() not in UTF8_ENCODINGS:
        return f"client_encoding {value} cannot be guarded or masked (UTF8 only)"
    return ""


async def _authenticate(conn: UpstreamConnection, target: Upstream) -> None:
    scram: ScramClient | None = None
    while True:
        kind, body = await read_message(conn.reader, msg.MAX_BACKEND_MESSAGE)
        if kind == ord("E"):
            fields = dict(msg.parse_fields(body))
            raise UpstreamError(
                f"PostgreSQL refused the session role {target.user!r}: "
                f"{fields.get('M', 'error')} ({fields.get('C', '?')})"
            )
        if kind == ord("R"):
            scram = _answer_auth(conn, target, body, scram)
        elif kind == ord("S") or kind == ord("N"):
            if kind == ord("S"):  # a role or database default the guard cannot parse under
                name, pos = msg.cstring(body, 0)
                problem = unsafe_setting(name, msg.cstring(body, pos)[0])
                if problem:
                    raise UpstreamError(problem)
            conn.greeting.append(msg.message(bytes([kind]), body))
        elif kind == ord("K"):
            conn.pid, conn.key = struct.unpack("!ii", body)
        elif kind == ord("Z"):
            conn.status = body[:1]
            return
        elif kind != ord("v"):
            raise UpstreamError(f"unexpected message {chr(kind)!r} while logging in")


def _answer_auth(
    conn: UpstreamConnection, target: Upstream, body: bytes, scram: ScramClient | None
) -> ScramClient | None:
    from scramp import ScramClient, ScramException  # ~15 ms: loaded at the first login only

    code = msg.int32(body)
    data = body[4:]
    try:
        if code == 0:
            return scram
        if code == 3:
            conn.writer.write(msg.message(b"p", msg.encode_cstring(target.password)))
        elif code == 5:
            inner = hashlib.md5((target.password + target.user).encode()).hexdigest()
            digest = hashlib.md5(inner.encode() + data[:4]).hexdigest()
            conn.writer.write(msg.message(b"p", msg.encode_cstring("md5" + digest)))
        elif code == 10:
            mechanisms = [m for m in data.decode().split("\0") if m]
            if "SCRAM-SHA-256" not in mechanisms:
                raise UpstreamError(f"no supported SASL mechanism among {mechanisms}")
            scram = ScramClient(["SCRAM-SHA-256"], target.user, target.password)
            first = scram.get_client_first().encode()
            payload = msg.encode_cstring("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first
            conn.writer.write(msg.message(b"p", payload))
        elif code == 11 and scram is not None:
            scram.set_server_first(data.decode())
            conn.writer.write(msg.message(b"p", scram.get_client_final().encode()))
        elif code == 12 and scram is not None:
            scram.set_server_final(data.decode())
        else:
            raise UpstreamError(f"unsupported authentication request {code}")
    except ScramException as exc:
        raise UpstreamError(f"SCRAM authentication with PostgreSQL failed: {exc}") from exc
    return scram


def _ssl_context(target: Upstream) -> ssl.SSLContext:
    """TLS as libpq's sslmode means it: verify-ca checks the chain against sslrootcert,
    verify-full also the host name; prefer and require encrypt without checking."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if target.sslmode not in ("verify-ca", "verify-full"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context.check_hostname = target.sslmode == "verify-full"
    if target.sslrootcert == "system":
        context.load_default_certs()
        return context
    root = Path(target.sslrootcert or Path.home() / ".postgresql" / "root.crt")
    try:
        context.load_verify_locations(cafile=root)
    except (OSError, ssl.SSLError) as exc:
        raise UpstreamError(
            f"sslmode {target.sslmode} needs a root certificate and {str(root)!r} cannot be "
            f"read ({type(exc).__name__}): set sslrootcert in the admin DSN"
        ) from exc
    return context


async def cancel(target: Upstream, pid: int, key: int) -> None:
    """Send PostgreSQL a CancelRequest for (pid, key); best effort, like libpq."""
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port), target.connect_timeout
        )
    except (OSError, TimeoutError):
        return
    try:
        writer.write(struct.pack("!iiii", 16, CANCEL_CODE, pid, key))
        await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
