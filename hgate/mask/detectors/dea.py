"""DEA registration numbers: registrant-type letter, name letter, seven digits, check digit."""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.checksums import dea_valid
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["DeaDetector"]


class DeaDetector(CandidateDetector):
    name = "dea"
    kinds = frozenset({"DEA"})
    patterns = (
        Pattern(regex=r"\b[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}\b", tag="dea", track_start=True),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if dea_valid(text[start:end]):
            yield Span(start=start, end=end, kind="DEA", confidence=0.95, detector=self.name)
