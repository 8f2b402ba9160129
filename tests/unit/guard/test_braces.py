"""Brace expansion as bash does it, and the bypasses it closes."""

from __future__ import annotations

import pytest

from hgate.guard.braces import MAX_WORDS, expand_braces


@pytest.mark.parametrize(
    ("word", "words"),
    [
        ("/{,}", ["/", "/"]),
        ("{rm,-rf}", ["rm", "-rf"]),
        ("a{b,c{d,e}}f", ["abf", "acdf", "acef"]),
        ("x{1..3}", ["x1", "x2", "x3"]),
        ("{3..1}", ["3", "2", "1"]),
        ("{0..10..5}", ["0", "5", "10"]),
        ("{a..c}", ["a", "b", "c"]),
        ("${HOME}", ["${HOME}"]),
        ("{}", ["{}"]),
        ("{a}", ["{a}"]),
        ("plain", ["plain"]),
        ("a\\{b,c}", ["a\\{b,c}"]),
    ],
)
def test_expands_like_bash(word: str, words: list[str]) -> None:
    assert expand_braces(word) == words


def test_explosions_are_kept_as_written() -> None:
    word = "{a,b}" * 8  # 256 words
    assert expand_braces(word) == [word]
    assert len(expand_braces("{1..64}")) == MAX_WORDS


def test_a_long_word_with_thousands_of_braces_is_expanded_without_recursion() -> None:
    """A script's text, run as a `-c` string, is one argv word the recorder checks."""
    script = 'echo "${x}" | grep -E "y{1,3}" && f() { :; }\n' * 3000
    assert expand_braces(script) == [script]
    assert expand_braces("{1..1}" * 3000 + "/{,}") == ["1" * 3000 + "/", "1" * 3000 + "/"]
    nested = "{a," * 100 + "b" + "}" * 100
    assert expand_braces(nested) == [nested]
