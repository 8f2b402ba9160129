"""Candidate engines: one pass over a block of lines for every detector's patterns.

The Hyperscan engine compiles all candidate patterns into one database and scans a
block once (HS_FLAG_SOM_LEFTMOST, so each hit has a start); the `re` engine runs the
same patterns one by one with Python's `re` for platforms without Hyperscan. Both hand
back the same candidates, so the validators, and therefore the findings, are the same.

Hyperscan scans bytes: the block is encoded as Latin-1 with `?` for anything beyond, so
byte offsets are character offsets and ASCII-only patterns behave as under `re.ASCII`.
"""

from __future__ import annotations

import json
import re
import re._parser as re_parser  # type: ignore[import-not-found]
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from hgate.mask.engine_cache import CompiledCache
from hgate.mask.interface import Pattern

__all__ = [
    "Candidate",
    "Engine",
    "HyperscanEngine",
    "ReEngine",
    "hyperscan_available",
    "make_engine",
]

# (pattern index, start, end) in block coordinates
Candidate = tuple[int, int, int]


class Engine(ABC):
    """Finds candidates of many patterns in one block of text."""

    name: str

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = tuple(patterns)

    @abstractmethod
    def scan(self, block: str) -> list[Candidate]:
        """All candidates in `block`: for each pattern and start the longest match."""


def _collapse(hits: list[Candidate]) -> list[Candidate]:
    """Longest match per (pattern, start); drop matches nested in an earlier one."""
    hits.sort(key=lambda h: (h[0], h[1], -h[2]))
    kept: list[Candidate] = []
    last_pattern, last_end = -1, -1
    for pattern, start, end in hits:
        if pattern == last_pattern and start < last_end:
            continue
        kept.append((pattern, start, end))
        last_pattern, last_end = pattern, end
    return kept


class ReEngine(Engine):
    """Pure-Python fallback: each pattern scanned with `re` (ASCII semantics)."""

    name = "re"

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        super().__init__(patterns)
        self._compiled = [_compile_re(p) for p in self.patterns]

    def scan(self, block: str) -> list[Candidate]:
        hits: list[Candidate] = []
        for index, regex in enumerate(self._compiled):
            hits.extend(
                (index, m.start(), m.end()) for m in regex.finditer(block) if m.end() > m.start()
            )
        return _collapse(hits) if hits else hits


def _compile_re(pattern: Pattern, suffix: str = "") -> re.Pattern[str]:
    flags = re.ASCII | re.MULTILINE | (re.IGNORECASE if pattern.ignore_case else 0)
    return re.compile(f"(?:{pattern.regex}){suffix}", flags)


class HyperscanEngine(Engine):
    """One Hyperscan database for all patterns; patterns it refuses fall back to `re`."""

    name = "hyperscan"

    def __init__(self, patterns: Sequence[Pattern], cache: CompiledCache | None = None) -> None:
        import hyperscan

        super().__init__(patterns)
        self._hs: Any = hyperscan
        self._fallback: list[tuple[int, re.Pattern[str]]] = []
        self._no_start = frozenset(i for i, p in enumerate(self.patterns) if not p.needs_start)
        # Start-of-match tracking (SOM) costs Hyperscan an order of magnitude; a pattern
        # of bounded width is scanned without it and its start is recovered with `re` on
        # the few characters before each (rare) hit.
        self._recover: dict[int, int] = {}  # pattern index -> its widest match
        self._recover_re: dict[int, re.Pattern[str]] = {}  # compiled on its first hit
        for index, pattern in enumerate(self.patterns):
            width = _max_width(pattern) if pattern.needs_start else None
            if width is not None:
                self._recover[index] = width
        self._db: Any = None
        fingerprint = ""
        if cache is not None:
            fingerprint = cache.fingerprint(self._description())
            if self._load(cache, fingerprint):
                return
        accepted = list(range(len(self.patterns)))
        try:
            self._db = self._build(accepted) if accepted else None
        except hyperscan.error:  # find the patterns Hyperscan refuses; `re` runs those
            accepted = [i for i in accepted if self._compiles([i])]
            self._db = self._build(accepted) if accepted else None
        self._set_fallback(accepted)
        if cache is not None and self._db is not None:
            blob = self._hs.dumpb(self._db)
            cache.store(fingerprint, json.dumps(accepted).encode() + b"\n" + blob)

    def _set_fallback(self, accepted: list[int]) -> None:
        taken = set(accepted)
        self._fallback = [
            (i, _compile_re(p)) for i, p in enumerate(self.patterns) if i not in taken
        ]

    def _description(self) -> object:
        """Everything the compiled database depends on."""
        return {
            "hyperscan": str(getattr(self._hs, "__version__", "?")),
            "patterns": [[p.regex, self._flags(i)] for i, p in enumerate(self.patterns)],
        }

    def _load(self, cache: CompiledCache, fingerprint: str) -> bool:
        cached = cache.load(fingerprint)
        if cached is None:
            return False
        head, _, blob = cached.partition(b"\n")
        try:
            accepted = [int(i) for i in json.loads(head)]
            db = self._hs.loadb(blob, mode=self._hs.HS_MODE_BLOCK)
            db.scratch = self._hs.Scratch(db)
        except (ValueError, TypeError, self._hs.error):
            return False
        self._db = db
        self._set_fallback(accepted)
        return True

    def _flags(self, index: int) -> int:
        hs = self._hs
        flags: int = hs.HS_FLAG_MULTILINE
        if self.patterns[index].needs_start and index not in self._recover:
            flags |= hs.HS_FLAG_SOM_LEFTMOST
        if self.patterns[index].ignore_case:
            flags |= hs.HS_FLAG_CASELESS
        return flags

    def _build(self, indexes: list[int]) -> Any:
        hs = self._hs
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(
            expressions=[self.patterns[i].regex.encode("latin-1") for i in indexes],
            ids=indexes,
            elements=len(indexes),
            flags=[self._flags(i) for i in indexes],
        )
        return db

    def _compiles(self, indexes: list[int]) -> bool:
        try:
            self._build(indexes)
        except self._hs.error:
            return False
        return True

    def scan(self, block: str) -> list[Candidate]:
        hits: list[Candidate] = []
        if self._db is not None:
            append = hits.append
            no_start = self._no_start

            def on_match(index: int, start: int, end: int, flags: int, context: object) -> None:
                append((index, end if index in no_start else start, end))

            self._db.scan(block.encode("latin-1", "replace"), match_event_handler=on_match)
            if self._recover and hits:
                hits = self._recovered(block, hits)
        for index, regex in self._fallback:
            hits.extend(
                (index, m.start(), m.end()) for m in regex.finditer(block) if m.end() > m.start()
            )
        return _collapse(hits) if hits else hits

    def _recovered(self, block: str, hits: list[Candidate]) -> list[Candidate]:
        out: list[Candidate] = []
        for index, start, end in hits:
            width = self._recover.get(index)
            if width is not None:
                regex = self._recover_re.get(index)
                if regex is None:
                    regex = _compile_re(self.patterns[index], suffix=r"\Z")
                    self._recover_re[index] = regex
                match = regex.search(block, max(0, end - width), end)
                if match is None:
                    continue
                start = match.start()
            out.append((index, start, end))
        return out


def _max_width(pattern: Pattern) -> int | None:
    """The longest match `pattern` can have, or None when unbounded or unknown."""
    try:
        width = int(re_parser.parse(pattern.regex).getwidth()[1])
    except (re.error, OverflowError, ValueError):
        return None
    return width if width <= 512 else None


def hyperscan_available() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


def make_engine(
    patterns: Sequence[Pattern], prefer: str = "auto", cache: CompiledCache | None = None
) -> Engine:
    """`prefer` is "auto" (Hyperscan when installed), "hyperscan" or "re"."""
    if prefer not in ("auto", "hyperscan", "re"):
        raise ValueError(f"unknown engine {prefer!r}: use auto, hyperscan or re")
    if prefer == "re" or (prefer == "auto" and not hyperscan_available()):
        return ReEngine(patterns)
    return HyperscanEngine(patterns, cache)
