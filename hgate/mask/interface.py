"""The detector extension point: what a detector is, what it returns, how it fails.

A detector looks at one line of plain text (no escapes, no terminator) and yields the
spans it is sure enough of. Two shapes fit behind the one `find` call:

- a plain `Detector` does its own search (a policy regex, a table of exact values);
- a `CandidateDetector` splits the work the way a multi-pattern engine wants it: it
  declares `patterns` (a Hyperscan- and `re`-compatible subset: no look-arounds, no
  back-references) and a `validate` step run only on candidate matches. Its default
  `find` runs the patterns with `re`, so the pure-Python engine and a Hyperscan engine
  that scans every detector's patterns in one pass share the validators and therefore
  the behaviour.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from hgate.errors import MaskingError

__all__ = [
    "CandidateDetector",
    "Detector",
    "DetectorError",
    "Pattern",
    "Span",
    "StatefulDetector",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A half-open range `[start, end)` of the line that holds a value of `kind`."""

    start: int
    end: int
    kind: str
    confidence: float = 1.0
    detector: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"empty or negative span {self.start}..{self.end}")


class DetectorError(MaskingError):
    """A detector could not do its job; the masker fails closed on the line."""

    def __init__(self, message: str, *, detector: str, remedy: str | None = None) -> None:
        super().__init__(message, remedy=remedy)
        self.detector = detector


class Detector(ABC):
    """Finds values of some `kinds` in one line of text.

    `find` must be a pure function of `text` (the masker may call it on overlapping
    windows of a long line and relies on getting the same answer). It may raise: the
    masker then masks the whole line and records a DETECTOR_ERROR finding.
    """

    name: str
    kinds: frozenset[str]

    @abstractmethod
    def find(self, text: str) -> Iterable[Span]:
        """Yield the spans of `text` that hold a value this detector is responsible for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Pattern:
    """One candidate expression of a `CandidateDetector`.

    `regex` must be valid for both Python `re` and Hyperscan (no look-arounds, no
    back-references, no lazy quantifiers the engines disagree on); `tag` tells the
    validator which of its patterns matched. With `needs_start=False` the validator
    promises to use only the candidate's end (a label whose value follows it), which
    lets Hyperscan skip start-of-match tracking, its most expensive mode; such
    candidates may arrive with `start == end`.

    `track_start=True` asks Hyperscan to track the start itself even for a pattern of
    bounded width (whose start it otherwise recovers with `re` per hit): worth it for a
    pattern with frequent hits whose start tracking is cheap (it changes no candidate).
    """

    regex: str
    tag: str = ""
    ignore_case: bool = False
    needs_start: bool = True
    track_start: bool = False


class CandidateDetector(Detector):
    """A detector made of candidate patterns plus a validator run on each candidate.

    Engines call `validate` with the whole line and the candidate's range; the
    validator looks at checksums, context words around the candidate and so on, and
    returns the spans to mask (which may differ from the candidate), usually none or one.
    """

    patterns: tuple[Pattern, ...] = ()

    def compiled(self) -> list[tuple[re.Pattern[str], str]]:
        """The patterns under `re`, with the ASCII semantics a byte engine has."""
        cached: list[tuple[re.Pattern[str], str]] | None = getattr(self, "_compiled", None)
        if cached is None:
            cached = [
                (
                    re.compile(
                        p.regex, re.ASCII | re.MULTILINE | (re.IGNORECASE if p.ignore_case else 0)
                    ),
                    p.tag,
                )
                for p in self.patterns
            ]
            self._compiled = cached
        return cached

    @abstractmethod
    def validate(self, text: str, start: int, end: int, tag: str) -> Iterable[Span]:
        """The spans to mask for the candidate `text[start:end]` (often none)."""

    def find(self, text: str) -> Iterable[Span]:
        for regex, tag in self.compiled():
            for match in regex.finditer(text):
                if match.end() > match.start():
                    yield from self.validate(text, match.start(), match.end(), tag)


class StatefulDetector(CandidateDetector):
    """A detector whose answer depends on earlier lines (a table header, a key block).

    The masker calls `observe` for every line on which one of its patterns hit, and for
    every line while `active` is true, in stream order; `validate` is not used.
    """

    @property
    @abstractmethod
    def active(self) -> bool:
        """True while the detector must see every line (inside a table or key block)."""

    @abstractmethod
    def observe(self, text: str, hinted: bool) -> list[Span]:
        """Take the next line (in order); return what to mask in it."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all state (a new stream)."""

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterable[Span]:
        return self.observe(text, True)

    def find(self, text: str) -> Iterable[Span]:
        hinted = any(regex.search(text) for regex, _ in self.compiled())
        if hinted or self.active:
            return self.observe(text, hinted)
        return ()
