"""Bash brace expansion, so `rm -rf /{,}` is seen as the `rm -rf / /` that bash runs.

Applied to every word whether or not it was quoted (the parsed words no longer say):
a quoted `'{a,b}'` is over-expanded, which can only make the guard stricter.
"""

from __future__ import annotations

import itertools
import re

MAX_WORDS = 64  # past this the word is kept as written (and bash's own limits apply)
_SEQUENCE = re.compile(r"^(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?$")


def expand_braces(word: str) -> list[str]:
    """The words bash's brace expansion makes of `word` (just `[word]` when none apply)."""
    if "{" not in word:
        return [word]
    results = _expand(word)
    return results if 0 < len(results) <= MAX_WORDS else [word]


def _expand(word: str) -> list[str]:
    span = _first_brace(word)
    if span is None:
        return [word]
    start, end, parts = span
    prefix, suffix = word[:start], word[end + 1 :]
    tails = _expand(suffix)
    out: list[str] = []
    for part in parts:
        for middle in _expand(part):
            out.extend(prefix + middle + tail for tail in tails)
            if len(out) > MAX_WORDS:
                return out
    return out


def _first_brace(word: str) -> tuple[int, int, list[str]] | None:
    """The first `{…}` that expands: its bounds and alternatives (or sequence members)."""
    index = 0
    while (start := word.find("{", index)) != -1:
        if start > 0 and word[start - 1] in "$\\":  # ${parameter}, \{ are not expansions
            index = start + 1
            continue
        depth, commas, cursor = 0, [], start
        while cursor < len(word):
            char = word[cursor]
            if char == "\\":
                cursor += 2
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            elif char == "," and depth == 1:
                commas.append(cursor)
            cursor += 1
        else:
            return None
        inner = word[start + 1 : cursor]
        if commas:
            bounds = [start, *commas, cursor]
            return (
                start,
                cursor,
                [word[a + 1 : b] for a, b in itertools.pairwise(bounds)],
            )
        sequence = _sequence(inner)
        if sequence is not None:
            return start, cursor, sequence
        index = start + 1
    return None


def _sequence(inner: str) -> list[str] | None:
    match = _SEQUENCE.match(inner)
    if match is None:
        return None
    first, last, step_text = match.groups()
    step = abs(int(step_text)) if step_text else 1
    step = step or 1
    if first.lstrip("-").isdigit() and last.lstrip("-").isdigit():
        a, b = int(first), int(last)
        if abs(b - a) // step > MAX_WORDS:
            return None
        numbers = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
        return [str(n) for n in numbers]
    if first.isalpha() and last.isalpha() and len(first) == len(last) == 1:
        a, b = ord(first), ord(last)
        letters = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
        return [chr(c) for c in letters]
    return None
