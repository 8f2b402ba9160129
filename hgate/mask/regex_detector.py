"""A policy's own regex rule as a detector (an institution's MRN format, say)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.interface import Detector, Span

__all__ = ["RegexDetector"]


class RegexDetector(Detector):
    """Masks every match of `pattern` (or of one of its groups) as `kind`.

    Invalid patterns raise ValueError carrying `re`'s message, which the policy loader
    turns into a `file:line` error. A pattern that can match the empty string is refused:
    it would say nothing about what to mask.
    """

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        pattern: str,
        ignore_case: bool = False,
        group: int | str = 0,
        confidence: float = 0.9,
    ) -> None:
        try:
            self._regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ValueError(f"invalid regex for {name!r}: {exc}") from exc
        if isinstance(group, str):
            if group not in self._regex.groupindex:
                raise ValueError(f"regex for {name!r} has no group named {group!r}")
        elif not 0 <= group <= self._regex.groups:
            raise ValueError(f"regex for {name!r} has no group {group}")
        if not 0.0 < confidence <= 1.0:
            raise ValueError(f"confidence for {name!r} must be in (0, 1], got {confidence}")
        if self._regex.fullmatch("") is not None:
            raise ValueError(f"regex for {name!r} matches the empty string")
        self.name = name
        self.kind = kind
        self.kinds = frozenset({kind})
        self.pattern = pattern
        self._group = group
        self._confidence = confidence

    def find(self, text: str) -> Iterator[Span]:
        group = self._group
        for match in self._regex.finditer(text):
            start, end = match.span(group)
            if start < end:  # -1 when the group did not take part; empty: nothing to mask
                yield Span(
                    start=start,
                    end=end,
                    kind=self.kind,
                    confidence=self._confidence,
                    detector=self.name,
                )

    def __repr__(self) -> str:
        return f"RegexDetector(name={self.name!r}, kind={self.kind!r})"
