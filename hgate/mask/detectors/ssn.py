"""US Social Security numbers: valid area/group/serial; undashed only near a label."""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.context import ContextWords
from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["SsnDetector"]

_CONTEXT = ContextWords(
    r"ssn|ss#|ss no|soc(?:ial)? sec(?:urity)?(?: number| no| #)?|ssn#", window=32
)


def ssn_valid(digits: str) -> bool:
    """Never issued: area 000, 666, 900-999; group 00; serial 0000."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


class SsnDetector(CandidateDetector):
    name = "ssn"
    kinds = frozenset({"SSN"})
    patterns = (
        Pattern(regex=r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", tag="dashed", track_start=True),
        Pattern(regex=r"\b[0-9]{3} [0-9]{2} [0-9]{4}\b", tag="spaced"),
        Pattern(regex=r"\b[0-9]{9}\b", tag="bare"),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        value = text[start:end]
        if text[start - 1 : start] == "-" or text[end : end + 1] == "-":
            return  # part of a longer dashed number (an order id, a date range)
        if not ssn_valid(value.replace("-", "").replace(" ", "")):
            return
        if tag != "dashed" and not _CONTEXT.before(text, start):
            return
        yield Span(start=start, end=end, kind="SSN", confidence=0.95, detector=self.name)
