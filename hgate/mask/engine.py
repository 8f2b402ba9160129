"""Candidate engines: one pass over a block of lines for every detector's patterns.

The Hyperscan engine compiles all candidate patterns into one database and scans a
block once (HS_FLAG_SOM_LEFTMOST, so each hit has a start); the `re` engine runs the
same patterns one by one with Python's `re` for platforms without Hyperscan. Both hand
back the same candidates, so the validators, and therefore the findings, are the same.

Hyperscan scans bytes: the block is encoded as Latin-1 with `?` for anything beyond, so
byte offsets are character offsets and ASCII-only patterns behave as under `re.ASCII`.

Patterns that only match a whole run of digits (`\\b[12][0-9]{9}\\b`, `\\b[0-9]{9}\\b`, ...)
have no literal for Hyperscan to anchor on and cost it more than all other patterns
together; they are scanned as one `\\b[0-9]{lo,hi}\\b` expression, and each run it finds is
handed to the digit patterns it fits (the same candidates, a third less scan time).
"""

from __future__ import annotations

import json
import re
import re._parser as re_parser  # type: ignore[import-not-found]
import threading
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
    hits.sort()  # by (pattern, start, end): a longer match at the same start comes later
    kept: list[Candidate] = []
    last_pattern, last_start, last_end = -1, -1, -1
    for hit in hits:
        pattern, start, end = hit
        if pattern == last_pattern:
            if start == last_start and end > last_end:
                kept[-1] = hit  # the longer match at the start just kept
                last_end = end
                continue
            if start < last_end:
                continue
        kept.append(hit)
        last_pattern, last_start, last_end = pattern, start, end
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
        import hyperscan as hs

        super().__init__(patterns)
        self._hs: Any = hs
        self._fallback: list[tuple[int, re.Pattern[str]]] = []
        self._no_start = frozenset(i for i, p in enumerate(self.patterns) if not p.needs_start)
        # Start-of-match tracking (SOM) costs Hyperscan an order of magnitude; a pattern
        # of bounded width is scanned without it and its start is recovered with `re` on
        # the few characters before each (rare) hit.
        self._recover: dict[int, int] = {}  # pattern index -> its widest match
        self._recover_re: dict[int, re.Pattern[str]] = {}  # compiled on its first hit
        for index, pattern in enumerate(self.patterns):
            width = _max_width(pattern) if pattern.needs_start and not pattern.track_start else None
            if width is not None:
                self._recover[index] = width
        # Digit-run patterns share one expression (id `self._run_id`); see the module doc.
        runs = {i: w for i, p in enumerate(self.patterns) if (w := _digit_run_width(p))}
        self._run_id = len(self.patterns)
        self._run_members: list[tuple[int, int, int, re.Pattern[str]]] = []  # i, lo, hi, re
        self._run_low = self._run_high = 0
        self._expressions: dict[int, tuple[str, int]] = {}  # Hyperscan id -> (regex, flags)
        if len(runs) > 1:
            self._run_low = min(w[0] for w in runs.values())
            self._run_high = max(w[1] for w in runs.values())
            run_regex = rf"\b[0-9]{{{self._run_low},{self._run_high}}}\b"
            self._run_members = [(i, *runs[i], _compile_re(self.patterns[i])) for i in sorted(runs)]
            self._expressions[self._run_id] = (run_regex, hs.HS_FLAG_MULTILINE)
        for index, pattern in enumerate(self.patterns):
            if index not in runs or not self._run_members:
                self._expressions[index] = (pattern.regex, self._flags(index))
        self._db: Any = None
        self._local = threading.local()  # one Hyperscan scratch per scanning thread
        fingerprint = ""
        if cache is not None:
            fingerprint = cache.fingerprint(self._description())
            if self._load(cache, fingerprint):
                return
        accepted = list(self._expressions)
        try:
            self._db = self._build(accepted) if accepted else None
        except hs.error:  # find the patterns Hyperscan refuses; `re` runs those
            accepted = [i for i in accepted if self._compiles([i])]
            self._db = self._build(accepted) if accepted else None
        self._set_fallback(accepted)
        if cache is not None and self._db is not None:
            blob = self._hs.dumpb(self._db)
            cache.store(fingerprint, json.dumps(accepted).encode() + b"\n" + blob)

    def _set_fallback(self, accepted: list[int]) -> None:
        taken = set(accepted)
        if self._run_id in taken:
            taken.update(member[0] for member in self._run_members)
        self._fallback = [
            (i, _compile_re(p)) for i, p in enumerate(self.patterns) if i not in taken
        ]

    def _description(self) -> object:
        """Everything the compiled database depends on."""
        return {
            "hyperscan": str(getattr(self._hs, "__version__", "?")),
            "patterns": [[p.regex, self._flags(i)] for i, p in enumerate(self.patterns)],
            "expressions": sorted([i, r, f] for i, (r, f) in self._expressions.items()),
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
            expressions=[self._expressions[i][0].encode("latin-1") for i in indexes],
            ids=indexes,
            elements=len(indexes),
            flags=[self._expressions[i][1] for i in indexes],
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

            self._db.scan(
                block.encode("latin-1", "replace"),
                match_event_handler=on_match,
                scratch=self._scratch(),
            )
            if self._recover and hits:
                hits = self._recovered(block, hits)
            if self._run_members and hits:
                hits = self._digit_runs(block, hits)
        for index, regex in self._fallback:
            hits.extend(
                (index, m.start(), m.end()) for m in regex.finditer(block) if m.end() > m.start()
            )
        return _collapse(hits) if hits else hits

    def _scratch(self) -> Any:
        """This thread's scratch: Hyperscan scans without the GIL, and one scratch in two
        scans at once fails (`ScratchInUseError`); the session masks from the output pump
        and from the control and proxy threads."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        return scratch

    def _digit_runs(self, block: str, hits: list[Candidate]) -> list[Candidate]:
        """Replace each hit of the shared digit-run expression by its digit patterns' hits."""
        run_id = self._run_id
        if not any(hit[0] == run_id for hit in hits):
            return hits
        out: list[Candidate] = []
        low, high, members = self._run_low, self._run_high, self._run_members
        for hit in hits:
            index, _, end = hit
            if index != run_id:
                out.append(hit)
                continue
            window = block[max(0, end - high - 1) : end]
            size = len(window) - len(window.rstrip(_DIGITS))  # the digits ending at `end`
            start = end - size
            if not low <= size <= high or (start and block[start - 1] in _WORD):
                continue  # no run of digits of a length the digit patterns take
            out.extend(
                (i, start, end)
                for i, shortest, longest, rx in members
                if shortest <= size <= longest and rx.fullmatch(block, start, end)
            )
        return out

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


_DIGIT_RANGE = (48, 57)
_DIGITS = "0123456789"
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")  # ASCII \w


def _digit_run_width(pattern: Pattern) -> tuple[int, int] | None:
    """(min, max) length when `pattern` is `\\b` + only digit classes + `\\b`, else None.

    Such a pattern matches exactly the maximal runs of digits (bounded by non-word
    characters) of a length in range that its body accepts.
    """
    if not pattern.needs_start:
        return None
    try:
        parsed = list(re_parser.parse(pattern.regex))
    except (re.error, OverflowError, ValueError):
        return None
    if len(parsed) < 3 or parsed[0] != parsed[-1] or str(parsed[0][1]) != "AT_BOUNDARY":
        return None

    def digits_only(item: Any) -> bool:
        op, arg = str(item[0]), item[1]
        if op == "LITERAL":
            return bool(48 <= arg <= 57)
        if op == "IN":
            return all(
                (str(o) == "LITERAL" and 48 <= a <= 57)
                or (str(o) == "RANGE" and _DIGIT_RANGE[0] <= a[0] <= a[1] <= _DIGIT_RANGE[1])
                for o, a in arg
            )
        if op == "MAX_REPEAT":
            return all(digits_only(sub) for sub in arg[2])
        return False

    if not all(digits_only(item) for item in parsed[1:-1]):
        return None
    low, high = re_parser.parse(pattern.regex).getwidth()
    return (int(low), int(high)) if 0 < low <= high <= 64 else None


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
