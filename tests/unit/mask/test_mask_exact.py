"""The exact-value set: found at once, in levels, without quadratic rebuilds.

All values are synthetic.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import ahocorasick
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hgate.mask import exact
from hgate.mask.exact import FRAGMENT, ExactValues, encodings
from hgate.mask.masker import Masker


def _naive(values: dict[str, str], text: str) -> set[tuple[int, int, str]]:
    """Every occurrence of every variant: what one automaton over all values finds."""
    found = set()
    for variant, kind in values.items():
        start = text.find(variant)
        while start >= 0:
            found.add((start, start + len(variant), kind))
            start = text.find(variant, start + 1)
    return found


_values = st.text(alphabet="abcdefXYZ0123-", min_size=4, max_size=10)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(_values, st.sampled_from(["NAME", "MRN"]), st.booleans()), max_size=40
    ),
    filler=st.text(alphabet="abcdefXYZ0123- ", max_size=30),
)
def test_levels_find_what_one_automaton_finds(
    steps: list[tuple[str, str, bool]], filler: str
) -> None:
    """Adds and finds in any order: each find sees every value added before it, with its
    newest kind, exactly as a single automaton rebuilt after each add would."""
    values = ExactValues()
    reference: dict[str, str] = {}
    text = filler
    for value, kind, look in steps:
        values.add(value, kind)
        for variant in encodings(value):
            reference[variant] = kind
        text = f"{text} {value} {filler}"
        if look:
            got = {(s.start, s.end, s.kind) for s in values.find(text)}
            assert got == _naive(reference, text)
    got = {(s.start, s.end, s.kind) for s in values.find(text)}
    assert got == _naive(reference, text)


def test_a_growing_set_is_not_rebuilt_whole_after_each_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database proxy adds a value per masked row while the terminal is masked line by
    line: with one automaton rebuilt per addition, 5,000 rows cost minutes. Here every
    value is built into O(log n) automata and a find runs O(log n) of them."""
    built = [0]

    class Counting:
        """An automaton that counts the words built into it."""

        def __init__(self) -> None:
            self._inner = ahocorasick.Automaton()

        def add_word(self, word: str, value: object) -> bool:
            built[0] += 1
            return bool(self._inner.add_word(word, value))

        def make_automaton(self) -> None:
            self._inner.make_automaton()

        def iter(self, text: str) -> Iterator[tuple[int, object]]:
            return iter(self._inner.iter(text))

    monkeypatch.setattr(exact, "ahocorasick", SimpleNamespace(Automaton=Counting))
    values = ExactValues()
    rows = 1024
    for row in range(rows):
        values.add(f"Synthetic Person {row:05d}", "NAME")
        assert values.find(f"row {row}: Synthetic Person {row:05d}")  # found at once
    variants = len(values)
    # one rebuild per value would be ~variants * rows / 2 words; levels keep it n log n
    assert built[0] <= variants * (2 + rows.bit_length())
    assert values.levels <= 2 + rows.bit_length()
    assert len(values.find("Synthetic Person 00000 and Synthetic Person 01023")) == 2


def test_a_value_whose_kind_changes_is_found_with_the_new_kind_only() -> None:
    values = ExactValues()
    values.add("synthetic-0001", "NAME")
    assert [s.kind for s in values.find("x synthetic-0001")] == ["NAME"]
    for row in range(10):
        values.add(f"synthetic-filler-{row}", "NAME")
        values.find("x")
    values.add("synthetic-0001", "MRN")
    assert [s.kind for s in values.find("x synthetic-0001")] == ["MRN"]


def test_a_value_added_in_another_thread_is_found_by_the_next_find() -> None:
    values = ExactValues()
    values.add("synthetic-seed", "NAME")
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            values.find("synthetic-seed synthetic-0")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for row in range(300):
            value = f"synthetic-{row:04d}"
            values.add(value, "NAME")
            assert values.find(f"now {value}"), row
    finally:
        stop.set()
        thread.join()


def _longest_clear_runs(masker: Masker, lines: list[str]) -> tuple[int, int]:
    """(longest run of characters left in clear between tokens, all characters in clear)."""
    longest = total = 0
    for line in lines:
        for part in _TOKEN.split(masker.mask(line).text):
            longest, total = max(longest, len(part)), total + len(part)
    return longest, total


_TOKEN = re.compile(r"\[[A-Z_]+:[0-9a-f]{6}\]")


def test_a_key_dumped_in_other_widths_is_masked_in_pieces() -> None:
    """`base64 id_ed25519` (76 columns), `xxd -p` and `cut -c1-35` never print a whole
    encoded line of the key: without pieces, 5 of 7 base64 lines (enough to rebuild the
    seed) reached the log. A generated key, never printed by the test."""
    key = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )
    masker = Masker(key=b"synthetic-test-key-0123456789abc")
    masker.add_exact(key, "SSH_KEY")
    raw = key.encode()
    wrapped = base64.b64encode(raw).decode()
    dumps = {
        "base64": [wrapped[i : i + 76] for i in range(0, len(wrapped), 76)],
        "base64 -w 64": [wrapped[i : i + 64] for i in range(0, len(wrapped), 64)],
        "xxd -p": [raw.hex()[i : i + 60] for i in range(0, 2 * len(raw), 60)],
        "cut -c1-35": [line[:35] for line in key.splitlines()],
    }
    for name, lines in dumps.items():
        longest, total = _longest_clear_runs(masker, lines)
        size = sum(map(len, lines))
        assert longest <= FRAGMENT and total < size // 10, name


def test_pieces_are_for_secrets_not_for_a_columns_values() -> None:
    """Tainted values come by the thousand and may be prose: whole values only."""
    values = ExactValues()
    values.add("Synthetic note about a synthetic patient visit", "NOTE", fragments=False)
    values.add("synthetic-secret-0123456789-abcdefghij", "SECRET")
    assert values.find("about a synthetic patient") == []
    pieces = values.find("x 0123456789-abcdefgh y")  # 19 characters of the secret
    assert {s.kind for s in pieces} == {"SECRET"}
    assert (min(s.start for s in pieces), max(s.end for s in pieces)) == (2, 21)
