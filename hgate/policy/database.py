"""The `database:` section: the PostgreSQL proxy, its statement rules and column masking.

Rules are built as `hgate.guard.sql_rules` values, so the guard never imports the
policy. docs/policy.md documents every key; docs/database.md the behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hgate.guard import ACTIONS, Action
from hgate.guard.sql_rules import ALLOWED_NODE_TYPES, KINDS, ColumnMask, SqlRule
from hgate.policy.document import Node

_SECTION_KEYS = (
    "proxy",
    "statements",
    "masking",
    "allow_function_call",
    "allow_copy_both",
    "limits",
    "approval_timeout",
)
_RULE_KEYS = ("name", "action", "kinds", "tables", "columns", "functions")
_KIND = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
_NODE_TYPE = re.compile(r"^[A-Z][A-Za-z_]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseLimits:
    """Exposure limits per session; past one, every further statement is blocked."""

    max_rows: int | None = None
    max_masked_values: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabasePolicy:
    """What the PostgreSQL proxy lets through and how it masks results (docs/database.md)."""

    proxy: bool = False
    default: Action = "block"
    rules: tuple[SqlRule, ...] = ()
    allow_node_types: tuple[str, ...] = ()
    masks: tuple[ColumnMask, ...] = ()
    content: bool = True  # run the masking engine's detectors on text values too
    allow_function_call: bool = False
    allow_copy_both: bool = False
    limits: DatabaseLimits = DatabaseLimits()
    approval_timeout: float = 300.0


def parse_database(node: Node | None) -> DatabasePolicy:
    """The `database:` section; absent means no proxy (the agent gets no database path)."""
    if node is None:
        return DatabasePolicy()
    fields = node.mapping(_SECTION_KEYS)
    defaults = DatabasePolicy()
    proxy = fields.get("proxy")
    statements = _Statements.parse(fields.get("statements"))
    masks, content = _masking(fields.get("masking"))
    timeout = fields.get("approval_timeout")
    return DatabasePolicy(
        proxy=proxy.boolean() if proxy is not None else True,
        default=statements.default,
        rules=statements.rules,
        allow_node_types=statements.node_types,
        masks=masks,
        content=content,
        allow_function_call=_flag(fields.get("allow_function_call")),
        allow_copy_both=_flag(fields.get("allow_copy_both")),
        limits=_limits(fields.get("limits")),
        approval_timeout=timeout.duration() if timeout is not None else defaults.approval_timeout,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Statements:
    default: Action = "block"
    rules: tuple[SqlRule, ...] = ()
    node_types: tuple[str, ...] = ()

    @classmethod
    def parse(cls, node: Node | None) -> _Statements:
        if node is None:
            return cls()
        fields = node.mapping(("default", "rules", "allow_node_types"))
        default = fields.get("default")
        rules = fields.get("rules")
        types = fields.get("allow_node_types")
        return cls(
            default=_action(default) if default is not None else "block",
            rules=tuple(_rule(item) for item in rules.items()) if rules is not None else (),
            node_types=tuple(_node_type(item) for item in types.items()) if types else (),
        )


def _rule(node: Node) -> SqlRule:
    fields = node.mapping(_RULE_KEYS, required=("name", "action"))
    kinds = _strings(fields.get("kinds"))
    for index, kind in enumerate(kinds):
        if kind not in KINDS:
            kinds_node = fields["kinds"]
            item = list(kinds_node.items())[index]
            item.fail(f"unknown statement kind {kind!r}", remedy=f"one of {', '.join(KINDS)}")
    rule = SqlRule(
        name=fields["name"].string(),
        action=_action(fields["action"]),
        kinds=kinds,
        tables=_strings(fields.get("tables")),
        columns=_strings(fields.get("columns")),
        functions=tuple(f.lower() for f in _strings(fields.get("functions"))),
    )
    if not (rule.kinds or rule.tables or rule.columns or rule.functions):
        node.fail("a rule needs at least one of kinds, tables, columns or functions")
    return rule


def _masking(node: Node | None) -> tuple[tuple[ColumnMask, ...], bool]:
    if node is None:
        return (), True
    fields = node.mapping(("columns", "content"))
    masks: list[ColumnMask] = []
    if (columns := fields.get("columns")) is not None:
        for item in columns.items():
            entry = item.mapping(("column", "kind"), required=("column", "kind"))
            column = entry["column"].string()
            table, dot, name = column.rpartition(".")
            if not dot or not table or not name:
                entry["column"].fail(
                    f"expected table.column (globs allowed), found {column!r}",
                    remedy="for example patients.ssn or public.patients.*_name",
                )
            kind = entry["kind"].string()
            if not _KIND.match(kind):
                entry["kind"].fail(f"kind {kind!r} must be UPPER_CASE letters, digits and _")
            masks.append(ColumnMask(table=table, column=name, kind=kind))
    content = fields.get("content")
    return tuple(masks), content.boolean() if content is not None else True


def _limits(node: Node | None) -> DatabaseLimits:
    if node is None:
        return DatabaseLimits()
    fields = node.mapping(("max_rows", "max_masked_values"))
    rows, masked = fields.get("max_rows"), fields.get("max_masked_values")
    return DatabaseLimits(
        max_rows=rows.integer(minimum=1) if rows is not None else None,
        max_masked_values=masked.integer(minimum=1) if masked is not None else None,
    )


def _node_type(node: Node) -> str:
    name = node.string()
    if not _NODE_TYPE.match(name):
        node.fail(f"{name!r} is not a PostgreSQL parse-node type name such as DoStmt")
    if name in ALLOWED_NODE_TYPES:
        node.fail(f"{name} is already on the default allow-list")
    return name


def _strings(node: Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    if isinstance(node.node.value, str):
        return (node.string(),)
    return node.strings()


def _action(node: Node) -> Action:
    value = node.choice(ACTIONS)
    return "allow" if value == "allow" else "approve" if value == "approve" else "block"


def _flag(node: Node | None) -> bool:
    return node.boolean() if node is not None else False
