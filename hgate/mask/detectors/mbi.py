"""Medicare Beneficiary Identifiers: eleven characters in CMS's fixed character classes.

Positions: 1 digit 1-9; 2, 5, 8, 9 letters without S L O I B Z; 3 and 6 letter or digit;
4, 7, 10, 11 digits. Printed with or without dashes after positions 4 and 7.
"""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["MbiDetector"]

_A = "[AC-HJKMNP-RT-Y]"
_AN = "[AC-HJKMNP-RT-Y0-9]"


class MbiDetector(CandidateDetector):
    name = "mbi"
    kinds = frozenset({"MBI"})
    patterns = (
        Pattern(
            regex=rf"\b[1-9]{_A}{_AN}[0-9]{_A}{_AN}[0-9]{_A}{_A}[0-9]{{2}}\b",
            tag="plain",
            track_start=True,
        ),
        Pattern(
            regex=rf"\b[1-9]{_A}{_AN}[0-9]-{_A}{_AN}[0-9]-{_A}{_A}[0-9]{{2}}\b",
            tag="dashed",
            track_start=True,
        ),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        yield Span(start=start, end=end, kind="MBI", confidence=0.9, detector=self.name)
