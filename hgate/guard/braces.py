"""Bash brace expansion, so `rm -rf /{,}` is seen as the `rm -rf / /` that bash runs.

Applied to every word whether or not it was quoted (the parsed words no longer say):
a quoted `'{a,b}'` is over-expanded, which can only make the guard stricter.

Linear in the word: the braces are matched once, in one pass, and expansion works on
positions in the word, never on copies of what is left of it. A word can be a whole
script (a `-c` string) of a megabyte, and `{{{{…}}}}` must not cost its square.
"""

from __future__ import annotations

import bisect
import re

MAX_WORDS = 64  # past this the word is kept as written (and bash's own limits apply)
MAX_NESTING = 32  # braces nested deeper: likewise
# `\n?`: a sequence was once matched with `^…$`, and `$` also matches before a final newline
_SEQUENCE = re.compile(r"(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?\n?")

_Span = tuple[int, int, list[tuple[int, int]] | list[str]]


def expand_braces(word: str) -> list[str]:
    """The words bash's brace expansion makes of `word` (just `[word]` when none apply)."""
    if "{" not in word:
        return [word]
    results = _Braces(word).expand(0, len(word), depth=0)
    return results if results else [word]


class _Braces:
    """A word with its braces matched: where each `{` closes, and its commas at its level."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.opens: list[int] = []  # every unescaped `{`, in order
        self.close: dict[int, int] = {}  # `{` -> its `}` (absent: never closed)
        self.commas: dict[int, list[int]] = {}  # `{` -> commas directly inside it
        stack: list[int] = []
        index, length = 0, len(word)
        while index < length:
            char = word[index]
            if char == "\\":
                index += 2
                continue
            if char == "{":
                stack.append(index)
                self.opens.append(index)
            elif char == "}" and stack:
                self.close[stack.pop()] = index
            elif char == "," and stack:
                self.commas.setdefault(stack[-1], []).append(index)
            index += 1

    def expand(self, lo: int, hi: int, *, depth: int) -> list[str] | None:
        """The words `word[lo:hi]` makes; None past MAX_WORDS or MAX_NESTING. Brace after
        brace is a loop, not a recursion: a long word may hold thousands of them. Each
        result is kept as pieces, joined once at the end."""
        if depth > MAX_NESTING:
            return None
        heads: list[list[str]] = [[]]
        cursor = lo
        while (span := self._first_brace(cursor, hi)) is not None:
            start, end, parts = span
            middles: list[str] = []
            for part in parts:
                if isinstance(part, str):  # a sequence member: no braces in it
                    if depth + 1 > MAX_NESTING:
                        return None
                    middles.append(part)
                    continue
                expanded = self.expand(part[0], part[1], depth=depth + 1)
                if expanded is None:
                    return None
                middles.extend(expanded)
            prefix = self.word[cursor:start]
            if len(middles) == 1:  # no new words: each grows in place
                for head in heads:
                    head.extend((prefix, middles[0]))
            else:  # the count at least doubles: at most log2(MAX_WORDS) times
                heads = [[*head, prefix, middle] for head in heads for middle in middles]
                if len(heads) > MAX_WORDS:
                    return None
            cursor = end + 1
        tail = self.word[cursor:hi]
        return ["".join(head) + tail for head in heads]

    def _first_brace(self, lo: int, hi: int) -> _Span | None:
        """The first `{…}` in `word[lo:hi]` that expands: its bounds and alternatives
        (as bounds) or sequence members; None if there is none before one never closed."""
        word, opens = self.word, self.opens
        index = bisect.bisect_left(opens, lo)
        while index < len(opens) and (start := opens[index]) < hi:
            index += 1
            if start > lo and word[start - 1] in "$\\":  # ${parameter}, \{ are not expansions
                continue
            end = self.close.get(start)
            if end is None:
                return None
            commas = self.commas.get(start)
            if commas:
                bounds = [start, *commas, end]
                return start, end, [(bounds[i] + 1, bounds[i + 1]) for i in range(len(commas) + 1)]
            sequence = _sequence(word, start + 1, end)
            if sequence is not None:
                return start, end, sequence
        return None


def _sequence(word: str, lo: int, hi: int) -> list[str] | None:
    match = _SEQUENCE.fullmatch(word, lo, hi)
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
