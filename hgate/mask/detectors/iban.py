"""International bank account numbers: country, check digits, BBAN; mod 97 == 1."""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.checksums import iban_valid
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["IbanDetector"]


class IbanDetector(CandidateDetector):
    name = "iban"
    kinds = frozenset({"IBAN"})
    patterns = (
        Pattern(regex=r"\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b", tag="compact", track_start=True),
        Pattern(
            regex=r"\b[A-Z]{2}[0-9]{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?\b",
            tag="spaced",
            track_start=True,
        ),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if iban_valid(text[start:end]):
            yield Span(start=start, end=end, kind="IBAN", confidence=0.95, detector=self.name)
