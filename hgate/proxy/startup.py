"""The proxy as the agent's server until ReadyForQuery: startup packet and SCRAM login.

Encryption requests get `N` (the proxy listens on 127.0.0.1 only); a direct TLS hello
is closed without a reply. A newer protocol minor or `_pq_.` options get
NegotiateProtocolVersion. Startup parameters are an allow-list: `options` (`-c role=…`,
`-c search_path=…`) and `replication` are refused, any other GUC is dropped, because
each is a way around the statement guard.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

from scramp import ScramException, ScramMechanism

from hgate.errors import HgateError
from hgate.proxy import messages as msg
from hgate.proxy.upstream import CANCEL_CODE, read_message

SSL_CODE = 80877103
GSSENC_CODE = 80877104
TLS_HANDSHAKE = 0x16
FORWARDED = frozenset(
    {"application_name", "client_encoding", "DateStyle", "TimeZone", "IntervalStyle"}
)
UTF8_NAMES = frozenset({"utf8", "utf-8", "unicode", "sql_ascii", "auto"})
SCRAM_ITERATIONS = 4096


class StartupRefused(HgateError):
    """The agent's connection was refused before login; `response` is what it was told."""

    def __init__(self, message: str, *, response: bytes = b"") -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLogin:
    """What the agent must present: the session's throwaway user/password and database."""

    user: str
    password: str = field(repr=False)
    dbname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Startup:
    params: dict[str, str]  # what is forwarded upstream
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequest:
    pid: int
    key: int


class Authenticator:
    """SCRAM-SHA-256 server side; the salted verifier is derived once per proxy."""

    def __init__(self, login: AgentLogin) -> None:
        self.login = login
        self._mechanism = ScramMechanism("SCRAM-SHA-256")
        self._auth_info = self._mechanism.make_auth_info(
            login.password, iteration_count=SCRAM_ITERATIONS
        )

    async def accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Startup | CancelRequest:
        """Read the startup packet(s) and log the agent in; raise StartupRefused."""
        while True:
            head = await reader.readexactly(4)
            if head[0] == TLS_HANDSHAKE:
                raise StartupRefused("direct TLS hello refused: connect with sslmode=disable")
            length = int.from_bytes(head, "big")
            if length < 8 or length > msg.MAX_STARTUP_PACKET:
                raise StartupRefused(f"invalid startup packet length {length}")
            body = await reader.readexactly(length - 4)
            code = msg.int32(body)
            if code in (SSL_CODE, GSSENC_CODE):
                writer.write(b"N")
                continue
            if code == CANCEL_CODE and length == 16:
                pid, key = struct.unpack_from("!ii", body, 4)
                return CancelRequest(pid=pid, key=key)
            startup = self._startup(code, body[4:], writer)
            await self._scram(reader, writer)
            return startup

    def _startup(self, code: int, body: bytes, writer: asyncio.StreamWriter) -> Startup:
        major, minor = code >> 16, code & 0xFFFF
        if major != 3:
            raise _fatal("0A000", f"unsupported frontend protocol {major}.{minor}")
        params: dict[str, str] = {}
        pos = 0
        while pos < len(body) and body[pos] != 0:
            name, pos = msg.cstring(body, pos)
            value, pos = msg.cstring(body, pos)
            params[name] = value
        unknown = sorted(n for n in params if n.startswith("_pq_."))
        if minor > 0 or unknown:
            writer.write(msg.negotiate_protocol_version(0, unknown))
        if params.get("options", "").strip():
            raise _fatal("42501", "startup options (-c …) are not allowed through hgate")
        if params.get("replication", "false").lower() not in ("false", "off", "no", "0"):
            raise _fatal("42501", "replication connections are not allowed through hgate")
        user, dbname = params.get("user", ""), params.get("database") or params.get("user", "")
        if user != self.login.user:
            raise _fatal("28P01", f'password authentication failed for user "{user}"')
        if dbname != self.login.dbname:
            raise _fatal("3D000", f'database "{dbname}" is not available in this hgate session')
        encoding = params.get("client_encoding", "UTF8").strip("'\" ").lower()
        if encoding not in UTF8_NAMES:
            raise _fatal("22023", "hgate masks UTF-8 results only: set client_encoding=UTF8")
        forwarded = {k: v for k, v in params.items() if k in FORWARDED}
        if encoding == "auto":
            forwarded["client_encoding"] = "UTF8"
        dropped = tuple(k for k in params if k not in FORWARDED and k not in ("user", "database"))
        return Startup(params=forwarded, dropped=dropped)

    async def _scram(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(msg.auth_request(10, b"SCRAM-SHA-256\0\0"))
        server = self._mechanism.make_server(lambda _user: self._auth_info)
        try:
            kind, body = await read_message(reader, msg.MAX_STARTUP_PACKET)
            if kind != ord("p"):
                raise _fatal("08P01", "expected a SASLInitialResponse")
            mechanism, pos = msg.cstring(body, 0)
            if mechanism != "SCRAM-SHA-256":
                raise _fatal("28000", f"unsupported SASL mechanism {mechanism!r}")
            _set_client_first(server, body[pos + 4 :].decode(), self.login.user)
            writer.write(msg.auth_request(11, server.get_server_first().encode()))
            kind, body = await read_message(reader, msg.MAX_STARTUP_PACKET)
            if kind != ord("p"):
                raise _fatal("08P01", "expected a SASLResponse")
            server.set_client_final(body.decode())
            writer.write(msg.auth_request(12, server.get_server_final().encode()))
        except (ScramException, UnicodeDecodeError) as exc:
            raise _fatal(
                "28P01", f'password authentication failed for user "{self.login.user}"'
            ) from exc
        writer.write(msg.auth_request(0))


def _set_client_first(server: Any, client_first: str, user: str) -> None:
    """libpq sends an empty SCRAM user name (PostgreSQL takes the startup packet's), which
    scramp rejects; parse with the name filled in, but sign over the bytes the client sent.
    """
    gs2, sep, bare = client_first.partition(",n=,")
    if not sep:
        server.set_client_first(client_first)
        return
    server.set_client_first(f"{gs2},n={user or 'user'},{bare}")
    server.client_first_bare = f"n=,{bare}"


def _fatal(code: str, text: str) -> StartupRefused:
    return StartupRefused(text, response=msg.error_response(code, text, severity="FATAL"))
