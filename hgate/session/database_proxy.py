"""The session's PostgreSQL data path: a proxy on 127.0.0.1 in its own thread and loop.

The port is bound when the object is made, so the agent's `PG*` variables (pointing at
the proxy, with a throwaway password that is masked like any issued credential) exist
before the agent's environment is built; the proxy starts serving once the session's
masker and transcript exist. Statements reach the transcript as `sql` events, allowed
ones batched per flush window (`SqlRecorder`), any other verdict at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from hgate.errors import ConfigError
from hgate.guard.sql import SqlGuard
from hgate.guard.verdict import ApprovalChannel
from hgate.mask import Masker
from hgate.policy.database import DatabasePolicy
from hgate.proxy import (
    SSL_MODES,
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
FLUSH_SECONDS = 0.1  # an allowed statement reaches the transcript within this
FLUSH_STATEMENTS = 256  # ... or once this many are waiting


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
        self._recorder: SqlRecorder | None = None

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
            masker.add_exact(value, kind, fragments=False)
            if scanner is not masker:
                scanner.add_exact(value, kind, fragments=False)

        policy = self.policy
        recorder = self._recorder = SqlRecorder(append) if append is not None else None
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
                relations=results.catalog,  # partitions, children, views of masked tables
            ),
            results=results,
            settings=ProxySettings(
                allow_function_call=policy.allow_function_call,
                allow_copy_both=policy.allow_copy_both,
                max_rows=policy.limits.max_rows,
                max_masked_values=policy.limits.max_masked_values,
                approval_timeout=policy.approval_timeout,
            ),
            on_event=recorder if recorder is not None else lambda _e: None,
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
            self._flush_quietly()  # what the last window held, before close() returns
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

    def flush(self) -> None:
        """Write the `sql` records still batched now (call it from any thread but the
        proxy's own); `close()` does it too."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        done = threading.Event()

        def flush() -> None:
            try:
                self._flush_quietly()
            finally:
                done.set()

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(flush)
            done.wait(START_TIMEOUT)

    def _flush_quietly(self) -> None:
        if self._recorder is not None:
            with contextlib.suppress(Exception):  # a failed sink is the session's to report
                self._recorder.flush()

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


class SqlRecorder:
    """Statement evidence to `sql` events, batched: one event per flush window.

    Allowed statements collect in one buffer for every connection of the proxy and are
    written as one `sql` event (`{"statements": [record, ...]}`) when the buffer reaches
    `limit` records, when `window` seconds have passed since its first record, or when
    the proxy flushes (`DatabaseProxy.flush`, `close`). Any other verdict (block, a
    settled approval) is evidence worth having even if the session dies the next moment:
    the buffer is written first, then the statement at once in an event of its own. Each
    record keeps its own time `t` (the statement's end; the event's `t` is the write).
    Within one event, runs of the same allowed statement on the same connection with the
    same outcome (tag, masked counts, error) share one record whose `runs` lists each
    run's `[t, rows]` instead of `t` and `rows`: an agent in a loop then costs a few
    bytes per statement, not a whole record (`hgate.report.events.sql_records` expands
    them). Runs on the proxy's loop only. A failed write is raised by the next statement
    too, so the relay ends that connection (fail closed) rather than go on unrecorded.
    """

    def __init__(
        self,
        append: Append,
        *,
        window: float = FLUSH_SECONDS,
        limit: int = FLUSH_STATEMENTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._append = append
        self._window = window
        self._limit = limit
        self._clock = clock
        # the batch: one record per statement key, in the order of its first statement
        self._groups: dict[tuple[object, ...], dict[str, Any]] = {}
        self._count = 0  # statements in the batch (a record may hold several runs)
        self._last = 0  # µs of the last statement's time
        self._timer: asyncio.TimerHandle | None = None
        self._failed: BaseException | None = None

    def __call__(self, event: StatementEvent) -> None:
        if self._failed is not None:
            raise self._failed
        # each statement a time of its own, never back (the wall clock can step): the
        # records of an event and the runs of a record then sort into the exact order
        # the statements finished. Whole µs, not round(t, 6): that formats and parses a
        # decimal string, 2% of the proxy's time at pgbench rates
        micros = int(self._clock() * 1_000_000 + 0.5)
        if micros <= self._last:
            micros = self._last + 1
        self._last = micros
        at = micros / 1_000_000
        if event.action != "allow" or event.approval:
            self.flush()
            self._write([_record(event, at)])
            return
        masked = tuple(sorted(event.masked.items())) if event.masked else ()
        key = (
            event.connection, event.protocol, event.statement, event.rule, event.reason,
            event.tag, event.error, masked,
        )  # fmt: skip
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = _record(event, at)
        else:
            runs = group.get("runs")
            if runs is None:
                runs = group["runs"] = [[group.pop("t"), group.pop("rows")]]
            runs.append([at, event.rows])
        self._count += 1
        if self._count >= self._limit:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on a loop: nothing would flush later
                self.flush()
                return
            self._timer = loop.call_later(self._window, self._on_timer)

    def flush(self) -> None:
        """Write the buffered records now (one event), if there are any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._groups:
            batch = list(self._groups.values())
            self._groups.clear()
            self._count = 0
            self._write(batch)

    def _on_timer(self) -> None:
        self._timer = None
        with contextlib.suppress(Exception):  # kept in _failed, raised by the next record
            self.flush()

    def _write(self, records: list[dict[str, Any]]) -> None:
        try:
            self._append("sql", {"statements": records})
        except BaseException as exc:
            self._failed = exc
            raise


def _record(event: StatementEvent, at: float) -> dict[str, Any]:
    data: dict[str, Any] = {
        "t": at,
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
    if event.approval:
        data["approval"] = event.approval
    return data


def upstream_from_environment(env: dict[str, str]) -> Upstream | None:
    """The session role's target, from the PG* variables the credentials step issued."""
    if not env.get("PGHOST") or not env.get("PGUSER"):
        return None
    given = env.get("PGSSLMODE") or "prefer"
    modes: dict[str, SslMode] = {mode: mode for mode in SSL_MODES}
    modes["allow"] = "prefer"  # TLS when the server offers it: no weaker than libpq's allow
    sslmode = modes.get(given)
    if sslmode is None:  # never fall back to less than the admin DSN asked for
        raise ConfigError(
            f"unknown sslmode {given!r} in the admin DSN",
            remedy="use disable, allow, prefer, require, verify-ca or verify-full",
        )
    return Upstream(
        host=env["PGHOST"],
        port=int(env.get("PGPORT", "5432")),
        dbname=env.get("PGDATABASE", env["PGUSER"]),
        user=env["PGUSER"],
        password=env.get("PGPASSWORD", ""),
        sslmode=sslmode,
        sslrootcert=env.get("PGSSLROOTCERT", ""),
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
