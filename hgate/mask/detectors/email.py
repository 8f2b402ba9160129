"""E-mail addresses; forge plumbing (`git@host`, GitHub no-reply) is not a person."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["EmailDetector"]

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
_NOT_A_PERSON = frozenset({"git", "hg", "noreply", "no-reply"})


class EmailDetector(CandidateDetector):
    name = "email"
    kinds = frozenset({"EMAIL"})
    patterns = (
        # up to the first two letters of a letters-only label after a dot: what the
        # validator requires of a top-level domain, so `core@20.11.16` (npm) is no
        # candidate; a longer address may match more than once (one candidate per start)
        Pattern(
            regex=r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2}",
            tag="email",
            track_start=True,
        ),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        at = text.index("@", start)
        match = _EMAIL.search(text, max(0, at - 64), at + 300)
        while match is not None and match.end() <= at:
            match = _EMAIL.search(text, match.end(), at + 300)
        if match is None or match.start() > at:
            return
        start, end = match.span()
        local, _, domain = text[start:end].partition("@")
        if local.lower() in _NOT_A_PERSON or domain.lower().endswith("users.noreply.github.com"):
            return
        yield Span(start=start, end=end, kind="EMAIL", confidence=0.95, detector=self.name)
