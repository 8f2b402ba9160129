"""Street addresses: house number, street words, a USPS street suffix, an optional unit.

The suffix list ships as package data (hgate/mask/data/street_suffixes.txt). `PO Box
123` is an address too; so is the text after `lives at` / `resides at` when it holds
a house number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib.resources import files

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["AddressDetector", "street_suffixes"]

_UNIT = re.compile(
    r",? (?:Apt|Apartment|Suite|Ste|Unit|Room|Rm|Floor|Fl|Bldg|Building|Lot|#)"
    r"\.? ?#?[A-Za-z0-9-]{1,6}\b",
    re.IGNORECASE,
)
_AT_VALUE = re.compile(r"[\s:]*([0-9][^,;|\n]{3,60})")


@cache
def street_suffixes() -> tuple[str, ...]:
    text = files("hgate.mask").joinpath("data/street_suffixes.txt").read_text(encoding="utf-8")
    words = [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]
    return tuple(sorted({v for w in words for v in (w, w.upper())}, key=lambda w: (-len(w), w)))


class AddressDetector(CandidateDetector):
    name = "address"
    kinds = frozenset({"ADDRESS"})

    def __init__(self) -> None:
        suffixes = "|".join(street_suffixes())
        word = r"(?:[A-Z][A-Za-z'-]{0,20}\.?|[0-9]{1,3}(?:st|nd|rd|th))"
        self.patterns = (
            Pattern(
                regex=rf"\b[0-9]{{1,6}}[A-Z]? (?:[NSEW]\.? )?(?:{word} ){{0,3}}(?:{suffixes})\b\.?",
                tag="street",
            ),
            Pattern(regex=r"\bP\.? ?O\.? Box [0-9]{1,6}\b", tag="pobox", ignore_case=True),
            Pattern(
                regex=r"\b(?:lives|living|resides|residing|located) at\b",
                tag="at",
                ignore_case=True,
                needs_start=False,
            ),
        )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if tag == "at":
            match = _AT_VALUE.match(text, end)
            if match is None:
                return
            start, end = match.span(1)
            end = start + len(match.group(1).rstrip(" ."))
        elif tag == "street" and text[end - 1] != "." and text[end : end + 1].isalpha():
            return
        unit = _UNIT.match(text, end)
        if unit is not None:
            end = unit.end()
        yield Span(start=start, end=end, kind="ADDRESS", confidence=0.85, detector=self.name)
