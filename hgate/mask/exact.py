"""The exact values hgate knows (issued credentials, policy values, tainted values).

One Aho-Corasick automaton finds them all in one pass, rebuilt lazily when the set
changes. Each value is also looked for in the encodings a value commonly travels in
(base64 at any alignment, URL-encoding, JSON escaping, hex), which is where plain
log masking stops; a long secret also in any piece of 12 characters of those.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus

import ahocorasick

from hgate.mask.interface import Span

__all__ = ["EXACT_DETECTOR", "MIN_EXACT_LENGTH", "ExactValues", "encodings"]

EXACT_DETECTOR = "exact"
MIN_EXACT_LENGTH = 4
_MIN_ENCODED = 6
# A secret this long is also masked in pieces: any FRAGMENT characters of it or of one of
# its encodings, wherever they show. A key printed wrapped at another width (`base64
# FILE`, `xxd -p`) or cut (`cut -c1-35`) never contains a whole encoded line.
FRAGMENTED = 24
FRAGMENT = 12
_KIND = re.compile(r"[A-Z][A-Z0-9_]*")


def _base64_cores(raw: bytes) -> list[str]:
    """The base64 text `raw` produces at each of the three byte alignments.

    Only characters whose six bits come from `raw` alone are kept, so the core is found
    inside any longer base64 blob that contains the value.
    """
    cores: list[str] = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode().rstrip("=")
        first = -(-pad * 8 // 6)  # first char whose bits start inside raw
        last = (pad + len(raw)) * 8 // 6  # chars fully inside raw end before this
        core = encoded[first:last]
        if len(core) >= _MIN_ENCODED:
            cores.append(core)
            cores.append(core.replace("+", "-").replace("/", "_"))
    return cores


def encodings(value: str) -> set[str]:
    """The value and its common encodings (only those that differ from it)."""
    raw = value.encode()
    found = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    found.update((raw.hex(), raw.hex().upper()))
    found.update(_base64_cores(raw))
    return {v for v in found if len(v) >= MIN_EXACT_LENGTH}


class ExactValues:
    """A set of (value -> kind) found with a few automata over a block.

    The set grows during a session (each value out of a masked column joins it), so one
    automaton rebuilt whole after each addition costs quadratic time: 5,000 values
    arriving between lines of output took 80 s. Values are kept instead in levels, each
    an automaton, whose sizes halve from the oldest to the newest: new values become a
    level of their own at the next `find`, and a level at least half the size of the one
    before it is merged into it. Each value is rebuilt into O(log n) automata over the
    session and `find` runs O(log n) of them. A value whose kind changes rebuilds all.

    Thread-safe: the database proxy adds tainted values from its own thread while the
    PTY loop masks; a value added is found by every `find` that starts after `add` returns.
    """

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._pending: dict[str, str] = {}  # added since the last find
        self._levels: list[tuple[ahocorasick.Automaton, dict[str, str]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    @property
    def levels(self) -> int:
        """How many automata a `find` runs (O(log n))."""
        return len(self._levels) + bool(self._pending)

    def add(self, value: str, kind: str, *, fragments: bool = True) -> None:
        """Mask `value`; `fragments=False` for values that come in numbers (a column's
        rows), whose pieces would cost memory and mask ordinary text."""
        if not _KIND.fullmatch(kind):
            raise ValueError(f"kind {kind!r} must be upper-case letters, digits and _")
        parts = [p for p in value.splitlines() if len(p) >= MIN_EXACT_LENGTH] or [value]
        if len(parts[0]) < MIN_EXACT_LENGTH:
            raise ValueError(
                f"exact values must be at least {MIN_EXACT_LENGTH} characters long "
                f"(a shorter one would mask ordinary text); got {len(value)} characters"
            )
        with self._lock:
            for part in parts:  # a multi-line value (a key) is masked line by line
                variants = encodings(part)
                if fragments and len(part) >= FRAGMENTED:
                    variants |= {
                        v[i : i + FRAGMENT] for v in variants for i in range(len(v) - FRAGMENT + 1)
                    }
                for variant in variants:
                    known = self._values.get(variant)
                    if known == kind:
                        continue
                    self._values[variant] = kind
                    if known is None:
                        self._pending[variant] = kind
                    else:  # an older level holds it with another kind: start over
                        self._levels = []
                        self._pending = dict(self._values)

    def find(self, text: str) -> list[Span]:
        if not self._values:
            return []
        if self._pending:  # read before the levels: `_settle` publishes them first
            with self._lock:
                levels = self._settle()
        else:
            levels = self._levels
        spans = [
            Span(start=end - length + 1, end=end + 1, kind=kind, detector=EXACT_DETECTOR)
            for automaton, _ in levels
            for end, (kind, length) in automaton.iter(text)
        ]
        return spans  # in no particular order across levels: callers place each span

    def _settle(self) -> list[tuple[ahocorasick.Automaton, dict[str, str]]]:
        """Turn the pending values into a level and merge levels of similar size."""
        levels = list(self._levels)
        if self._pending:
            words = self._pending
            while levels and len(levels[-1][1]) <= 2 * len(words):
                words = {**levels.pop()[1], **words}
            levels.append((_automaton(words), words))
            self._levels = levels  # published whole, before pending is emptied
            self._pending = {}
        return levels


def _automaton(words: dict[str, str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for value, kind in words.items():
        automaton.add_word(value, (kind, len(value)))
    automaton.make_automaton()
    return automaton
