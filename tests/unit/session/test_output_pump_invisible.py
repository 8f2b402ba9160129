"""The output pump writes invisible format characters to the CI log as `<U+202E>` and
records them in the transcript as the agent printed them."""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Iterator
from typing import cast

import pytest

from hgate.audit import TranscriptWriter
from hgate.mask import Masker, MaskingStream
from hgate.mask.detectors import build_default_detectors
from hgate.mask.rendering import neutralise_invisible
from hgate.session.output_pump import OutputPump
from tests.journal import Journal
from tests.secrecy import assert_absent

# visible signs that happen to be format characters (Prepended_Concatenation_Mark)
VISIBLE_FORMAT = frozenset(
    [*range(0x600, 0x606), 0x6DD, 0x70F, 0x890, 0x891, 0x8E2, 0x110BD, 0x110CD]
)
JOINERS = frozenset([0x200C, 0x200D])


class Pumped:
    """A pump over a real masker, writing to a pipe; the transcript kept in a Journal."""

    def __init__(self) -> None:
        self.journal = Journal()
        self._read, write = os.pipe()
        self.pump = OutputPump(
            MaskingStream(Masker(key=b"k" * 32, detectors=build_default_detectors())),
            cast(TranscriptWriter, self.journal),
            write,
            budget=None,
        )
        self._write = write

    def log(self) -> str:
        """What reached the CI log so far."""
        os.set_blocking(self._read, False)
        chunks = []
        while True:
            try:
                chunk = os.read(self._read, 65536)
            except BlockingIOError:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()

    def texts(self) -> list[str]:
        return [
            line["text"] for kind, data in self.journal.events if kind == "output"
            for line in data["lines"]
        ]  # fmt: skip

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


@pytest.fixture
def pumped() -> Iterator[Pumped]:
    p = Pumped()
    yield p
    p.close()


def _invisible() -> list[str]:
    return [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Cf", "Zl", "Zp")
        and code not in VISIBLE_FORMAT | JOINERS
    ]


def test_every_format_character_reaches_the_log_as_its_code_point(pumped: Pumped) -> None:
    chars = _invisible()
    assert "\u202e" in chars and "\U000e0041" in chars  # the enumeration is not empty
    pumped.pump.feed("".join(f"x{c}y" for c in chars).encode() + b"\n")
    log = pumped.log()
    raw = [f"U+{ord(c):04X}" for c in chars if c in log]
    assert raw == [], "format characters reached the CI log raw"
    assert log == "".join(f"x<U+{ord(c):04X}>y" for c in chars) + "\n"
    assert pumped.texts() == ["".join(f"x{c}y" for c in chars)]


def test_each_format_character_alone_is_neutralised() -> None:
    """One at a time: the quick check that rules a read out must know every character."""
    missed = [
        f"U+{ord(c):04X}"
        for c in _invisible()
        if neutralise_invisible(f"x{c}y".encode()) != f"x<U+{ord(c):04X}>y".encode()
    ]
    assert missed == []


def test_rtl_text_and_visible_format_signs_pass_unchanged(pumped: Pumped) -> None:
    line = "שלום עולם ومرحبا \u0600\u0661\u0662 \u06dd"
    pumped.pump.feed(line.encode() + b"\n")
    assert pumped.log() == line + "\n"
    assert pumped.texts() == [line]


def test_joiners_stay_inside_emoji_and_words_but_not_beside_ascii(pumped: Pumped) -> None:
    kept = "\U0001f469\u200d\U0001f4bb \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    pumped.pump.feed(f"{kept} a\u200db \u200c\u200d\u0645 \u0645\u200c\n".encode())
    assert pumped.log() == f"{kept} a<U+200D>b <U+200C><U+200D>\u0645 \u0645<U+200C>\n"


def test_colour_codes_stay_around_a_neutralised_override(pumped: Pumped) -> None:
    pumped.pump.feed(b"\x1b[31m\xe2\x80\xaeDESSAP\x1b[0m \xe2\x81\xa6ok\xe2\x81\xa9\r\n")
    assert pumped.log() == "\x1b[31m<U+202E>DESSAP\x1b[0m <U+2066>ok<U+2069>\r\n"
    assert pumped.texts() == ["\u202eDESSAP \u2066ok\u2069"]


def test_a_masked_value_behind_an_override_stays_masked(pumped: Pumped) -> None:
    pumped.pump.feed("ssn \u202e536-22-1234\u202c\n".encode())
    log = pumped.log()
    assert_absent({"ssn": "536-22-1234"}, log=log.replace("<U+202E>", "").replace("<U+202C>", ""))
    assert log.startswith("ssn <U+202E>[SSN:") and log.endswith("]<U+202C>\n")
    assert pumped.texts()[0].startswith("ssn \u202e[SSN:")


def test_a_prompt_flushed_while_idle_is_neutralised(pumped: Pumped) -> None:
    pumped.pump.feed("\u2067continue? ".encode())
    pumped.pump.idle(force=False)
    assert pumped.log() == "<U+2067>continue? "
    assert pumped.texts() == ["\u2067continue? "]


def test_ascii_output_is_passed_through_as_the_same_object() -> None:
    data = b"\x1b[32mPASSED\x1b[0m tests/unit 123-45\r\n" * 100
    assert neutralise_invisible(data) is data
    utf8 = "caf\u00e9 \u2713\n".encode()
    assert neutralise_invisible(utf8) is utf8
