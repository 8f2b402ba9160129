"""E-mail addresses; forge plumbing (`git@host`, GitHub no-reply) is not a person."""

from __future__ import annotations

from collections.abc import Iterator

from hgate.mask.interface import CandidateDetector, Pattern, Span

__all__ = ["EmailDetector"]

_NOT_A_PERSON = frozenset({"git", "hg", "noreply", "no-reply"})


class EmailDetector(CandidateDetector):
    name = "email"
    kinds = frozenset({"EMAIL"})
    patterns = (
        Pattern(
            regex=r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b",
            tag="email",
        ),
    )

    def validate(self, text: str, start: int, end: int, tag: str) -> Iterator[Span]:
        local, _, domain = text[start:end].partition("@")
        if local.lower() in _NOT_A_PERSON or domain.lower().endswith("users.noreply.github.com"):
            return
        yield Span(start=start, end=end, kind="EMAIL", confidence=0.95, detector=self.name)
