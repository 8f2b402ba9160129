"""Turns the agent's PTY byte stream into lines the masker can judge whole.

The masker can only mask what it sees in one piece, so the assembler's job is to make
sure a value never reaches it split: UTF-8 split across reads is decoded incrementally,
terminal escape sequences are lifted out of the text (kept aside with their positions,
so `123-45-\\x1b[31m6789` is judged as `123-45-6789`), a pause in the output flushes a
prompt but holds back a trailing word, and an over-long line is cut with `overlap`
characters of context on both sides of every cut.

String-type escapes (OSC, DCS, SOS, PM, APC: window titles, hyperlinks) can carry any
text, so they are dropped, never shown; so are the short ESC-and-one-character escapes
(their last character may be the first of a value, which the terminal would swallow)
and a CSI carrying a number of six digits or more (no terminal needs one; a value could
hide there). Other CSI sequences are kept for display. An escape that moves the cursor
(any CSI but a colour's `m`) or a C0 control counts as a space in the text: a terminal
shows a gap there, so `SSN\x1b[1;10H219-09-9999` is judged as `SSN 219-09-9999`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["LineAssembler", "RawLine"]

_KEEP_MAX = 32  # a CSI longer than this carries more than colour or cursor data: dropped
_OPEN_MAX = 4096  # an unterminated escape held longer than this is given up on
_LONG_NUMBER = re.compile(r"[0-9]{6}")  # in a CSI's parameters: dropped, never shown

_SLOW_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SLOW_BUT_CR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Everything that is not plain text, but line ends: the stretches between are split on
# \n in bulk (`_consume_plain`), so a progress bar's \r or a colour code costs one match,
# not a per-line regex step for the whole chunk.
_NEXT_INLINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")  # where one starts
_INLINE = re.compile(
    r"(?P<cr>\r(?!\n))"
    r"|(?P<drop>\x1b[\]PX^_][^\x07\x1b\n\r]*(?:\x07|\x1b\\)"
    r"|\x1b(?:[ -/]+[0-~]|[0-OQ-WYZ\\`a-~]))"
    r"|(?P<keep>\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9a\x9c-\x9f])"
    r"|(?P<open>\x1b[\]PX^_][^\x07\x1b\n\r]*|\x1b\[[0-?]*[ -/]*|\x9b[0-?]*[ -/]*|\x1b[ -/]*)"
)
# where a prompt ends (`Password: `, `Continue? `, `$ `): an idle flush shows a partial
# line up to the last of these and holds the rest, which may be a value still coming
_PROMPT_END = re.compile(r"[:?>$#\]=](?:[ \t]+|\Z)")
_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"  # ASCII that _SLOW_CHARS lets through


def _has_slow_chars(text: str) -> bool:
    """`_SLOW_CHARS.search(text) is not None`, several times faster on ASCII text."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _PLAIN_ASCII))
    return _SLOW_CHARS.search(text) is not None


def _long_line(text: str, cut: int, limit: int) -> bool:
    """Whether a line of `text` (complete up to `cut`, then a partial one) is over `limit`."""
    if cut <= limit:
        return len(text) > limit
    if len(text) - cut > limit:
        return True
    pos = 0  # the start of a line; each step jumps to the last line start in reach
    while cut - pos > limit:
        newline = text.rfind("\n", pos, pos + limit + 1)
        if newline < 0:
            return True  # limit + 1 characters without a line end
        pos = newline + 1
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class RawLine:
    """One line (or one piece of an over-long line) as the masker must judge it.

    `text` is plain text without escapes. Only `text[lead:len(text) - trail]` belongs to
    this line; the `lead` and `trail` characters are context from the neighbouring
    pieces of a cut line, there so a value lying on the cut is seen whole. `escapes`
    are `(position in text, escape)` pairs, all within the owned part. `seen` is how
    many owned characters the previous piece saw as its trail: a value that starts in
    the lead and ends within them was tokenised there; one that runs further was not
    (an idle flush has no trail) and is tokenised here.
    """

    text: str
    end: str = "\n"
    escapes: tuple[tuple[int, str], ...] = ()
    lead: int = 0
    trail: int = 0
    seen: int = 0

    @property
    def body(self) -> str:
        """The part of `text` this line owns (without the context of a cut)."""
        return self.text[self.lead : len(self.text) - self.trail]


class LineAssembler:
    """Incremental bytes -> lines. Not thread-safe; one per stream."""

    def __init__(self, *, max_line: int = 16384, overlap: int = 4096) -> None:
        if overlap < 1 or max_line <= 2 * overlap:
            raise ValueError(
                f"need overlap >= 1 and max_line > 2 * overlap (got {max_line}, {overlap})"
            )
        self.max_line = max_line
        self.overlap = overlap
        self._limit = max_line + overlap
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""  # undecided raw text: a lone trailing \r or an unfinished escape
        self._parts: list[str] = []
        self._len = 0
        self._escapes: list[tuple[int, str]] = []
        self._context = ""  # the previous piece's last characters, for a continued line
        self._seen = 0  # how much of what follows the previous piece saw (its trail)

    def feed(self, data: bytes) -> list[RawLine]:
        """Take the next bytes of the stream; return the lines they complete."""
        return self._consume(self._tail + self._decoder.decode(data), final=False)

    def feed_block(self, data: bytes) -> str | list[RawLine]:
        """The fast path: complete plain lines of `data` as one string.

        When nothing but plain text is pending and the new text holds no escape, no
        `\\r` other than in `\\r\\n` (a PTY's line end) and no over-long line, returns the
        text up to and including the last `\\n` (the rest stays pending); otherwise the
        lines `feed` would return. Each line of the string ends in `\\n` or `\\r\\n`.
        """
        text = self._decoder.decode(data)
        if self._tail or self._escapes or self._context:
            return self._consume(self._tail + text, final=False)
        if self._parts:
            text = "".join(self._parts) + text
            self._parts, self._len = [], 0
        cut = text.rfind("\n") + 1
        if _long_line(text, cut, self._limit) or (
            _has_slow_chars(text)
            and (_SLOW_BUT_CR.search(text) is not None or text.count("\r") != text.count("\r\n"))
        ):
            return self._consume(text, final=False)
        rest = text[cut:]
        if rest:
            self._append(rest, [])
        return text[:cut]

    def flush_idle(self, *, force: bool = False) -> list[RawLine]:
        """The stream paused: emit the partial line up to where a prompt ends.

        What follows the last `: `, `? `, `> `, `$ `, `# `, `] ` or `= ` (up to `overlap`
        chars) is held back, since it may be the first part of a value still coming
        (`Card: 4111 1111`); `force=True` (after a longer pause) emits it too.
        """
        out: list[RawLine] = []
        if self._tail == "\r":
            self._tail = ""
            self._finish("\r", out)
        elif self._tail and force:
            self._tail = ""  # an unfinished escape: nothing of it is ever shown
        text = "".join(self._parts)
        cut = len(text)
        if not force:
            prompt = 0
            for match in _PROMPT_END.finditer(text):
                prompt = match.end()
            cut = max(prompt, cut - self.overlap)
        if cut or any(pos == 0 for pos, _ in self._escapes):
            self._emit_piece(text, cut, trail="", end="", out=out)
        return out

    def close(self) -> list[RawLine]:
        """End of stream: emit everything still held."""
        out = self._consume(self._tail + self._decoder.decode(b"", final=True), final=True)
        if self._len or self._escapes:
            self._finish("", out)
        self._parts, self._len, self._escapes, self._context = [], 0, [], ""
        return out

    def _consume(self, data: str, *, final: bool) -> list[RawLine]:
        self._tail = ""
        out: list[RawLine] = []
        pos = 0
        find, classify = _NEXT_INLINE.search, _INLINE.match  # a fast scan, then which one
        while (hit := find(data, pos)) is not None:
            match = classify(data, hit.start())
            if match is None:  # cannot happen: every character _NEXT_INLINE finds starts one
                raise AssertionError("unclassified control character")
            start, end = match.span()
            if start > pos:
                self._consume_plain(data[pos:start], out)
            pos = end
            kind = match.lastgroup
            if kind == "cr":
                if end == len(data) and not final:
                    self._tail = "\r"  # \r\n or a bare \r? the next read tells
                else:
                    self._finish("\r", out)
            elif kind == "keep":
                escape = match.group()
                if end - start <= _KEEP_MAX and not _LONG_NUMBER.search(escape):
                    self._escapes.append((self._len, escape))
                if escape[-1] != "m" and escape != "\x7f":  # colour and DEL show no gap
                    self._append(" ", out)
            elif kind == "open" and end == len(data) and not final and end - start <= _OPEN_MAX:
                self._tail = match.group()
            # "drop", and an "open" escape cut short by what follows, are never shown
        if pos < len(data):
            self._consume_plain(data[pos:], out)
        return out

    def _consume_plain(self, data: str, out: list[RawLine]) -> None:
        """Text without escapes or bare \\r: split on \\n without a per-char loop."""
        pieces = data.split("\n")
        first = pieces[0]
        if len(pieces) == 1:
            self._append(first, out)
            return
        if first[-1:] == "\r":
            self._append(first[:-1], out)
            self._finish("\r\n", out)
        else:
            self._append(first, out)
            self._finish("\n", out)
        limit = self._limit
        for piece in pieces[1:-1]:
            end = "\n"
            if piece[-1:] == "\r":
                piece, end = piece[:-1], "\r\n"
            if len(piece) > limit:
                self._append(piece, out)
                self._finish(end, out)
            else:
                out.append(RawLine(text=piece, end=end))
        self._append(pieces[-1], out)

    def _append(self, text: str, out: list[RawLine]) -> None:
        if text:
            self._parts.append(text)
            self._len += len(text)
        while self._len > self._limit:
            self._cut(out)

    def _cut(self, out: list[RawLine]) -> None:
        """Cut an over-long line, preferring whitespace so a value is not split at all."""
        text = "".join(self._parts)
        window = text[self.max_line - self.overlap : self.max_line]
        space = max(window.rfind(" "), window.rfind("\t"))
        cut = self.max_line - self.overlap + space + 1 if space >= 0 else self.max_line
        self._emit_piece(text, cut, trail=text[cut : cut + self.overlap], end="", out=out)

    def _emit_piece(self, text: str, cut: int, *, trail: str, end: str, out: list[RawLine]) -> None:
        lead = len(self._context)
        escapes = tuple((lead + pos, esc) for pos, esc in self._escapes if pos <= cut)
        out.append(
            RawLine(
                text=self._context + text[:cut] + trail,
                end=end,
                escapes=escapes,
                lead=lead,
                trail=len(trail),
                seen=self._seen,
            )
        )
        self._context = (self._context + text[:cut])[-self.overlap :]
        self._seen = len(trail)
        rest = text[cut:]
        self._parts = [rest] if rest else []
        self._len = len(rest)
        self._escapes = [(pos - cut, esc) for pos, esc in self._escapes if pos > cut]

    def _finish(self, end: str, out: list[RawLine]) -> None:
        text = "".join(self._parts)
        lead = len(self._context)
        escapes = tuple((lead + pos, esc) for pos, esc in self._escapes)
        out.append(
            RawLine(text=self._context + text, end=end, escapes=escapes, lead=lead, seen=self._seen)
        )
        self._parts, self._len, self._escapes, self._context = [], 0, [], ""
        self._seen = 0
