"""SQL statement rules: what a rule matches on, and the built-in lists the guard enforces.

A rule states conditions over a statement's kinds, tables, columns and functions.
Block and approve rules match when *any* kind/table/column/function they list occurs;
allow rules match only when the statement stays *within* what they list (every kind,
table, column and function is covered), so `allow: kinds [select]` never lets a
`WITH d AS (DELETE …) SELECT` through. Globs use fnmatch (`*`, `?`, `[…]`).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from fnmatch import fnmatchcase

from hgate.guard.rules import Action

KINDS = (
    "select",
    "insert",
    "update",
    "delete",
    "merge",
    "copy_in",
    "copy_out",
    "explain",
    "transaction",
    "set",
    "show",
    "prepare",
    "execute",
    "deallocate",
    "cursor",
    "notify",
    "lock",
    "maintenance",
    "call",
    "truncate",
    "discard",
    "ddl",
    "grant",
)

TableRef = tuple[str, str]  # (schema or "", relation)
ColumnRef = tuple[str, str]  # (qualifier or "", column or "*")


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlRule:
    """One `database.statements.rules` entry; unstated conditions match anything."""

    name: str
    action: Action
    kinds: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMask:
    """A column whose values are masked as `kind` (`table` and `column` are globs)."""

    table: str
    column: str
    kind: str

    def matches(self, table: str, column: str) -> bool:
        return _glob_table(table, self.table) and fnmatchcase(column, self.column)

    def covers_table(self, table: str) -> bool:
        """Whether some column of `table` ("schema.table" or "table") may be masked."""
        return _glob_table(table, self.table)


def _glob_table(name: str, pattern: str) -> bool:
    """`patients` matches in any schema; `public.patients` only `public.patients`."""
    if "." in pattern:
        return fnmatchcase(name if "." in name else f"public.{name}", pattern)
    return fnmatchcase(name.rsplit(".", 1)[-1], pattern)


def table_name(ref: TableRef) -> str:
    return f"{ref[0]}.{ref[1]}" if ref[0] else ref[1]


def column_matches(
    ref: ColumnRef, pattern: str, aliases: dict[str, str], tables: Set[TableRef]
) -> bool:
    """`table.column` or `column` globs; an unqualified reference may be any table's."""
    table_glob, _, column_glob = pattern.rpartition(".")
    if not fnmatchcase(ref[1], column_glob):
        return False
    if not table_glob:
        return True
    if ref[0]:
        return _glob_table(aliases.get(ref[0], ref[0]), table_glob)
    return any(_glob_table(table_name(t), table_glob) for t in tables)


def rule_matches(
    rule: SqlRule,
    *,
    kinds: Set[str],
    tables: Set[TableRef],
    columns: Set[ColumnRef],
    functions: Set[str],
    aliases: dict[str, str],
) -> bool:
    covering = rule.action == "allow"
    test = all if covering else any
    if rule.kinds and not test(kind in rule.kinds for kind in kinds):
        return False
    if rule.tables and not test(
        any(_glob_table(table_name(t), g) for g in rule.tables) for t in tables
    ):
        return False
    if rule.columns and not test(
        any(column_matches(c, g, aliases, tables) for g in rule.columns) for c in columns
    ):
        return False
    if rule.functions and not test(
        any(fnmatchcase(f, g) for g in rule.functions) for f in functions
    ):
        return False
    if covering:
        return True
    # a block/approve rule must find something it names (an empty statement matches none)
    return bool(
        (not rule.kinds or kinds)
        and (not rule.tables or tables)
        and (not rule.columns or columns)
        and (not rule.functions or functions)
    )


SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_ls_logdir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_archive_statusdir",
        "pg_ls_logicalmapdir",
        "pg_ls_logicalsnapdir",
        "pg_ls_replslotdir",
        "pg_stat_file",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_file_sync",
        "pg_logdir_ls",
        "loread",
        "lowrite",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_create_physical_replication_slot",
        "pg_create_logical_replication_slot",
        "pg_drop_replication_slot",
        "pg_replication_slot_advance",
        "pg_copy_physical_replication_slot",
        "pg_copy_logical_replication_slot",
        "pg_wal_replay_pause",
        "pg_wal_replay_resume",
        "pg_import_system_collations",
        "pg_log_backend_memory_contexts",
        "binary_upgrade_set_next_pg_type_oid",
    }
)
SIDE_EFFECT_PREFIXES = ("lo_", "dblink", "pg_logical_", "binary_upgrade_", "pg_replication_origin")
DYNAMIC_SQL_PREFIXES = (
    "query_to_xml",
    "cursor_to_xml",
    "table_to_xml",
    "schema_to_xml",
    "database_to_xml",
)
# planner statistics views: sampled values of every column the reader may select
STATISTICS = frozenset(
    {"pg_stats", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic", "pg_statistic_ext_data"}
)
FORBIDDEN_SETTINGS = frozenset({"role", "session_authorization", "search_path"})
UTF8_ENCODINGS = frozenset({"utf8", "utf-8", "unicode", "sql_ascii"})
# settings that change how the server reads a statement's bytes (the guard parses with
# their defaults): set_config() of them is refused, SET only to on (standard strings)
LEXING_SETTINGS = frozenset({"standard_conforming_strings", "client_encoding"})

ALLOWED_NODE_TYPES = frozenset(
    (
        "A_ArrayExpr",
        "A_Const",
        "A_Expr",
        "A_Indices",
        "A_Indirection",
        "A_Star",
        "AccessPriv",
        "Alias",
        "BitString",
        "Boolean",
        "BoolExpr",
        "BooleanTest",
        "CaseExpr",
        "CaseWhen",
        "CoalesceExpr",
        "CollateClause",
        "ColumnDef",
        "ColumnRef",
        "CommonTableExpr",
        "Constraint",
        "CurrentOfExpr",
        "DefElem",
        "Float",
        "FuncCall",
        "GroupingFunc",
        "GroupingSet",
        "IndexElem",
        "InferClause",
        "Integer",
        "IntoClause",
        "JoinExpr",
        "List",
        "LockingClause",
        "MergeWhenClause",
        "MinMaxExpr",
        "MultiAssignRef",
        "NamedArgExpr",
        "NullTest",
        "ObjectWithArgs",
        "OnConflictClause",
        "ParamRef",
        "PartitionBoundSpec",
        "PartitionElem",
        "PartitionSpec",
        "RangeFunction",
        "RangeSubselect",
        "RangeTableSample",
        "RangeVar",
        "ResTarget",
        "RoleSpec",
        "RowExpr",
        "SQLValueFunction",
        "SetToDefault",
        "SortBy",
        "String",
        "SubLink",
        "TableLikeClause",
        "TypeCast",
        "TypeName",
        "WindowDef",
        "WithClause",
        "XmlExpr",
        "XmlSerialize",
        "FunctionParameter",
        "StatsElem",
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "MergeStmt",
        "CopyStmt",
        "ExplainStmt",
        "TransactionStmt",
        "VariableSetStmt",
        "VariableShowStmt",
        "PrepareStmt",
        "ExecuteStmt",
        "DeallocateStmt",
        "DeclareCursorStmt",
        "FetchStmt",
        "ClosePortalStmt",
        "ListenStmt",
        "NotifyStmt",
        "UnlistenStmt",
        "LockStmt",
        "VacuumStmt",
        "VacuumRelation",
        "TruncateStmt",
        "DiscardStmt",
        "CreateTableAsStmt",
        "CallStmt",
        "CreateStmt",
        "AlterTableStmt",
        "AlterTableCmd",
        "DropStmt",
        "IndexStmt",
        "ViewStmt",
        "CreateSeqStmt",
        "AlterSeqStmt",
        "RenameStmt",
        "CommentStmt",
        "CreateSchemaStmt",
        "CreateEnumStmt",
        "CompositeTypeStmt",
        "CreateStatsStmt",
        "ClusterStmt",
        "ReindexStmt",
        "RefreshMatViewStmt",
        "GrantStmt",
        "GrantRoleStmt",
    )
)
