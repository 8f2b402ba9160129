"""One connection's protocol state, shared by its two directions.

The agent may pipeline many messages before reading a reply, so every forwarded
message that the server answers leaves a `Pending` in a queue, and each reply is read
against the queue's head: which statement a RowDescription describes, which portal a
DataRow belongs to, which error was ours (a blocked statement) and where an extended-
protocol error stops discarding (the next Sync).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque

from hgate.guard.sql import PreparedVerdicts
from hgate.guard.verdict import Verdict
from hgate.proxy import messages as msg
from hgate.proxy.context import ProxyContext
from hgate.proxy.masking import RowPlan


class Record:
    """Evidence for one statement while its results stream past."""

    __slots__ = ("counts", "error", "protocol", "rows", "tag", "text", "verdict")

    def __init__(self, text: str, verdict: Verdict, protocol: str) -> None:
        self.text = text
        self.verdict = verdict
        self.protocol = protocol
        self.rows = 0
        self.tag = ""
        self.error = ""
        self.counts: Counter[str] | None = None  # made on the first masked value: most
        # statements mask nothing, and a Counter costs a µs per statement

    def tally(self) -> Counter[str]:
        """The masked-value counts, to add to."""
        if self.counts is None:
            self.counts = Counter()
        return self.counts


class Pending:
    """A forwarded message still owed a reply: Parse, Bind, Describe, Execute, Close,
    Sync, Query or FunctionCall (`kind` is its type letter).

    A Describe or Execute keeps the portal or statement it named when it was sent: the
    agent may close or re-bind that name before the reply comes (while the reply waits
    for a catalog look-up, say), and the reply belongs to the one that was there."""

    __slots__ = (
        "blocked", "kind", "name", "plan", "planned", "portal", "record", "statement",
        "swallow", "target",
    )  # fmt: skip

    def __init__(
        self,
        kind: str,
        *,
        name: str = "",
        target: str = "",
        blocked: Verdict | None = None,
        swallow: bool = False,
        record: Record | None = None,
        portal: Portal | None = None,
        statement: Statement | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.target = target  # Describe: "S" or "P"
        self.blocked = blocked
        self.swallow = swallow  # a Describe the proxy injected: its reply is not forwarded
        self.record = record
        self.portal = portal
        self.statement = statement
        self.plan: RowPlan | None = None
        self.planned = False


class Statement:
    __slots__ = ("columns", "copy_in", "query", "verdict")

    def __init__(self, query: str, verdict: Verdict, copy_in: bool = False) -> None:
        self.query = query
        self.verdict = verdict
        self.copy_in = copy_in  # a COPY FROM STDIN: its Execute opens a copy window
        self.columns: tuple[msg.Column, ...] | None = None


class Portal:
    """A portal as the proxy saw it bound: `source` is the statement object it was bound
    to (a later Parse or Close of that name does not change what the portal runs), or
    None for a portal the proxy did not see bound (a cursor opened with SQL DECLARE):
    its rows are planned from a Describe the proxy asks for."""

    __slots__ = ("bound_at", "columns", "describing", "description", "formats", "source")

    def __init__(
        self, source: Statement | None = None, formats: tuple[int, ...] = (), bound_at: int = 0
    ) -> None:
        self.source = source
        self.formats = formats
        self.bound_at = bound_at  # how many ReadyForQuery were owed when it was bound
        self.columns: tuple[msg.Column, ...] | None = None  # from Describe P: real formats
        self.description: bytes | None = None  # that RowDescription's body: the plan's key
        self.describing = False


class ConnectionState:
    def __init__(self, context: ProxyContext, number: int) -> None:
        self.context = context
        self.number = number
        self.pending: deque[Pending] = deque()
        self.statements: dict[str, Statement] = {}
        self.portals: dict[str, Portal] = {}
        self.prepared = PreparedVerdicts()
        self.copy_out: Record | None = None
        self.status = b"I"
        self.settled: Verdict | None = None  # an approval's answer, for the held message
        # statement names whose Parse was blocked since the last Sync: the server discards
        # a Bind to one of them with the failed Parse, so it is not a refusal of its own
        self.blocked_parses: set[str] = set()
        # ReadyForQuery owed (a Sync, Query or FunctionCall forwarded) and received: a
        # transaction that ends at the n-th drops the portals bound before it was sent
        self.owed = 0
        self.ready = 0
        # a COPY FROM STDIN forwarded whose data the agent has not ended (CopyDone or
        # CopyFail): the server reads what follows as copy data once the COPY starts,
        # ignoring Sync, so the frontend holds other messages until it is known whether
        # it started (CopyInResponse) or failed (its error)
        self.copy_in: Pending | None = None
        self.copy_started = False
        self.copy_data = False  # CopyData sent in this window: a Sync now may be answered
        self._copy_known: asyncio.Future[None] | None = None

    async def copy_resolved(self) -> None:
        """Wait until the server has started the open COPY FROM STDIN or failed it."""
        if self.copy_in is None or self.copy_started:
            return
        if self._copy_known is None or self._copy_known.done():
            self._copy_known = asyncio.get_running_loop().create_future()
        await self._copy_known

    def copy_started_or_failed(self, started: bool) -> None:
        """The backend's answer to the open COPY (CopyInResponse, or its error)."""
        if started:
            self.copy_started = True
        else:
            self.copy_in = None
            self.copy_started = False
        if self._copy_known is not None and not self._copy_known.done():
            self._copy_known.set_result(None)

    async def settle(self, verdict: Verdict, text: str) -> None:
        """Hold the statement for approval; the frontend takes the answer on re-entry."""
        self.settled = await self.context.settle(verdict, text)

    def take_settled(self) -> Verdict | None:
        settled, self.settled = self.settled, None
        return settled

    def finish(self, record: Record | None) -> None:
        if record is None:
            return
        self.context.record(
            connection=self.number,
            protocol=record.protocol,
            text=record.text,
            verdict=record.verdict,
            rows=record.rows,
            tag=record.tag,
            counts=record.counts,
            error=record.error,
        )

    def abandon(self) -> None:
        """The connection ended: statements forwarded but not yet answered are recorded
        with error `unanswered` (the server may have run them; hgate did not see how
        they ended) rather than lost with the connection."""
        pending, self.pending = self.pending, deque()
        for entry in pending:
            record = entry.record
            if record is not None and entry.kind in "QEF":
                record.error = record.error or "unanswered"
                self.finish(record)

    def refused(self, text: str, verdict: Verdict, protocol: str) -> None:
        self.context.record(connection=self.number, protocol=protocol, text=text, verdict=verdict)

    def plan_for(self, pending: Pending) -> RowPlan | None:
        """The row plan for an Execute: its portal's description, else its statement's
        (may raise `Wait`, before marking the Execute planned)."""
        portal = pending.portal
        if portal is None:  # every Execute names a portal (an unknown one is described)
            raise msg.ProtocolViolation("rows for a portal the proxy does not know")
        if portal.description is not None:  # the same bytes every time it repeats
            plan = self.context.results.plan_described(portal.description)
        elif portal.columns is not None:
            plan = self.context.results.plan(portal.columns)
        else:
            statement = portal.source
            if statement is None or statement.columns is None:
                raise msg.ProtocolViolation("rows for a portal the proxy cannot describe")
            plan = self.context.results.plan(statement.columns, portal.formats)
        pending.plan = plan
        pending.planned = True
        return plan

    def transaction_ended(self) -> None:
        """ReadyForQuery 'I': the server dropped the portals bound before this Sync (but
        WITH HOLD cursors; an Execute of a name the proxy does not know describes it)."""
        ready, portals = self.ready, self.portals
        if len(portals) == 1:  # the common case (the unnamed portal): no list to build
            ((name, portal),) = portals.items()
            if portal.bound_at < ready:
                del portals[name]
            return
        for name in [n for n, p in portals.items() if p.bound_at < ready]:
            del portals[name]
