"""Vehicle identification numbers: 17 characters, no I/O/Q, mod-11 check digit.

VINs outside North America may not carry the check digit; those are masked when a
`VIN` label is near.
"""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.checksums import vin_valid
from hgate.mask.context import ContextWords
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["VinDetector"]

_CONTEXT = ContextWords(r"vin|vehicle(?: id| identification(?: number)?)?|chassis", window=24)


class VinDetector(CandidateDetector):
    name = "vin"
    kinds = frozenset({"VIN"})
    patterns = (Pattern(regex=r"\b[A-HJ-NPR-Z0-9]{17}\b", tag="vin", track_start=True),)

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        value = text[start:end]
        if value.isdigit() or value.isalpha():
            return
        if vin_valid(value) or _CONTEXT.before(text, start):
            yield Span(start=start, end=end, kind="VIN", confidence=0.9, detector=self.name)
