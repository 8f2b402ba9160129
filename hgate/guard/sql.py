"""The SQL statement guard: statement text in, a `Verdict` out, with PostgreSQL's own parser.

    text ──► pgparse (libpg_query) ──► Facts per statement ──► built-in hazards
                                                          └──► policy rules ──► Verdict

Built-in hazards (COPY PROGRAM, server files, side-effect and dynamic-SQL functions, DO,
SET ROLE/search_path, ALTER SYSTEM, LOAD, unbounded UPDATE/DELETE, node types outside
the allow-list, masked columns leaving through expressions) block whatever the rules
say. A string that does not parse is blocked. Verdicts are cached by exact text and, for
plain SELECT/INSERT/UPDATE/DELETE whose verdict cannot depend on a literal, by the text
with its literals normalised away (`pgparse.normalize`), so `WHERE aid = 1` and
`WHERE aid = 2` are parsed once; SQL
PREPARE/EXECUTE is classified at PREPARE and enforced at EXECUTE per connection
(`PreparedVerdicts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pgparse

from hgate.guard.rules import SEVERITY, Action
from hgate.guard.sql_facts import Facts, facts_of
from hgate.guard.sql_rules import (
    ALLOWED_NODE_TYPES,
    ColumnMask,
    SqlRule,
    TableRef,
    rule_matches,
    table_name,
)
from hgate.guard.verdict import Verdict

UNPARSABLE = "database.unparsable"
DEFAULT = "database.default"
CACHE_SIZE = 4096
# statements whose verdict reads no literal: only their structure and names count (see
# sql_facts: literals are read only by SET, set_config(), COPY, EXPLAIN options and
# DefElem arguments, none of which may appear in a shape-cached string)
_SHAPE_STATEMENTS = frozenset(("SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt"))
_SHAPE_UNSAFE_NODES = frozenset(("DefElem", "VariableSetStmt", "ParamRef"))


class Relations(Protocol):
    """What the database says a relation's columns carry (the proxy's catalog).

    A partition, an inheritance child, a view or a materialized view of a masked table
    holds its values under another name, which no mask names: the guard asks which of
    a statement's relations are such, and checks their columns like the masked ones."""

    @property
    def generation(self) -> int:
        """Changes when what the relations carry may have (DDL): cached verdicts go."""

    def require(self, refs: Iterable[TableRef]) -> None:
        """Return when every ref is resolved; else raise (the proxy's `Wait`), to be
        asked again once it is."""

    def columns_of(self, ref: TableRef) -> Mapping[str, tuple[tuple[str, str], ...]] | None:
        """Each column of the relation and the (table, column) values it may carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """A statement string's verdict and what it does to SQL-level prepared statements."""

    verdict: Verdict
    statements: int = 0
    prepares: tuple[tuple[str, Verdict], ...] = ()
    executes: tuple[str, ...] = ()
    deallocates: tuple[str, ...] = ()  # "*" for DEALLOCATE ALL
    cursors: tuple[str, ...] = ()  # names of the cursors it DECLAREs
    copy_in: bool = False  # it holds a COPY FROM STDIN (at most one: see _classify)


@dataclass(slots=True)
class PreparedVerdicts:
    """One connection's SQL PREPAREd statements and the verdict each got at PREPARE.

    Updated when a string is checked, before the server has run it, and the server may
    not (an aborted transaction, an earlier error in the string, a name that is taken):
    so a PREPARE of a name already known keeps the more severe of both verdicts (the
    server keeps the first statement if the name is taken), and DEALLOCATE only retires
    a name (EXECUTE of it is refused, a new PREPARE of it keeps the old verdict's
    severity), since a DEALLOCATE that failed leaves the statement on the server.
    `taken` is every name ever SQL-PREPAREd here: a protocol Bind to one is refused.
    """

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    retired: dict[str, Verdict] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)


class SqlGuard:
    """Pure classification; knows nothing of sockets, sessions or transcripts."""

    def __init__(
        self,
        rules: Iterable[SqlRule] = (),
        *,
        default: Action = "block",
        masks: Iterable[ColumnMask] = (),
        extra_node_types: Iterable[str] = (),
        relations: Relations | None = None,
    ) -> None:
        self.relations = relations
        self._generation = relations.generation if relations is not None else 0
        self.rules = tuple(rules)
        self.default: Action = default
        self.masks = tuple(masks)
        self.node_types = ALLOWED_NODE_TYPES | frozenset(extra_node_types)
        self._cache: dict[str, Classification] = {}
        self._shapes: dict[str, Classification] = {}  # normalised text -> literal-free verdict

    def check(self, text: str, prepared: PreparedVerdicts | None = None) -> Verdict:
        """The verdict for a statement string on one connection (updates `prepared`)."""
        found = self.classify(text)
        verdict = found.verdict
        if prepared is None:
            return verdict
        for name in found.executes:
            stored = prepared.verdicts.get(name)
            if stored is None:
                stored = Verdict(
                    action="block",
                    rule="database.execute_unknown",
                    reason=f"EXECUTE of {name!r}, which was not PREPAREd through hgate",
                )
            verdict = most_severe(verdict, stored)
        if verdict.action == "block":
            return verdict
        verdicts, retired = prepared.verdicts, prepared.retired
        for name in found.deallocates:
            names = list(verdicts) if name == "*" else [name] if name in verdicts else []
            for gone in names:
                old = retired.get(gone)
                stored = verdicts.pop(gone)
                retired[gone] = stored if old is None else most_severe(old, stored)
        for name, stored in found.prepares:
            for old in (verdicts.get(name), retired.pop(name, None)):
                if old is not None:
                    stored = most_severe(old, stored)
            verdicts[name] = stored
            prepared.taken.add(name)
        return verdict

    def classify(self, text: str) -> Classification:
        if self.relations is not None and self.relations.generation != self._generation:
            self._generation = self.relations.generation
            self._cache.clear()
            self._shapes.clear()
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        shape = _shape_of(text)
        result = self._shapes.get(shape) if shape is not None else None
        if result is None:
            result, literal_free = self._classify(text)
            if shape is not None and literal_free:
                _remember(self._shapes, shape, result)
        _remember(self._cache, text, result)
        return result

    def _classify(self, text: str) -> tuple[Classification, bool]:
        """The classification, and whether no literal in `text` could have changed it."""
        try:
            tree = pgparse.parse(text)
        except pgparse.PGQueryError as exc:
            return Classification(
                verdict=Verdict(action="block", rule=UNPARSABLE, reason=f"parse error: {exc}")
            ), False
        except Exception as exc:  # the parser must never let a statement through
            return Classification(
                verdict=Verdict(action="block", rule=UNPARSABLE, reason=type(exc).__name__)
            ), False
        literal_free = bool(tree)
        verdict: Verdict | None = None
        prepares: list[tuple[str, Verdict]] = []
        executes: list[str] = []
        deallocates: list[str] = []
        cursors: list[str] = []
        copies = 0
        for raw in tree:
            stmt = raw.get("stmt", {})
            facts = facts_of(stmt, self.masks)
            derived = self._derived_masks(facts)
            if derived:
                facts = facts_of(stmt, self.masks + derived)
            literal_free = (
                literal_free
                and len(stmt) == 1
                and next(iter(stmt)) in _SHAPE_STATEMENTS
                and not facts.node_types & _SHAPE_UNSAFE_NODES
                and "set_config" not in facts.functions
                and not facts.prepares
                and not facts.executes
                and not facts.deallocates
                and not facts.positional  # normalize turns DISTINCT ON (2) into ($1)
            )
            judged = self._judge(facts)
            verdict = judged if verdict is None else most_severe(verdict, judged)
            for name, inner in facts.prepares:
                inner_verdict = self._judge(inner)
                verdict = most_severe(verdict, inner_verdict, only_block=True)
                prepares.append((name, inner_verdict))
            executes.extend(facts.executes)
            deallocates.extend(facts.deallocates)
            cursors.extend(facts.cursors)
            copies += facts.copy_in
        if verdict is None:
            verdict = Verdict(action="allow", rule=DEFAULT, reason="empty statement")
        if copies > 1:  # the proxy follows one COPY's data stream per string
            verdict = Verdict(
                action="block",
                rule="database.copy_in_twice",
                reason="more than one COPY FROM STDIN in one statement string",
            )
        return Classification(
            verdict=verdict,
            statements=len(tree),
            prepares=tuple(prepares),
            executes=tuple(executes),
            deallocates=tuple(deallocates),
            cursors=tuple(cursors),
            copy_in=copies > 0,
        ), literal_free

    def _derived_masks(self, facts: Facts) -> tuple[ColumnMask, ...]:
        """Masks for the columns of the statement's relations that carry a masked
        table's values under another name (partitions, children, views): may raise
        (through `relations.require`) until the relations are resolved."""
        if not self.masks or self.relations is None:
            return ()
        refs = set(facts.tables)
        for _name, inner in facts.prepares:
            refs |= inner.tables
        refs = {r for r in refs if r[0] not in ("pg_catalog", "information_schema")}
        if not refs:
            return ()
        self.relations.require(refs)
        found: list[ColumnMask] = []
        for ref in sorted(refs):
            columns = self.relations.columns_of(ref) or {}
            for column, origins in columns.items():
                kind = next(
                    (m.kind for m in self.masks for t, c in origins if m.matches(t, c)), None
                )
                if kind is not None:
                    found.append(
                        ColumnMask(
                            table=_literal_glob(table_name(ref)),
                            column=_literal_glob(column),
                            kind=kind,
                        )
                    )
        return tuple(found)

    def _judge(self, facts: Facts) -> Verdict:
        if facts.hazards:
            hazard, reason = facts.hazards[0]
            return Verdict(action="block", rule=hazard, reason=reason)
        unknown = sorted(facts.node_types - self.node_types)
        if unknown:
            return Verdict(
                action="block",
                rule="database.node_type",
                reason=f"{', '.join(unknown)} is not on the statement allow-list",
            )
        best: Verdict | None = None
        allowed: str | None = None
        for rule in self.rules:
            if not rule_matches(
                rule,
                kinds=facts.kinds,
                tables=facts.tables,
                columns=facts.columns,
                functions=facts.functions,
                aliases=facts.aliases,
            ):
                continue
            if rule.action == "allow":
                allowed = allowed or rule.name
                continue
            candidate = Verdict(action=rule.action, rule=rule.name, reason=facts.summary())
            best = candidate if best is None else most_severe(best, candidate)
        if best is not None:
            return best
        if allowed or not facts.kinds:
            return Verdict(action="allow", rule=allowed or DEFAULT)
        return Verdict(
            action=self.default,
            rule=DEFAULT,
            reason=f"no rule allows {facts.summary()}" if self.default != "allow" else "",
        )


def _shape_of(text: str) -> str | None:
    """`text` with every literal replaced by $n (libpg_query's normalize, ~2 µs), or None
    when the text has its own $ (parameters, dollar quotes) or does not normalise."""
    if "$" in text:
        return None
    try:
        shape = pgparse.normalize(text)
    except Exception:  # unparsable: the exact-text path blocks it
        return None
    return shape if shape != text else None


def _literal_glob(name: str) -> str:
    """`name` as a glob matching only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _remember(cache: dict[str, Classification], key: str, value: Classification) -> None:
    """Emptied when full, not trimmed from the front: after many front pops, finding a
    dict's first key walks every deleted slot, a cost paid on each new statement."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


def most_severe(current: Verdict, other: Verdict, *, only_block: bool = False) -> Verdict:
    if only_block and other.action != "block":
        return current
    return other if SEVERITY[other.action] > SEVERITY[current.action] else current
