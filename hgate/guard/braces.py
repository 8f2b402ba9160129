"""Bash brace expansion, so `rm -rf /{,}` is seen as the `rm -rf / /` that bash runs.

Applied to every word whether or not it was quoted (the parsed words no longer say):
a quoted `'{a,b}'` is over-expanded, which can only make the guard stricter.
"""

from __future__ import annotations

import itertools
import re

MAX_WORDS = 64  # past this the word is kept as written (and bash's own limits apply)
MAX_NESTING = 32  # braces nested deeper: likewise
_SEQUENCE = re.compile(r"^(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?$")


def expand_braces(word: str) -> list[str]:
    """The words bash's brace expansion makes of `word` (just `[word]` when none apply)."""
    if "{" not in word:
        return [word]
    results = _expand(word, depth=0)
    return results if results else [word]


def _expand(word: str, *, depth: int) -> list[str] | None:
    """None past MAX_WORDS or MAX_NESTING. Brace after brace is a loop, not a recursion: a
    long word (a script's text as a `-c` string) may hold thousands of them."""
    if depth > MAX_NESTING:
        return None
    heads = [""]
    rest = word
    while (span := _first_brace(rest)) is not None:
        start, end, parts = span
        middles: list[str] = []
        for part in parts:
            expanded = _expand(part, depth=depth + 1)
            if expanded is None:
                return None
            middles.extend(expanded)
        heads = [head + rest[:start] + middle for head in heads for middle in middles]
        if len(heads) > MAX_WORDS:
            return None
        rest = rest[end + 1 :]
    return [head + rest for head in heads]


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
