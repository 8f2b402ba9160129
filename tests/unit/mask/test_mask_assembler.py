"""LineAssembler: terminators, escapes, UTF-8, cuts and idle flushes.

All data here is synthetic.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgate.mask.assembler import LineAssembler, RawLine


def feed_all(chunks: list[bytes], assembler: LineAssembler | None = None) -> list[RawLine]:
    asm = assembler or LineAssembler()
    out: list[RawLine] = []
    for chunk in chunks:
        out += asm.feed(chunk)
    return out + asm.close()


def test_terminators_are_kept_per_line() -> None:
    lines = feed_all([b"one\ntwo\r\nthree\rfour"])
    assert [(line.text, line.end) for line in lines] == [
        ("one", "\n"),
        ("two", "\r\n"),
        ("three", "\r"),
        ("four", ""),
    ]


def test_progress_bar_segments_are_lines_of_their_own() -> None:
    lines = feed_all([b" 10%\r 50%\r100%\n"])
    assert [(line.text, line.end) for line in lines] == [
        (" 10%", "\r"),
        (" 50%", "\r"),
        ("100%", "\n"),
    ]


def test_cr_at_end_of_read_waits_for_a_following_lf() -> None:
    asm = LineAssembler()
    assert asm.feed(b"abc\r") == []
    assert [(line.text, line.end) for line in asm.feed(b"\ndef\n")] == [
        ("abc", "\r\n"),
        ("def", "\n"),
    ]


def test_csi_inside_a_value_is_lifted_out_of_the_text() -> None:
    (line,) = feed_all([b"ssn 123-45-\x1b[31m6789\x1b[0m\n"])
    assert line.text == "ssn 123-45-6789"
    assert line.escapes == ((11, "\x1b[31m"), (15, "\x1b[0m"))


@pytest.mark.parametrize(
    "raw",
    [b"a\x1b]0;window title\x07b\n", b"a\x1b]8;;http://x/\x1b\\b\n", b"a\x1bPdcs data\x1b\\b\n"],
)
def test_string_escapes_are_dropped_whole(raw: bytes) -> None:
    (line,) = feed_all([raw])
    assert line.text == "ab"
    assert line.escapes == ()


def test_unterminated_osc_is_dropped_up_to_the_line_end() -> None:
    (first, second) = feed_all([b"a\x1b]0;title\nb\n"])
    assert (first.text, second.text) == ("a", "b")


def test_short_escapes_are_dropped_and_controls_show_a_gap() -> None:
    """ESC-and-one-character escapes are dropped with the character they take (`ESC 2`
    must not hide the 2 of `219-…` from the masker yet keep it in the log); a C0
    control is kept for display and reads as a space, as a terminal shows a gap."""
    (line,) = feed_all([b"a\x1b7b\x07c\x1b(Bd\x1b219\n"])
    assert line.text == "ab cd19"
    assert line.escapes == ((2, "\x07"),)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"\x1b[1;1HSSN\x1b[1;10H219-09-9999\n", " SSN 219-09-9999"),
        (b"id\x0b219\x0c1\x00x\x1b[1Cy\x1b[12Gz\n", "id 219 1 x y z"),
        (b"12\x1b[31m34\x7f5\n", "12345"),  # colour and DEL leave no gap
    ],
)
def test_cursor_moves_and_controls_read_as_a_space(raw: bytes, text: str) -> None:
    (line,) = feed_all([raw])
    assert line.text == text


def test_a_csi_carrying_a_long_number_is_not_shown() -> None:
    (line,) = feed_all([b"pay \x1b[4111111111111111m done \x1b[38;5;208mx\n"])
    assert [esc for _, esc in line.escapes] == ["\x1b[38;5;208m"]


def test_escape_split_across_reads() -> None:
    lines = feed_all([b"12\x1b", b"[3", b"1m34\n"])
    assert lines[0].text == "1234"
    assert lines[0].escapes == ((2, "\x1b[31m"),)


def test_overlong_csi_is_not_kept() -> None:
    (line,) = feed_all([b"a\x1b[" + b"1;" * 30 + b"mb\n"])
    assert (line.text, line.escapes) == ("ab", ())


def test_utf8_split_across_reads_and_invalid_bytes() -> None:
    data = "é€😀\n".encode()
    lines = feed_all([data[i : i + 1] for i in range(len(data))])
    assert lines[0].text == "é€😀"
    (bad,) = feed_all([b"a\xff\xfeb\n"])
    assert bad.text == "a\ufffd\ufffdb"


def test_truncated_utf8_at_close_becomes_replacement_char() -> None:
    (line,) = feed_all(["x€".encode()[:-1]])
    assert (line.text, line.end) == ("x\ufffd", "")


def test_overlong_line_is_cut_with_context_on_both_sides() -> None:
    asm = LineAssembler(max_line=40, overlap=8)
    text = "".join(chr(ord("a") + i % 26) for i in range(130))
    lines = feed_all([text.encode() + b"\n"], asm)
    assert "".join(line.body for line in lines) == text
    assert [line.end for line in lines] == ["", "", "", "\n"]
    assert lines[0].lead == 0 and lines[0].trail == 8
    for before, after in itertools.pairwise(lines):
        assert after.lead == 8
        assert after.text[: after.lead] == before.body[-8:]
        assert before.text[len(before.text) - before.trail :] == after.body[: before.trail]


def test_cut_prefers_whitespace() -> None:
    asm = LineAssembler(max_line=40, overlap=8)
    text = "w" * 35 + " " + "v" * 20
    lines = feed_all([text.encode()], asm)
    assert lines[0].body == "w" * 35 + " "


def test_flush_idle_holds_back_the_last_word_until_forced() -> None:
    asm = LineAssembler()
    asm.feed(b"Enter SSN: 123-45")
    (prompt,) = asm.flush_idle()
    assert (prompt.text, prompt.end) == ("Enter SSN: ", "")
    assert asm.flush_idle() == []
    (rest,) = asm.feed(b"-6789\n")
    assert rest.body == "123-45-6789"
    assert rest.text[: rest.lead] == "Enter SSN: "
    asm.feed(b"$ partial")
    (forced,) = asm.flush_idle(force=True)
    assert forced.body == "$ partial"


def test_flush_idle_emits_a_pending_cr_line() -> None:
    asm = LineAssembler()
    asm.feed(b" 42%\r")
    (line,) = asm.flush_idle()
    assert (line.text, line.end) == (" 42%", "\r")


def test_flush_idle_holds_at_most_overlap_chars() -> None:
    asm = LineAssembler(max_line=100, overlap=10)
    asm.feed(b"x" * 30)
    (line,) = asm.flush_idle()
    assert line.body == "x" * 20


@pytest.mark.parametrize(("max_line", "overlap"), [(10, 5), (100, 0)])
def test_invalid_geometry_is_refused(max_line: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_line > 2 \\* overlap"):
        LineAssembler(max_line=max_line, overlap=overlap)


_CHUNKS = [b"a", b"b c", b"\n", b"\r", b"\r\n", b"\x1b[31m", b"\x1b]0;t\x07", b"\xc3\xa9"]
_pieces = st.lists(
    st.sampled_from([*_CHUNKS, b"\xff", b"x" * 30, b"\x1b", b"[0m", b"\t"]),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(pieces=_pieces, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_chunking_never_changes_the_lines(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    whole = feed_all([data], LineAssembler(max_line=40, overlap=8))
    bounds = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *bounds], [*bounds, len(data)], strict=True)]
    assert feed_all(chunks, LineAssembler(max_line=40, overlap=8)) == whole


@given(text=st.text(alphabet=st.sampled_from("ab \n\t\r\x1b\x07\x7f\x85\x9béあ"), max_size=60))
@settings(max_examples=300)
def test_fast_checks_agree_with_their_definitions(text: str) -> None:
    from hgate.mask.assembler import _SLOW_CHARS, _has_slow_chars, _long_line

    assert _has_slow_chars(text) == (_SLOW_CHARS.search(text) is not None)
    cut = text.rfind("\n") + 1
    for limit in (1, 3, 7, 20):
        naive = (
            len(text) > limit
            if cut <= limit
            else (len(text) - cut > limit or max(map(len, text[:cut].split("\n"))) > limit)
        )
        assert _long_line(text, cut, limit) == naive
