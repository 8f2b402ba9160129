"""Table and column names for the OIDs in a RowDescription, from pg_catalog, cached.

RowDescription names a result column's source as (table OID, attribute number); an
alias changes the column's label but not these, which is why masking rules are applied
through them. One extra upstream connection per proxy answers the look-ups, once per
table; DDL in a session clears the cache (an OID can be reused after DROP).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from hgate.proxy import messages as msg
from hgate.proxy.upstream import UpstreamConnection, UpstreamError, read_message

Table = tuple[str, dict[int, str]]  # ("schema.table", {attnum: column})
_QUERY = (
    "SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "WHERE a.attnum > 0 AND c.oid IN ({})"
)


class Catalog:
    """OID -> (qualified table name, column names); unknown OIDs resolve to nothing."""

    def __init__(self, connect: Callable[[], Awaitable[UpstreamConnection]]) -> None:
        self._connect = connect
        self._conn: UpstreamConnection | None = None
        self._lock = asyncio.Lock()
        self._tables: dict[int, Table | None] = {}

    def known(self, oids: Iterable[int]) -> bool:
        return all(oid in self._tables for oid in oids)

    def get(self, oid: int) -> Table | None:
        return self._tables.get(oid)

    def invalidate(self) -> None:
        self._tables.clear()

    async def resolve(self, oids: Iterable[int]) -> None:
        wanted = sorted({int(o) for o in oids if o and o not in self._tables})
        if not wanted:
            return
        async with self._lock:
            wanted = [o for o in wanted if o not in self._tables]
            if not wanted:
                return
            rows = await self._query(_QUERY.format(", ".join(map(str, wanted))))
            found: dict[int, Table] = {}
            for oid_text, schema, table, attnum, column in rows:
                entry = found.setdefault(int(oid_text), (f"{schema}.{table}", {}))
                entry[1][int(attnum)] = column
            for oid in wanted:
                self._tables[oid] = found.get(oid)

    async def _query(self, sql: str) -> list[list[str]]:
        if self._conn is None:
            self._conn = await self._connect()
        conn = self._conn
        try:
            conn.writer.write(msg.query(sql))
            rows: list[list[str]] = []
            error = ""
            while True:
                kind, body = await read_message(conn.reader, msg.MAX_BACKEND_MESSAGE)
                if kind == ord("D"):
                    rows.append([(v or b"").decode() for v in msg.parse_data_row(body)])
                elif kind == ord("E"):
                    error = dict(msg.parse_fields(body)).get("M", "error")
                elif kind == ord("Z"):
                    break
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.close()
            raise UpstreamError(f"catalog look-up failed: {exc}") from exc
        except BaseException:
            # cancelled mid-reply (the agent that waited left): the rest of this reply
            # would be read as the next look-up's answer, so the connection goes
            self.close()
            raise
        if error:
            raise UpstreamError(f"catalog look-up failed: {error}")
        return rows

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
