"""Stateful structure: tables whose header names PHI columns, and private-key blocks.

A CSV/TSV header, a psql or Markdown table header seen earlier in the stream carries
over to its rows: each later row with the same number of cells has its PHI columns
masked, whatever the values look like, until the table ends (a blank line, a row of
another width, psql's `(N rows)`). psql's expanded display (`first_name | Ann`) is
masked line by line. A `-----BEGIN ... PRIVATE KEY-----` line masks every line up to
the matching END line.
"""

from __future__ import annotations

import re

from hgate.mask.context import is_placeholder
from hgate.mask.fields import FIELD_KINDS, FIELD_REGEXES, PERSON_NAME_FIELDS, field_kind, normalise
from hgate.mask.interface import Pattern, Span, StatefulDetector

__all__ = ["KeyBlockDetector", "TableDetector", "split_cells"]

_HEADER_CELL = re.compile(r"[A-Za-z_#][A-Za-z0-9_ .#/()-]{0,40}")
_SEPARATOR = re.compile(r"[\s|:+=-]*-[\s|:+=-]*")
_FOOTER = re.compile(r"\s*\(\d+ rows?\)\s*")
_DELIMITERS = ("|", "\t", ",", ";")
# A character no header cell can hold (quotes aside): such a line is no header.
_NOT_HEADER = {d: re.compile(rf"[^A-Za-z0-9_ .#/()\-\s{d}]") for d in _DELIMITERS[1:]}


def split_cells(text: str, delimiter: str) -> list[tuple[int, int]]:
    """(start, end) of each cell's value: trimmed, quotes removed; CSV quoting honoured."""
    cells: list[tuple[int, int]] = []
    pos, size = 0, len(text)
    while True:
        start = pos
        while start < size and text[start] in " \t" and text[start] != delimiter:
            start += 1
        if start < size and text[start] == '"' and delimiter != "|":
            close = start + 1
            while True:
                close = text.find('"', close)
                if close < 0 or text[close + 1 : close + 2] != '"':
                    break
                close += 2
            if close < 0:
                close = size
            cells.append((start + 1, close))
            nxt = text.find(delimiter, close)
        else:
            nxt = text.find(delimiter, start)
            end = size if nxt < 0 else nxt
            stripped = text[start:end].rstrip()
            cells.append((start, start + len(stripped)))
        if nxt < 0:
            break
        pos = nxt + 1
    if delimiter == "|" and len(cells) > 1:
        if cells[0][0] == cells[0][1] and text.lstrip().startswith("|"):
            cells.pop(0)
        if cells and cells[-1][0] == cells[-1][1] and text.rstrip().endswith("|"):
            cells.pop()
    return cells


class TableDetector(StatefulDetector):
    name = "table"

    def __init__(self) -> None:
        self.kinds = frozenset(FIELD_KINDS.values())
        self.patterns = (
            *(
                Pattern(
                    regex=rf"{field}[\"']?[ \t]*(?:[,\t|;]|$)",
                    tag="header",
                    ignore_case=True,
                    needs_start=False,
                )
                for field in FIELD_REGEXES
            ),
        )
        self.reset()

    def reset(self) -> None:
        self._delimiter = ""
        self._columns: list[str | None] = []

    @property
    def active(self) -> bool:
        return bool(self._columns)

    def observe(self, text: str, hinted: bool) -> list[Span]:
        if self._columns:
            spans = self._row(text)
            if spans is not None:
                return spans
            self.reset()
        if hinted:
            return self._header(text)
        return []

    def _header(self, text: str) -> list[Span]:
        delimiter = next((d for d in _DELIMITERS if d in text), "")
        if not delimiter:
            return []
        if delimiter != "|" and '"' not in text and _NOT_HEADER[delimiter].search(text):
            return []  # cheap: a cell would fail _HEADER_CELL below
        cells = [text[a:b] for a, b in split_cells(text, delimiter)]
        if len(cells) == 2 and delimiter == "|":
            first = self._kind(cells[0])
            if first and not self._kind(cells[1]):
                return self._pair(text, delimiter, first, cells[0])  # psql expanded display
        if len(cells) < 2 or not all(_HEADER_CELL.fullmatch(c) for c in cells):
            return []
        kinds = [self._kind(c) for c in cells]
        named = [normalise(c) in PERSON_NAME_FIELDS for c in cells]
        if not any(k and not n for k, n in zip(kinds, named, strict=True)):
            return []  # only a bare `name` column: a package or table list, not people
        self._delimiter, self._columns = delimiter, kinds
        return []

    def _kind(self, cell: str) -> str | None:
        kind = field_kind(cell)
        return kind if kind in self.kinds else None

    def _pair(self, text: str, delimiter: str, kind: str, key: str) -> list[Span]:
        start, end = split_cells(text, delimiter)[1]
        value = text[start:end]
        if is_placeholder(value) or (normalise(key) in PERSON_NAME_FIELDS and " " not in value):
            return []
        return [Span(start=start, end=end, kind=kind, confidence=0.8, detector=self.name)]

    def _row(self, text: str) -> list[Span] | None:
        """Spans of a row, or None when the line ends the table."""
        if not text.strip() or _FOOTER.fullmatch(text):
            return None
        if _SEPARATOR.fullmatch(text):
            return []
        cells = split_cells(text, self._delimiter)
        if len(cells) != len(self._columns):
            return None
        spans: list[Span] = []
        for (start, end), kind in zip(cells, self._columns, strict=True):
            if kind and end > start and not is_placeholder(text[start:end]):
                spans.append(
                    Span(start=start, end=end, kind=kind, confidence=0.8, detector=self.name)
                )
        return spans


class KeyBlockDetector(StatefulDetector):
    """Masks a multi-line PEM private key from its BEGIN line through its END line."""

    name = "key-block"
    kinds = frozenset({"SECRET"})
    patterns = (Pattern(regex=r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", tag="begin"),)
    _BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
    _END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
    MAX_LINES = 200  # a 16k-bit RSA key is ~50 lines; a missing END must not mask forever

    def __init__(self) -> None:
        self._lines = 0

    @property
    def active(self) -> bool:
        return self._lines > 0

    def reset(self) -> None:
        self._lines = 0

    def observe(self, text: str, hinted: bool) -> list[Span]:
        start = 0
        if not self._lines:
            begin = self._BEGIN.search(text) if hinted else None
            if begin is None:
                return []
            start = begin.start()
            self._lines = 1
        end_marker = self._END.search(text, start)
        if end_marker is not None:
            self._lines = 0
            end = end_marker.end()
        else:
            self._lines = self._lines + 1 if self._lines < self.MAX_LINES else 0
            end = len(text)
        if end <= start:
            return []
        return [Span(start=start, end=end, kind="SECRET", confidence=1.0, detector=self.name)]
