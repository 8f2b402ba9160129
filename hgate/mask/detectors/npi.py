"""National Provider Identifiers: Luhn over 80840 + the ten digits, near a label.

A bare ten-digit number starting 1 is also an epoch timestamp; one in ten of those
passes the check, so an NPI needs a provider label near it (tables and keys named
`npi` are handled by the structure detectors).
"""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.checksums import npi_valid
from hgate.mask.context import ContextWords
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["NpiDetector"]

_CONTEXT = ContextWords(
    r"npi|national provider(?: identifier| id)?|provider(?: id| number| no)?|prescriber"
    r"|physician|attending|referring|dr\.?|md",
    window=40,
)


class NpiDetector(CandidateDetector):
    name = "npi"
    kinds = frozenset({"NPI"})
    patterns = (Pattern(regex=r"\b[12][0-9]{9}\b", tag="npi"),)

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        # the label first: it is cheaper than the check digit and rarely there
        if _CONTEXT.before(text, start) and npi_valid(text[start:end]):
            yield Span(start=start, end=end, kind="NPI", confidence=0.95, detector=self.name)
