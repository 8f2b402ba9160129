"""US ZIP and ZIP+4 codes, in address or label context; the city before them too.

Five digits are everywhere (ports, counts, ids), so a ZIP needs either a label
(`zip`, `postal code`) just before it or the `City, ST 12345` shape of an address, in
which case the city is masked as ADDRESS (Safe Harbor keeps the state).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["STATES", "ZipDetector"]

_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE "
    "NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
)
STATES = tuple(_STATES.split())
_STATE_CODES = frozenset(STATES)
_ZIP = re.compile(r"[\s:#=\"'.-]{0,6}(?:is\s+|of\s+)?([0-9]{5}(?:-[0-9]{4})?)\b")
_CITY = re.compile(r"((?:[A-Z][A-Za-z.'-]+ ){0,2}[A-Z][A-Za-z.'-]+),\s*\Z")


class ZipDetector(CandidateDetector):
    name = "zip"
    kinds = frozenset({"ZIP", "ADDRESS"})
    patterns = (
        Pattern(
            regex=r"\b(?:zip(?:[ _-]?code)?|postal[ _-]?code|post[ _-]?code)\b",
            tag="label",
            ignore_case=True,
            needs_start=False,
        ),
        # any two capitals, the state checked in `validate`: an alternation of 56 codes
        # made this one of the costliest expressions of the scan (7% of it)
        Pattern(regex=r"\b[A-Z]{2}\.? {1,2}[0-9]{5}(?:-[0-9]{4})?\b", tag="state"),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if tag == "label":
            match = _ZIP.match(text, end)
            if match:
                yield Span(
                    start=match.start(1),
                    end=match.end(1),
                    kind="ZIP",
                    confidence=0.9,
                    detector=self.name,
                )
            return
        if text[start : start + 2] not in _STATE_CODES:
            return
        zip_start = end - 1
        while text[zip_start - 1] != " ":
            zip_start -= 1
        city = _CITY.search(text, max(0, start - 40), start)
        if city is None and text[start - 2 : start] != ", ":
            return  # `CA 94107` alone is too weak; `Springfield, IL 62704` is an address
        yield Span(start=zip_start, end=end, kind="ZIP", confidence=0.9, detector=self.name)
        if city is not None:
            yield Span(
                start=city.start(1),
                end=city.end(1),
                kind="ADDRESS",
                confidence=0.8,
                detector=self.name,
            )
