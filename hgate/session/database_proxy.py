"""The session's PostgreSQL data path: a proxy on 127.0.0.1 in its own thread and loop.

The port is bound when the object is made, so the agent's `PG*` variables (pointing at
the proxy, with a throwaway password that is masked like any issued credential) exist
before the agent's environment is built; the proxy starts serving once the session's
masker and transcript exist. Each statement becomes one `sql` transcript event.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any

from hgate.errors import ConfigError
from hgate.guard.sql import SqlGuard
from hgate.guard.verdict import ApprovalChannel
from hgate.mask import Masker
from hgate.policy.database import DatabasePolicy
from hgate.proxy import (
    AgentLogin,
    Catalog,
    ProxyContext,
    ProxyServer,
    ProxySettings,
    ResultMasker,
    SslMode,
    StatementEvent,
    Upstream,
    connect,
)

Append = Callable[[str, dict[str, Any]], object]
START_TIMEOUT = 15.0


class DatabaseProxy:
    """Bind now, `start()` when the masker and transcript exist, `close()` at the end."""

    def __init__(self, policy: DatabasePolicy, upstream: Upstream) -> None:
        self.policy = policy
        self.upstream = upstream
        self.login = AgentLogin(
            user=upstream.user, password=secrets.token_urlsafe(24), dbname=upstream.dbname
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind(("127.0.0.1", 0))
            self._sock.listen(64)
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"cannot open the database proxy port: {exc.strerror}") from exc
        self.port = int(self._sock.getsockname()[1])
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def environment(self) -> dict[str, str]:
        """The agent's PG* variables: the proxy, never the server."""
        login = self.login
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": login.user,
            "PGPASSWORD": login.password,
            "PGDATABASE": login.dbname,
            "PGSSLMODE": "disable",
            "PGGSSENCMODE": "disable",
            "DATABASE_URL": f"postgresql://{login.user}:{login.password}@127.0.0.1:"
            f"{self.port}/{login.dbname}?sslmode=disable",
        }

    def start(
        self,
        *,
        masker: Masker,
        content_masker: Masker | None = None,
        append: Append | None = None,
        approvals: ApprovalChannel | None = None,
    ) -> None:
        """Serve from a background thread; `masker` gets the taint set and issued secrets."""
        masker.add_exact(self.login.password, "SECRET")
        scanner = content_masker or masker
        if scanner is not masker:
            scanner.add_exact(self.login.password, "SECRET")

        def taint(value: str, kind: str) -> None:
            masker.add_exact(value, kind)
            if scanner is not masker:
                scanner.add_exact(value, kind)

        policy = self.policy
        results = ResultMasker(
            masker=scanner,
            masks=policy.masks,
            catalog=Catalog(lambda: connect(self.upstream, {"application_name": "hgate"})),
            content=policy.content,
            taint=taint,
        )
        context = ProxyContext(
            upstream=self.upstream,
            guard=SqlGuard(
                policy.rules,
                default=policy.default,
                masks=policy.masks,
                extra_node_types=policy.allow_node_types,
            ),
            results=results,
            settings=ProxySettings(
                allow_function_call=policy.allow_function_call,
                allow_copy_both=policy.allow_copy_both,
                max_rows=policy.limits.max_rows,
                max_masked_values=policy.limits.max_masked_values,
                approval_timeout=policy.approval_timeout,
            ),
            on_event=_recorder(append) if append is not None else lambda _e: None,
            approvals=approvals,
        )
        server = ProxyServer(context, self.login, sock=self._sock)
        self._thread = threading.Thread(
            target=self._run, args=(server,), name="hgate-pg-proxy", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._error is not None:
            raise ConfigError(f"the database proxy did not start: {self._error}")

    def _run(self, server: ProxyServer) -> None:
        loop = new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(server))
        except BaseException as exc:  # reported to start() or lost at close: never raised
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self, server: ProxyServer) -> None:
        self._stop = asyncio.Event()
        await server.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()

    def close(self) -> None:
        """Stop serving (open agent connections are cut) and release the port."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (the `postgres` extra): fewer µs per wake-up."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _recorder(append: Append) -> Callable[[StatementEvent], None]:
    def record(event: StatementEvent) -> None:
        data: dict[str, Any] = {
            "connection": event.connection,
            "protocol": event.protocol,
            "statement": event.statement,
            "verdict": event.action,
            "rule": event.rule,
            "rows": event.rows,
        }
        if event.reason:
            data["reason"] = event.reason
        if event.tag:
            data["tag"] = event.tag
        if event.masked:
            data["masked"] = event.masked
        if event.error:
            data["error"] = event.error
        append("sql", data)

    return record


def upstream_from_environment(env: dict[str, str]) -> Upstream | None:
    """The session role's target, from the PG* variables the credentials step issued."""
    if not env.get("PGHOST") or not env.get("PGUSER"):
        return None
    modes: dict[str, SslMode] = {"disable": "disable", "require": "require"}
    modes["verify-full"] = "verify-full"
    sslmode = modes.get(env.get("PGSSLMODE", ""), "prefer")
    return Upstream(
        host=env["PGHOST"],
        port=int(env.get("PGPORT", "5432")),
        dbname=env.get("PGDATABASE", env["PGUSER"]),
        user=env["PGUSER"],
        password=env.get("PGPASSWORD", ""),
        sslmode=sslmode,
    )


def open_database_proxy(
    policy: DatabasePolicy,
    issued: dict[str, str],
    *,
    masker: Masker,
    content_masker: Callable[[], Masker] | None,
    append: Append,
    approvals: ApprovalChannel | None = None,
) -> DatabaseProxy | None:
    """Start the session's proxy when the policy asks for one and a database was issued;
    the caller gives the agent `environment()` in place of the issued PG* variables."""
    if not policy.proxy:
        return None
    upstream = upstream_from_environment(issued)
    if upstream is None:
        raise ConfigError(
            "the policy turns the database proxy on but no database credential was issued",
            remedy="grant a database to the identity, or set database.proxy: false",
        )
    proxy = DatabaseProxy(policy, upstream)
    try:
        proxy.start(
            masker=masker,
            content_masker=content_masker() if content_masker is not None else None,
            append=append,
            approvals=approvals,
        )
    except BaseException:
        proxy.close()
        raise
    return proxy
