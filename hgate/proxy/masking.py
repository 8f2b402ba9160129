"""Result masking: a plan per result shape, applied to each DataRow, COPY row and notice.

A column is masked by rule (its table and column, from the RowDescription OIDs), or
scanned by the masking engine's detectors (text-like types), or passed untouched. A
masked value keeps a valid wire shape for its type: text-like types (text, varchar,
bpchar, name, xml) carry the keyed token, json/jsonb a JSON string holding it (binary
jsonb with its version byte); every other type (numbers, dates, uuid, bytea, arrays and
records in binary) becomes NULL, because no value of that type can carry a token and a
made-up one would pass for data. Values from masked columns join the session's taint
set, so the PTY masker catches them later whatever their shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hgate.guard.sql_rules import ColumnMask
from hgate.mask import Masker
from hgate.proxy import messages as msg
from hgate.proxy.catalog import Catalog
from hgate.proxy.wait import Wait

PASS, SCAN, MASK = 0, 1, 2
TEXTUAL = frozenset({25, 1043, 1042, 19, 705, 142})  # text varchar bpchar name unknown xml
JSON, JSONB = 114, 3802
TEXT_ARRAYS = frozenset({1009, 1015, 1014, 1003, 199, 3807, 143})
RECORD = 2249
INTEGERS = {20: 8, 21: 2, 23: 4}
MIN_TAINT = 4
FIRST_USER_OID = 16384
MAX_DESCRIBED = 1024
ROW_WITHHELD = "hgate withheld this detail: it quotes values of a table with masked columns"

Action = tuple[int, str]  # (PASS | SCAN | MASK, kind)
Taint = Callable[[str, str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RowPlan:
    actions: tuple[Action, ...]
    types: tuple[int, ...]
    formats: tuple[int, ...]


def scannable(type_oid: int) -> bool:
    return (
        type_oid in TEXTUAL
        or type_oid in (JSON, JSONB, RECORD)
        or type_oid in TEXT_ARRAYS
        or type_oid >= FIRST_USER_OID  # enums, domains, composites: read as text
    )


class ResultMasker:
    """Builds and applies row plans for one proxy (shared by its connections)."""

    def __init__(
        self,
        *,
        masker: Masker,
        masks: Sequence[ColumnMask],
        catalog: Catalog,
        content: bool = True,
        taint: Taint | None = None,
    ) -> None:
        self.masker = masker
        self.masks = tuple(masks)
        self.catalog = catalog
        self.content = content
        self._taint = taint
        self._tainted: set[str] = set()
        self._plans: dict[tuple[object, ...], RowPlan | None] = {}
        # a simple query's RowDescription body -> its plan (the same bytes every time a
        # statement repeats: no decoding, no key building); dropped with the plans
        self.described: dict[bytes, RowPlan | None] = {}

    def plan(
        self, columns: Sequence[msg.Column], formats: Sequence[int] | None = None
    ) -> RowPlan | None:
        """The plan for a result shape, or None when every value passes untouched.

        Raises `Wait` (before changing anything) when a column rule needs table names
        the catalog has not read yet."""
        fmts = tuple(_formats(columns, formats))
        key = (*columns, *fmts)
        if key in self._plans:
            return self._plans[key]
        if self.masks:
            oids = [c.table_oid for c in columns if c.table_oid]
            if not self.catalog.known(oids):
                raise Wait(lambda: self.catalog.resolve(oids))
        actions: list[Action] = []
        for column in columns:
            kind = self._rule_kind(column)
            if kind:
                actions.append((MASK, kind))
            elif self.content and scannable(column.type_oid):
                actions.append((SCAN, ""))
            else:
                actions.append((PASS, ""))
        plan = None
        if any(a[0] != PASS for a in actions):
            plan = RowPlan(
                actions=tuple(actions), types=tuple(c.type_oid for c in columns), formats=fmts
            )
        self._plans[key] = plan
        return plan

    def plan_described(self, body: bytes) -> RowPlan | None:
        """The plan for a RowDescription in its own formats (a simple query's result)."""
        if body in self.described:
            return self.described[body]
        plan = self.plan(msg.parse_row_description(body))
        if len(self.described) >= MAX_DESCRIBED:
            self.described.clear()
        self.described[body] = plan
        return plan

    def invalidate(self) -> None:
        self.described.clear()
        self._plans.clear()
        self.catalog.invalidate()

    def _rule_kind(self, column: msg.Column) -> str:
        if not column.table_oid or not self.masks:
            return ""
        # the column's own table and column, and those it may carry: a partition's or
        # child's parent, the tables a view reads (catalog.origins)
        for table, name in self.catalog.origins(column.table_oid, column.attnum):
            for mask in self.masks:
                if mask.matches(table, name):
                    return mask.kind
        return ""

    def mask_row(self, plan: RowPlan, body: bytes, counts: Counter[str]) -> bytes | None:
        """The masked DataRow message, or None when the row is unchanged."""
        values = msg.parse_data_row(body)
        changed = False
        for index, (action, kind) in enumerate(plan.actions):
            value = values[index] if index < len(values) else None
            if action == PASS or value is None:
                continue
            type_oid, fmt = plan.types[index], plan.formats[index]
            if action == MASK:
                values[index] = self._mask_value(value, kind, type_oid, fmt)
                counts[kind] += 1
                changed = True
            else:
                new = self._scan_value(value, type_oid, fmt, counts)
                if new is not value:
                    values[index] = new
                    changed = True
        return msg.data_row(values) if changed else None

    def _mask_value(self, value: bytes, kind: str, type_oid: int, fmt: int) -> bytes | None:
        text = _as_text(value, type_oid, fmt)
        if text is not None:
            self.taint(text, kind)
        token = self.masker.token(kind, text if text is not None else value.hex())
        return _encode(token, type_oid, fmt)

    def _scan_value(
        self, value: bytes, type_oid: int, fmt: int, counts: Counter[str]
    ) -> bytes | None:
        text = _as_text(value, type_oid, fmt)
        if text is None:
            text = value.decode("latin-1")
            binary_opaque = True
        else:
            binary_opaque = False
        result = self.masker.mask(text)
        if not result.findings:
            return value
        counts.update(f.kind for f in result.findings)
        if binary_opaque:
            return None
        return _encode_text(result.text, type_oid, fmt)

    def mask_text(self, text: str, counts: Counter[str]) -> str:
        result = self.masker.mask(text)
        counts.update(f.kind for f in result.findings)
        return result.text

    def mask_fields(self, body: bytes, kind: bytes, counts: Counter[str]) -> bytes:
        """An ErrorResponse/NoticeResponse with message, detail, hint and context masked.

        The DETAIL of an integrity or check-option violation quotes the row or key
        (`Failing row contains (…)`, `Key (…)=(…)`) with every column, masked or not,
        and no way to tell which value is which column's: for a table with masked
        columns (or none named) it is withheld whole."""
        fields = msg.parse_fields(body)
        withhold = self.masks and _quotes_row(fields) and self._row_may_be_masked(fields)
        fields = [
            (
                code,
                ROW_WITHHELD
                if code == "D" and withhold
                else self.mask_text(value, counts)
                if code in "MDHWqp"
                else value,
            )
            for code, value in fields
        ]
        if withhold:
            counts["ROW_DETAIL"] += 1
        return msg.fields_message(kind, fields)

    def _row_may_be_masked(self, fields: Sequence[tuple[str, str]]) -> bool:
        """Whether the quoted row may hold a masked column's value: its table has one
        (its own or one carried from a parent, child or view source the catalog knows),
        or no table is named, or it is a foreign key's (whose DETAIL quotes the key of
        the other table, `Key (mrn)=(…) is still referenced from table "visits"`)."""
        named = dict(fields)
        table = named.get("t")
        if not table or named.get("C") == "23503":
            return True
        qualified = f"{named['s']}.{table}" if named.get("s") else table
        if any(mask.covers_table(qualified) for mask in self.masks):
            return True
        # a partition, child or view carrying a masked table's values: known when the
        # guard resolved the statement's tables (a table only a trigger touched is not)
        origins = self.catalog.table_origins(qualified) or ()
        return any(mask.matches(t, c) for t, c in origins for mask in self.masks)

    def taint(self, text: str, kind: str) -> None:
        if len(text) < MIN_TAINT or text in self._tainted or self._taint is None:
            return
        self._tainted.add(text)
        self._taint(text, kind)


def _quotes_row(fields: Sequence[tuple[str, str]]) -> bool:
    """SQLSTATE class 23 (integrity constraint) or 44 (WITH CHECK OPTION) with a DETAIL."""
    code = next((v for c, v in fields if c == "C"), "")
    return code[:2] in ("23", "44") and any(c == "D" for c, _v in fields)


def _formats(columns: Sequence[msg.Column], formats: Sequence[int] | None) -> list[int]:
    if formats is None:
        return [c.format for c in columns]
    if not formats:
        return [0] * len(columns)
    if len(formats) == 1:
        return [formats[0]] * len(columns)
    return list(formats[: len(columns)]) + [0] * (len(columns) - len(formats))


def _as_text(value: bytes, type_oid: int, fmt: int) -> str | None:
    """The value as text, or None for a binary value with no text form we read."""
    if fmt == 0 or type_oid in TEXTUAL or type_oid == JSON:
        return value.decode("utf-8", "surrogateescape")
    if type_oid == JSONB and value[:1] == b"\x01":
        return value[1:].decode("utf-8", "surrogateescape")
    size = INTEGERS.get(type_oid)
    if size is not None and len(value) == size:
        return str(int.from_bytes(value, "big", signed=True))
    return None


def _encode(token: str, type_oid: int, fmt: int) -> bytes | None:
    if type_oid in TEXTUAL:
        return token.encode()
    if type_oid in (JSON, JSONB):
        quoted = f'"{token}"'.encode()
        return b"\x01" + quoted if type_oid == JSONB and fmt == 1 else quoted
    return None


def _encode_text(text: str, type_oid: int, fmt: int) -> bytes | None:
    data = text.encode("utf-8", "surrogateescape")
    if fmt == 0 or type_oid in TEXTUAL or type_oid == JSON:
        return data
    if type_oid == JSONB:
        return b"\x01" + data
    return None
