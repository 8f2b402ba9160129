"""URLs: the parts of a URL that identify a person, or (strict) every URL.

CI logs are full of infrastructure URLs (package indexes, forges, artefact stores),
so by default only what a URL carries about a person is masked: an id after a
`/patients/`-like path segment (as MRN). Query keys named like PHI fields are masked
by the keyed-field detector, passwords in the authority by the secrets detector, URLs
under a `homepage`/`website` label by the keyed-field detector. With `mask_all=True`
every http(s)/ftp URL is masked as URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["UrlDetector"]

_SEGMENT_WORDS = (
    r"/(?:patients?|members?|persons?|people|beneficiar(?:y|ies)|subscribers?|mrn)/[^/?#\s]"
)


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


_TAIL = re.compile(r"[^\s\"'<>`]+")
_PERSON_SEGMENT = re.compile(
    r"/(?:patients?|members?|persons?|people|beneficiar(?:y|ies)|subscribers?|mrn)/([^/?#\s]+)",
    re.IGNORECASE,
)


class UrlDetector(CandidateDetector):
    name = "url"
    kinds = frozenset({"URL", "MRN"})

    def __init__(self, *, mask_all: bool = False) -> None:
        self.mask_all = mask_all
        # Only the scheme is the candidate: an open-ended tail would make Hyperscan report
        # every end position; the validator finds the end itself.
        if mask_all:
            self.patterns = (Pattern(regex=r"\b(?:https?|ftp)://", tag="url", ignore_case=True),)
        else:  # only a person-identifying path segment matters: scan for that
            self.patterns = (Pattern(regex=_SEGMENT_WORDS, tag="segment", ignore_case=True),)

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if tag == "segment":
            match = _PERSON_SEGMENT.match(text, start)
            if match and "://" in text[max(0, start - 200) : start] and _has_digit(match.group(1)):
                yield Span(
                    start=match.start(1),
                    end=match.end(1),
                    kind="MRN",
                    confidence=0.8,
                    detector=self.name,
                )
            return
        tail = _TAIL.match(text, end)
        end = tail.end() if tail else end
        while end > start and text[end - 1] in ".,;:)]}":
            end -= 1
        if self.mask_all:
            yield Span(start=start, end=end, kind="URL", confidence=0.7, detector=self.name)
            return
        for match in _PERSON_SEGMENT.finditer(text, start, end):
            if any(c.isdigit() for c in match.group(1)):
                yield Span(
                    start=match.start(1),
                    end=match.end(1),
                    kind="MRN",
                    confidence=0.8,
                    detector=self.name,
                )
