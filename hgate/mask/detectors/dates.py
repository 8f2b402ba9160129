"""Dates tied to a person (birth, admission, discharge, death, visit) in every common format.

A date in a CI log is almost always a build or log timestamp, so by default a date is
masked only after a person-date label (`DOB`, `admitted`, `date of death`, ...) or under
a date field name (keyed-field and table detectors). `keep_log_timestamps=False` is the
stricter choice: every date in any format is masked, log timestamps included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["DATE_REGEX", "DateDetector", "find_date"]

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_D = r"(?:0?[1-9]|[12][0-9]|3[01])"
_M = r"(?:0?[1-9]|1[0-2])"
_Y = r"(?:1[89][0-9]{2}|20[0-9]{2})"
_Y2 = r"(?:[0-9]{2})"
_ORD = r"(?:st|nd|rd|th)?"
_TIME = r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
DATE_REGEX = (
    rf"(?:{_Y}-{_M}-{_D}{_TIME}"
    rf"|{_Y}/{_M}/{_D}"
    rf"|{_M}/{_D}/(?:{_Y}|{_Y2})"
    rf"|{_D}\.{_M}\.(?:{_Y}|{_Y2})"
    rf"|{_M}-{_D}-(?:{_Y}|{_Y2})"
    rf"|{_MONTHS}\.? {_D}{_ORD},? {_Y}"
    rf"|{_D}{_ORD} {_MONTHS}\.?,? {_Y}"
    rf"|{_D}-{_MONTHS}-(?:{_Y}|{_Y2})"
    rf"|{_MONTHS} {_Y}"
    rf"|{_Y}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
)
_DATE = re.compile(rf"\b{DATE_REGEX}\b", re.IGNORECASE)
_AFTER_LABEL = re.compile(r"[\s:=,\"'(#-]*(?:(?:on|is|was|of|date|at)\b[\s:=\"']*)*")
_LABELS = (
    r"dob|d\.o\.b\.?|date of birth|birth ?date|birthday|born|admitted|admission(?: date)?"
    r"|admit(?: date)?|discharged|discharge(?: date)?|died|death|deceased|date of death|dod"
    r"|expired|visit(?: date)?|seen|date of service|dos|appointment(?: date)?|appt"
    r"|surgery(?: date)?|procedure date|encounter(?: date)?|delivered|delivery date"
)


def find_date(text: str, pos: int, endpos: int | None = None) -> re.Match[str] | None:
    """The first date in `text[pos:endpos]`."""
    return _DATE.search(text, pos, len(text) if endpos is None else endpos)


class DateDetector(CandidateDetector):
    name = "date"
    kinds = frozenset({"DATE"})

    def __init__(self, *, keep_log_timestamps: bool = True) -> None:
        self.keep_log_timestamps = keep_log_timestamps
        patterns = [
            Pattern(
                regex=rf"\b(?:{_LABELS})(?:\b|$)", tag="label", ignore_case=True, needs_start=False
            )
        ]
        if not keep_log_timestamps:
            patterns.append(Pattern(regex=rf"\b{DATE_REGEX}\b", tag="any", ignore_case=True))
        self.patterns = tuple(patterns)

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        if tag == "any":
            yield Span(start=start, end=end, kind="DATE", confidence=0.8, detector=self.name)
            return
        filler = _AFTER_LABEL.match(text, end)
        pos = filler.end() if filler else end
        match = _DATE.match(text, pos)
        if match is not None:
            yield Span(
                start=match.start(),
                end=match.end(),
                kind="DATE",
                confidence=0.9,
                detector=self.name,
            )
