"""What one parsed statement does: kinds, tables, columns, functions and hazards.

One pass over libpg_query's JSON tree. A node is `{"TypeName": {...}}`; embedded
structs (a RangeVar in `relation`, the arms of a UNION) come without the wrapper, so
the walk also recognises them by shape. Masked columns may reach the result only as a
plain column of the top-level SELECT (where RowDescription names their table and
column); anywhere else in an output they would arrive as an anonymous expression, so
that is a hazard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hgate.guard.sql_rules import (
    DYNAMIC_SQL_PREFIXES,
    FORBIDDEN_SETTINGS,
    LEXING_SETTINGS,
    SIDE_EFFECT_FUNCTIONS,
    SIDE_EFFECT_PREFIXES,
    STATISTICS,
    UTF8_ENCODINGS,
    ColumnMask,
    ColumnRef,
    TableRef,
    column_matches,
    table_name,
)

EXEC, NESTED, OUTPUT, EXPR = 1, 2, 4, 8
_SIMPLE_KINDS = {
    "TransactionStmt": "transaction",
    "VariableShowStmt": "show",
    "DeclareCursorStmt": "cursor",
    "FetchStmt": "cursor",
    "ClosePortalStmt": "cursor",
    "ListenStmt": "notify",
    "NotifyStmt": "notify",
    "UnlistenStmt": "notify",
    "LockStmt": "lock",
    "VacuumStmt": "maintenance",
    "ClusterStmt": "maintenance",
    "ReindexStmt": "maintenance",
    "TruncateStmt": "truncate",
    "DiscardStmt": "discard",
    "GrantStmt": "grant",
    "GrantRoleStmt": "grant",
    "CallStmt": "call",
    "CreateTableAsStmt": "ddl",
    "InsertStmt": "insert",
    "MergeStmt": "merge",
}


@dataclass(slots=True)
class Facts:
    kinds: set[str] = field(default_factory=set)
    tables: set[TableRef] = field(default_factory=set)
    columns: set[ColumnRef] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    node_types: set[str] = field(default_factory=set)
    hazards: list[tuple[str, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    exposed: set[tuple[str, str, bool]] = field(default_factory=set)  # qualifier, col, derived
    # columns referenced anywhere but as a plain column of the output (WHERE, JOIN, ORDER
    # BY, SET, VALUES, function arguments…): a masked one there is an oracle or a copy
    used: set[ColumnRef] = field(default_factory=set)
    merged: set[str] = field(default_factory=set)  # JOIN … USING names; "*" for NATURAL
    copied: bool = False  # rows leave through COPY, without column origins
    # ORDER BY / GROUP BY / DISTINCT ON by a position at or past a `*`: which column it
    # names depends on the table's layout, so a masked one cannot be ruled out
    positional_star: bool = False
    positional: bool = False  # any: its verdict reads a literal (no shape caching)
    prepares: list[tuple[str, Facts]] = field(default_factory=list)
    executes: list[str] = field(default_factory=list)
    deallocates: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)  # DECLAREd: the proxy forgets the names
    copy_in: bool = False  # COPY FROM STDIN: the proxy follows the data stream

    def summary(self) -> str:
        kinds = "/".join(sorted(self.kinds)) or "statement"
        tables = ", ".join(sorted(table_name(t) for t in self.tables))
        return f"{kinds} on {tables}" if tables else kinds


def facts_of(stmt: dict[str, Any], masks: tuple[ColumnMask, ...]) -> Facts:
    facts = Facts()
    _Walker(facts).walk(stmt, EXEC)
    if masks:
        _check_masks(facts, masks)
        for _name, inner in facts.prepares:  # what EXECUTE will run is checked like it
            _check_masks(inner, masks)
    return facts


def _check_masks(facts: Facts, masks: tuple[ColumnMask, ...]) -> None:
    tables = frozenset(facts.tables)
    statistics = sorted(t[1] for t in tables if t[1] in STATISTICS and t[0] in ("", "pg_catalog"))
    if statistics:
        facts.hazards.append(
            (
                "database.masked_statistics",
                f"{statistics[0]} holds sampled column values (most common values, "
                "histogram bounds), masked columns' too",
            )
        )
        return
    masked = {t for t in tables if any(_table_masked(table_name(t), m) for m in masks)}
    if not masked:
        return
    if facts.copied:
        facts.hazards.append(
            ("database.masked_copy", "COPY of a table with masked columns (COPY has no origins)")
        )
        return
    rows = {t[1] for t in masked}
    rows |= {a for a, t in facts.aliases.items() if _alias_masked(t, masked)}

    def is_masked(ref: ColumnRef) -> bool:
        return any(
            column_matches(ref, f"{m.table}.{m.column}", facts.aliases, tables) for m in masks
        )

    # the mask's own matcher (globs, tables in the statement); NATURAL ("*") merges any
    merged = [name for name in sorted(facts.merged) if name == "*" or is_masked(("", name))]
    if merged:
        what = "a NATURAL join" if merged[0] == "*" else f"a join merging column {merged[0]!r}"
        facts.hazards.append(
            (
                "database.masked_expression",
                f"{what} of a table with masked columns (PostgreSQL reports no origin for a "
                "merged column)",
            )
        )
        return
    if facts.positional_star:
        facts.hazards.append(
            (
                "database.masked_expression",
                "ORDER BY, GROUP BY or DISTINCT ON by position over a * of a table with "
                "masked columns (it may sort or group by a masked one: an oracle)",
            )
        )
        return
    for ref in sorted(facts.used):
        # a whole row (`p`, `p.*`, `(p.*)::text`) holds its masked columns: the guard
        # sees a name, the server the row's every value
        if ref[1] in rows or (ref[1] == "*" and (not ref[0] or ref[0].split(".")[-1] in rows)):
            facts.hazards.append(
                (
                    "database.masked_expression",
                    f"whole-row reference {'.'.join(filter(None, ref))!r} to a table with "
                    "masked columns outside the output list: its values could be probed",
                )
            )
            return
        if ref[1] != "*" and is_masked(ref):
            facts.hazards.append(
                (
                    "database.masked_expression",
                    f"masked column {ref[1]!r} used outside the output list (in WHERE, JOIN, "
                    "ORDER BY, SET, VALUES or a function call): its value could be probed or "
                    "copied",
                )
            )
            return
    for qualifier, column, derived in facts.exposed:
        if not qualifier and column in rows:
            reason = f"whole-row reference {column!r} to a table with masked columns"
        elif derived and column == "*":
            reason = "a star over a table with masked columns inside a subquery or expression"
        elif derived and is_masked((qualifier, column)):
            reason = f"masked column {column!r} inside an expression, subquery or RETURNING"
        else:
            continue
        facts.hazards.append(("database.masked_expression", reason))
        return


def _table_masked(name: str, mask: ColumnMask) -> bool:
    return ColumnMask(table=mask.table, column="*", kind=mask.kind).matches(name, "")


def _alias_masked(target: str, masked: set[TableRef]) -> bool:
    return any(table_name(t) == target or t[1] == target for t in masked)


class _Walker:
    __slots__ = ("ctes", "facts")

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        # the names a bare table reference means as a WITH query here, not as a table
        self.ctes: frozenset[str] = frozenset()

    def walk(self, obj: Any, flags: int) -> None:
        if type(obj) is list:
            for item in obj:
                if type(item) is dict or type(item) is list:
                    self.walk(item, flags)
            return
        if len(obj) == 1:
            ((key, value),) = obj.items()
            if key[0].isupper() and type(value) is dict:
                self.node(key, value, flags)
                return
        if "relname" in obj:
            self.range_var(obj)
        for key, value in obj.items():
            if type(value) is dict or type(value) is list:
                if (key == "larg" or key == "rarg") and type(value) is dict:
                    self.select(value, flags | NESTED)
                else:
                    self.walk(value, flags)

    def node(self, kind: str, body: dict[str, Any], flags: int) -> None:
        facts = self.facts
        facts.node_types.add(kind)
        if kind == "ColumnRef":
            self.column_ref(body, flags)
        elif kind == "FuncCall":
            self.function(body, flags)
        elif kind == "RangeVar":
            self.range_var(body)
        elif kind == "SelectStmt":
            self.select(body, flags)
        elif kind == "ResTarget" and flags & OUTPUT:
            value = body.get("val")
            if value is not None:
                bare = "ColumnRef" in value
                self.walk(value, flags if bare else flags | EXPR | NESTED)
        elif kind.endswith("Stmt"):
            self.statement(kind, body, flags)
        elif kind == "JoinExpr":
            if body.get("isNatural"):
                facts.merged.add("*")
            for name in body.get("usingClause", []):
                facts.merged.add(name.get("String", {}).get("sval", ""))
            self.walk(body, flags)
        elif kind == "RangeFunction":
            self.walk(body, flags | NESTED | OUTPUT | EXPR)
        else:
            self.walk(body, flags)

    def select(self, body: dict[str, Any], flags: int) -> None:
        if flags & EXEC and "valuesLists" not in body:
            self.facts.kinds.add("select")
        output = OUTPUT
        if "intoClause" in body:
            self.facts.kinds.add("ddl")
            output |= NESTED  # SELECT … INTO copies its output into a table: not shown
        inner = flags & ~(OUTPUT | EXPR)
        outer = self.with_clause(body, flags)
        for key, value in body.items():
            if (type(value) is not dict and type(value) is not list) or key == "withClause":
                continue
            if key == "targetList":
                self.walk(value, inner | output)
            elif (key == "larg" or key == "rarg") and type(value) is dict:
                self.select(value, inner | NESTED)
            else:
                self.walk(value, inner | NESTED)
        positions = _positions(body)
        if positions:
            self.facts.positional = True
            self.positional(body.get("targetList", []), positions)
        self.ctes = outer

    def positional(self, targets: list[Any], positions: list[int]) -> None:
        """`ORDER BY 2` sorts by the second output column as surely as naming it would:
        an oracle (sort probe rows among the real ones) when that column is masked."""
        for position in positions:
            for index, target in enumerate(targets[:position]):
                val = target.get("ResTarget", {}).get("val", {})
                fields = val.get("ColumnRef", {}).get("fields", [])
                if fields and "A_Star" in fields[-1]:
                    self.facts.positional_star = True
                    return
                if index == position - 1 and fields:
                    names = [f["String"]["sval"] for f in fields if "String" in f]
                    self.facts.used.add((".".join(names[:-1]), names[-1]))

    def with_clause(self, body: dict[str, Any], flags: int) -> frozenset[str]:
        """Walk a WITH list, each query seeing only the names defined before it (all of
        them under RECURSIVE), so `WITH patients AS (… FROM patients)` still reads the
        table; then leave every name visible for the statement. Returns the scope to
        restore after it."""
        outer = self.ctes
        clause = body.get("withClause")
        if type(clause) is not dict:
            return outer
        ctes = [c.get("CommonTableExpr", {}) for c in clause.get("ctes", [])]
        names = [str(c.get("ctename", "")) for c in ctes]
        for index, cte in enumerate(ctes):
            self.facts.node_types.add("CommonTableExpr")
            seen = names if clause.get("recursive") else names[:index]
            self.ctes = outer | frozenset(seen)
            self.walk(cte, (flags | NESTED) & ~OUTPUT)
        self.ctes = outer | frozenset(names)
        return outer

    def statement(self, kind: str, body: dict[str, Any], flags: int) -> None:
        facts = self.facts
        executed = bool(flags & EXEC)
        if kind in ("UpdateStmt", "DeleteStmt"):
            if executed:
                facts.kinds.add("update" if kind == "UpdateStmt" else "delete")
            where = body.get("whereClause")
            if where is None or not _bounded(where):
                verb = "UPDATE" if kind == "UpdateStmt" else "DELETE"
                facts.hazards.append(
                    ("database.unbounded_write", f"{verb} without a WHERE that names a column")
                )
        elif kind == "CopyStmt":
            self.copy(body)
        elif kind == "ExplainStmt":
            facts.kinds.add("explain")
            analyze = any(
                o.get("DefElem", {}).get("defname") == "analyze"
                and _truthy(o["DefElem"].get("arg"))
                for o in body.get("options", [])
            )
            self.walk(body.get("query", {}), flags if analyze else flags & ~EXEC)
            return
        elif kind == "VariableSetStmt":
            self.setting(body)
        elif kind == "DoStmt":
            facts.hazards.append(("database.do", "DO runs procedural code (dynamic SQL)"))
        elif kind == "AlterSystemStmt":
            facts.hazards.append(("database.alter_system", "ALTER SYSTEM changes server config"))
        elif kind == "LoadStmt":
            facts.hazards.append(("database.load", "LOAD loads a shared library"))
        elif kind == "PrepareStmt":
            facts.kinds.add("prepare")
            inner = Facts()
            _Walker(inner).walk(body.get("query", {}), EXEC)
            facts.prepares.append((body.get("name", ""), inner))
            facts.node_types |= inner.node_types
            return
        elif kind == "ExecuteStmt":
            facts.kinds.add("execute")
            facts.executes.append(body.get("name", ""))
        elif kind == "DeallocateStmt":
            facts.kinds.add("deallocate")
            facts.deallocates.append("*" if body.get("isall") else body.get("name", "*"))
        elif executed:
            facts.kinds.add(_SIMPLE_KINDS.get(kind, "ddl"))
        if kind == "DeclareCursorStmt":
            facts.cursors.append(str(body.get("portalname", "")))
            self.walk(body, flags & ~NESTED)
            return
        rest = (flags | NESTED) & ~(OUTPUT | EXPR)
        outer = self.with_clause(body, flags)
        for key, value in body.items():
            if (type(value) is dict or type(value) is list) and key != "withClause":
                self.walk(value, rest | OUTPUT | EXPR if key == "returningList" else rest)
        self.ctes = outer

    def copy(self, body: dict[str, Any]) -> None:
        facts = self.facts
        facts.kinds.add("copy_in" if body.get("is_from") else "copy_out")
        facts.copied = not body.get("is_from")
        if body.get("is_program"):
            facts.hazards.append(("database.copy_program", "COPY … PROGRAM runs a server command"))
        elif body.get("filename"):
            facts.hazards.append(("database.copy_file", "COPY to or from a server file"))
        elif body.get("is_from"):
            facts.copy_in = True
        for option in body.get("options", []):
            elem = option.get("DefElem", {})
            if elem.get("defname") == "format" and not body.get("is_from"):
                value = elem.get("arg", {}).get("String", {}).get("sval", "")
                if value.lower() == "binary":
                    facts.hazards.append(
                        ("database.copy_binary", "binary COPY TO cannot be masked")
                    )

    def setting(self, body: dict[str, Any]) -> None:
        self.facts.kinds.add("set")
        name = body.get("name", "").lower()
        if body.get("kind") == "VAR_RESET" or body.get("kind") == "VAR_RESET_ALL":
            return
        if name in FORBIDDEN_SETTINGS:
            self.facts.hazards.append(("database.setting", f"SET {name} is not allowed"))
        elif name == "standard_conforming_strings":  # DEFAULT: the server's (see backend)
            values = [
                a.get("A_Const", {}).get("sval", {}).get("sval") for a in body.get("args", ())
            ]
            if values and [str(v).lower() for v in values] not in (["on"], ["true"], ["yes"]):
                self.facts.hazards.append(
                    (
                        "database.setting",
                        f"SET {name} other than on changes how PostgreSQL reads string "
                        "literals, which the guard's parser would then misread",
                    )
                )
        elif name == "client_encoding":
            for arg in body.get("args", []):
                value = arg.get("A_Const", {}).get("sval", {}).get("sval", "")
                if value.lower() not in UTF8_ENCODINGS:
                    self.facts.hazards.append(
                        ("database.setting", "client_encoding other than UTF8 cannot be masked")
                    )

    def column_ref(self, body: dict[str, Any], flags: int) -> None:
        names = []
        for item in body.get("fields", []):
            names.append(item["String"]["sval"] if "String" in item else "*")
        if not names:
            return
        ref = (".".join(names[:-1]), names[-1])
        self.facts.columns.add(ref)
        if flags & OUTPUT:
            self.facts.exposed.add((ref[0], ref[1], bool(flags & (NESTED | EXPR))))
        else:
            self.facts.used.add(ref)

    def function(self, body: dict[str, Any], flags: int) -> None:
        names = [n["String"]["sval"].lower() for n in body.get("funcname", []) if "String" in n]
        if names:
            name = names[-1]
            self.facts.functions.add(name)
            if name == "set_config":
                self.set_config(body.get("args", []))
            elif name in SIDE_EFFECT_FUNCTIONS or name.startswith(SIDE_EFFECT_PREFIXES):
                self.facts.hazards.append(
                    ("database.side_effect_function", f"{name}() has side effects")
                )
            elif name.startswith(DYNAMIC_SQL_PREFIXES):
                self.facts.hazards.append(
                    ("database.dynamic_sql", f"{name}() runs SQL given as a string")
                )
        self.walk(body, flags | EXPR | NESTED if flags & OUTPUT else flags)

    def set_config(self, args: list[Any]) -> None:
        """set_config() is SET: allowed for a literal setting name SET itself may change."""
        first = args[0] if args else {}
        name = first.get("A_Const", {}).get("sval", {}).get("sval")
        if name is None:
            reason = "set_config() with a computed setting name"
        elif name.lower() in FORBIDDEN_SETTINGS or name.lower() in LEXING_SETTINGS:
            reason = f"set_config({name!r}) is not allowed"
        else:
            return
        self.facts.hazards.append(("database.setting", reason))

    def range_var(self, body: dict[str, Any]) -> None:
        ref = (body.get("schemaname", ""), body.get("relname", ""))
        if not ref[0] and ref[1] in self.ctes:
            return  # a WITH query of this statement, not a table
        self.facts.tables.add(ref)
        alias = body.get("alias", {}).get("aliasname")
        if alias:
            self.facts.aliases[alias] = table_name(ref)


def _positions(body: dict[str, Any]) -> list[int]:
    """The output positions a SELECT's GROUP BY, DISTINCT ON and ORDER BY name."""
    items = [*body.get("groupClause", ()), *body.get("distinctClause", ())]
    items += [s.get("SortBy", {}).get("node", {}) for s in body.get("sortClause", ())]
    found: list[int] = []
    while items:
        item = items.pop()
        if type(item) is not dict:
            continue
        if "GroupingSet" in item:
            items.extend(item["GroupingSet"].get("content", ()))
        const = item.get("A_Const", {})
        if "ival" in const:
            found.append(int(const["ival"].get("ival", 0)))
    return found


def _bounded(where: Any) -> bool:
    """A WHERE bounds a write only if it names a column (or is WHERE CURRENT OF)."""
    if type(where) is dict:
        if "ColumnRef" in where or "CurrentOfExpr" in where:
            return True
        return any(_bounded(v) for k, v in where.items() if k != "SubLink")
    if type(where) is list:
        return any(_bounded(v) for v in where)
    return False


def _truthy(arg: Any) -> bool:
    if arg is None:
        return True
    text = str(next(iter(arg.get("String", {}).values()), "true")).lower()
    if "Boolean" in arg:
        return bool(arg["Boolean"].get("boolval"))
    return text not in ("false", "off", "0", "no")
