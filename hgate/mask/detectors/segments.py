"""Delimited segments (HL7 v2 fields, X12 elements): where each value lies."""

from __future__ import annotations

__all__ = ["split_fields"]


def split_fields(text: str, pos: int, stop: int, separator: str) -> list[tuple[int, int]]:
    """(start, end) of each `separator`-delimited value of `text[pos:stop]`, empty ones
    included, so that value n is at index n - 1."""
    fields: list[tuple[int, int]] = []
    while True:
        found = text.find(separator, pos, stop)
        end = stop if found < 0 else found
        fields.append((pos, end))
        if found < 0:
            return fields
        pos = found + 1
