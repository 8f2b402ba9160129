"""Table and column names for the OIDs in a RowDescription, from pg_catalog, cached.

RowDescription names a result column's source as (table OID, attribute number); an
alias changes the column's label but not these, which is why masking rules are applied
through them. One extra upstream connection per proxy answers the look-ups, once per
table; DDL in a session clears the cache (an OID can be reused after DROP).

A column's origin is not only its own table's: a partition or inheritance child holds
the parent's rows under its own OID (and a parent its children's), and a view or
materialized view reports its own OID for values read from other tables. So each
table's sources are followed too (its parents and children through pg_inherits, the
relations and columns its view query reads through pg_depend), and `origins` names every
(table, column) a result column may carry: a rule on any of them masks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from hgate.proxy import messages as msg
from hgate.proxy.upstream import UpstreamConnection, UpstreamError, read_message
from hgate.proxy.wait import Wait

Table = tuple[str, dict[int, str]]  # ("schema.table", {attnum: column})
_QUERY = (
    "SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "WHERE a.attnum > 0 AND c.oid IN ({0}) "
    # sources: parents (attnum -1: the column of the same name) and what a view or
    # materialized view query reads (attnum 0: a whole row, every column)
    "UNION ALL SELECT i.inhrelid, NULL, NULL, -1, i.inhparent::text "
    "FROM pg_catalog.pg_inherits i WHERE i.inhrelid IN ({0}) "
    # children: a parent's rows include theirs (a mask may name a partition)
    "UNION ALL SELECT i.inhparent, NULL, NULL, -1, i.inhrelid::text "
    "FROM pg_catalog.pg_inherits i WHERE i.inhparent IN ({0}) "
    "UNION ALL SELECT r.ev_class, NULL, NULL, d.refobjsubid, d.refobjid::text "
    "FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d "
    "ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid "
    "AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class "
    "WHERE r.ev_class IN ({0})"
)
MAX_DEPTH = 32  # source chains (view over view over child…) followed this deep
Origin = tuple[str, str]  # ("schema.table", column)


class Catalog:
    """OID -> (qualified table name, column names); unknown OIDs resolve to nothing."""

    def __init__(self, connect: Callable[[], Awaitable[UpstreamConnection]]) -> None:
        self._connect = connect
        self._conn: UpstreamConnection | None = None
        self._lock = asyncio.Lock()
        self._tables: dict[int, Table | None] = {}
        # oid -> (source oid, its attnum: -1 the same-named column, 0 every column)
        self._sources: dict[int, list[tuple[int, int]]] = {}
        self._origins: dict[tuple[int, int], tuple[Origin, ...]] = {}
        self._names: dict[tuple[str, str], int] = {}  # (schema, name) as written -> OID or 0
        self.generation = 0  # counts invalidations: the guard drops verdicts it based on us

    def known(self, oids: Iterable[int]) -> bool:
        return all(oid in self._tables for oid in oids)

    def origins(self, oid: int, attnum: int) -> tuple[Origin, ...]:
        """Every (table, column) whose values column `attnum` of `oid` may carry."""
        key = (oid, attnum)
        found = self._origins.get(key)
        if found is None:
            out: dict[Origin, None] = {}
            self._collect(oid, attnum, None, out, set())
            found = self._origins[key] = tuple(out)
        return found

    def _collect(
        self,
        oid: int,
        attnum: int,
        name: str | None,
        out: dict[Origin, None],
        seen: set[tuple[int, int, str | None]],
    ) -> None:
        table = self._tables.get(oid)
        if table is None or (oid, attnum, name) in seen:
            return
        seen.add((oid, attnum, name))
        columns = table[1]
        if name is None:
            names = list(columns.values()) if attnum == 0 else [columns.get(attnum, "")]
        else:
            names = [name]
        for column in names:
            if column:
                out[(table[0], column)] = None
        for source, source_attnum in self._sources.get(oid, ()):
            if source_attnum == -1:  # a parent or child: its column of the same name
                for column in names:
                    if column:
                        self._collect(source, 0, column, out, seen)
            else:  # a view's source: any of its columns may be read by any view column
                self._collect(source, source_attnum, None, out, seen)

    def table_origins(self, qualified: str) -> tuple[Origin, ...] | None:
        """The origins of every column of the table named `qualified` ("schema.table"),
        or None when it is not in the cache (a linear search: for errors, not rows)."""
        for oid, table in list(self._tables.items()):
            if table is not None and table[0] == qualified:
                return self.origins(oid, 0)
        return None

    def require(self, refs: Iterable[tuple[str, str]]) -> None:
        """For the statement guard: raise `Wait` until every relation name is resolved."""
        wanted = [ref for ref in refs if ref not in self._names]
        if wanted:
            raise Wait(lambda: self.resolve_names(wanted))

    def columns_of(self, ref: tuple[str, str]) -> dict[str, tuple[Origin, ...]] | None:
        """The relation `ref` ((schema or "", name) as a statement writes it, resolved
        as the session would): each column and the origins it may carry; None if there
        is no such relation or it was not resolved."""
        oid = self._names.get(ref, 0)
        table = self._tables.get(oid) if oid else None
        if table is None:
            return None
        return {column: self.origins(oid, attnum) for attnum, column in table[1].items()}

    async def resolve_names(self, refs: Iterable[tuple[str, str]]) -> None:
        """Resolve relation names to OIDs (to_regclass, the session's search_path) and
        read those relations and their sources."""
        wanted = sorted({ref for ref in refs if ref not in self._names})
        if not wanted:
            return
        literals = ", ".join(_literal(_qualified(ref)) for ref in wanted)
        async with self._lock:
            rows = await self._query(
                "SELECT n, coalesce(pg_catalog.to_regclass(n)::oid, 0) FROM "
                f"unnest(ARRAY[{literals}]::text[]) n"
            )
        oids = {name: int(oid or 0) for name, oid in rows}
        await self.resolve(o for o in oids.values() if o)
        for ref in wanted:
            self._names[ref] = oids.get(_qualified(ref), 0)

    def invalidate(self) -> None:
        self.generation += 1
        self._names.clear()
        self._tables.clear()
        self._sources.clear()
        self._origins.clear()

    async def resolve(self, oids: Iterable[int]) -> None:
        wanted = sorted({int(o) for o in oids if o and o not in self._tables})
        if not wanted:
            return
        async with self._lock:
            # committed only whole: a table known without its sources would mask less
            tables: dict[int, Table | None] = {}
            sources: dict[int, list[tuple[int, int]]] = {}
            for _depth in range(MAX_DEPTH + 1):
                wanted = [o for o in wanted if o not in self._tables and o not in tables]
                if not wanted:
                    break
                wanted = await self._resolve(wanted, tables, sources)
            self._tables.update(tables)
            self._sources.update(sources)
            self._origins.clear()

    async def _resolve(
        self,
        wanted: list[int],
        tables: dict[int, Table | None],
        sources: dict[int, list[tuple[int, int]]],
    ) -> list[int]:
        """Read `wanted` tables and their sources' OIDs; returns the sources not known."""
        rows = await self._query(_QUERY.format(", ".join(map(str, wanted))))
        found: dict[int, Table] = {}
        for oid_text, schema, table, attnum, column in rows:
            if not schema:  # a source row: NULL schema and name
                sources.setdefault(int(oid_text), []).append((int(column), int(attnum)))
                continue
            entry = found.setdefault(int(oid_text), (f"{schema}.{table}", {}))
            entry[1][int(attnum)] = column
        new: set[int] = set()
        for oid in wanted:
            tables[oid] = found.get(oid)
            new.update(s for s, _a in sources.setdefault(oid, []))
        return sorted(new - set(self._tables) - set(tables))

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


def _qualified(ref: tuple[str, str]) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in ref if part)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
