"""Words of a shell line as bash reads them, for the fallback parser (`shell_fallback`).

A word's value is what bash passes after quote removal (`$'…'` decoded), expansions left
as written; every command the word would run (`$(…)`, backticks, `<(…)`, `>(…)`, also
inside `"…"`, `${…}` and arithmetic) is parsed and returned with it. Where bash's quoting
is context-dependent (single quotes inside arithmetic or a double-quoted `${…}` do not
quote), substitutions are looked for anyway. What this reader is unsure of raises
`UnparsableLine`: the caller never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hgate.guard.command import Command
from hgate.guard.shell_line import UnparsableLine

METACHARS = frozenset(" \t\n|&;()<>")
_EXTGLOB = frozenset("@!+*?")
_SPECIAL = frozenset("@*#?-$!0123456789")
_ARRAY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r"}
_ESCAPES |= {"t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_NUMERIC = (("x", 2, 16), ("u", 4, 16), ("U", 8, 16))

Lists = Callable[[int], tuple[tuple[Command, ...], int]]  # commands from pos to its `)`
Line = Callable[[str], tuple[Command, ...]]  # a whole line, parsed on its own


@dataclass(frozen=True, slots=True)
class Word:
    value: str  # after quote removal; expansions as written
    raw: str
    computed: bool  # holds an expansion, so its value is only known when it runs
    commands: tuple[Command, ...]  # what it runs, in order
    end: int


@dataclass(slots=True)
class Found:
    """What a word being read has so far: value parts, commands, whether it expands."""

    value: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    computed: bool = False


class WordReader:
    """Reads words of `text`; `lists` parses the commands of a `$(`, `line` a backtick body."""

    def __init__(self, text: str, lists: Lists, line: Line) -> None:
        self.text = text
        self._lists = lists
        self._line = line

    def word(self, pos: int, *, regex: bool = False) -> Word:
        """The word at `pos`; `regex` reads a `[[ =~ ]]` operand (`|`, `( … )` belong to it)."""
        text, acc, start = self.text, Found(), pos
        while pos < len(text):
            char = text[pos]
            if pos == start and text.startswith(("<(", ">("), pos):
                commands, pos = self._lists(pos + 2)
                acc.commands.extend(commands)
                acc.value.append(text[start:pos])
                acc.computed = True
            elif char == "(" and (
                (pos > start and (regex or text[pos - 1] in _EXTGLOB))  # @(a|b), =~ (x)
                or _ARRAY.fullmatch(text, start, pos)  # a=( … )
            ):
                inner = Found()
                end = self.matched(pos + 1, "(", ")", inner, single_quotes_hide=True)
                acc.commands.extend(inner.commands)
                acc.value.append(text[pos:end])
                acc.computed = acc.computed or not regex  # a pattern: its value is not known
                pos = end
            elif char in METACHARS and not (regex and char == "|"):
                break
            else:
                pos = self._unit(pos, acc, quoted=False)
        if pos == start:
            raise UnparsableLine(f"shell syntax hgate cannot parse: nothing to read at {pos}")
        raw = text[start:pos]
        return Word("".join(acc.value), raw, acc.computed, tuple(acc.commands), pos)

    def matched(
        self, pos: int, open_: str, close: str, acc: Found, *, single_quotes_hide: bool
    ) -> int:
        """Past the `close` that balances an `open_` just read; substitutions inside go to
        `acc`. Unless `single_quotes_hide`, '…' is skipped but still searched for them."""
        text, depth = self.text, 1
        while pos < len(text):
            char = text[pos]
            if char == "'":
                end = self._quote_end(pos)
                if not single_quotes_hide:
                    acc.commands.extend(scan_expansions(text[pos + 1 : end - 1], self._line))
                pos = end
            elif char in '\\"$`':
                pos = self._unit(pos, acc, quoted=False)
            else:
                depth += (char == open_) - (char == close)
                pos += 1
                if depth == 0:
                    return pos
        raise UnparsableLine(f"shell syntax hgate cannot parse: unbalanced {open_!r}")

    def arithmetic(self, pos: int) -> tuple[int, tuple[Command, ...]] | None:
        """(past the `))`, the commands inside) of an arithmetic `((` read up to `pos`, or
        None where bash reads `( (` (subshells) instead: no `)` right after the balanced
        part."""
        inner = Found()
        try:
            end = self.matched(pos, "(", ")", inner, single_quotes_hide=False)
        except UnparsableLine:
            return None
        if not self.text.startswith(")", end):
            return None
        return end + 1, tuple(inner.commands)

    def double_quoted(self, pos: int, acc: Found, *, until: str = '"') -> int:
        """Past the `until` that ends a "…" body starting at `pos` (None: the text's end)."""
        text = self.text
        while pos < len(text) and text[pos] != until:
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                following = text[pos + 1]
                if following != "\n":
                    acc.value.append(following if following in '$`"\\' else f"\\{following}")
                pos += 2
            elif char in "$`":
                pos = self._unit(pos, acc, quoted=True)
            else:
                acc.value.append(char)
                pos += 1
        if until and pos >= len(text):
            raise UnparsableLine('shell syntax hgate cannot parse: an unterminated "…" quote')
        return pos + 1 if until else pos

    def _unit(self, pos: int, acc: Found, *, quoted: bool) -> int:
        text, char = self.text, self.text[pos]
        following = text[pos + 1] if pos + 1 < len(text) else ""
        if char == "\\":
            acc.value.append("" if following == "\n" else following or "\\")
            return pos + 2
        if char == "'":
            end = self._quote_end(pos)
            acc.value.append(text[pos + 1 : end - 1])
            return end
        if char == '"':
            return self.double_quoted(pos + 1, acc)
        if char == "`":
            return self._backtick(pos, acc, quoted=quoted)
        if char != "$":
            acc.value.append(char)
            return pos + 1
        if following == "'" and not quoted:
            end, value = ansi_c(text, pos + 2)
            acc.value.append(value)
            return end
        if following == '"' and not quoted:
            return self.double_quoted(pos + 2, acc)
        end = self._expansion(pos, following, acc, quoted=quoted)
        if end == pos + 1:
            acc.value.append("$")
        else:
            acc.value.append(text[pos:end])
            acc.computed = True
        return end

    def _expansion(self, pos: int, following: str, acc: Found, *, quoted: bool) -> int:
        text = self.text
        if following == "(":
            if text.startswith("((", pos + 1) and (found := self.arithmetic(pos + 3)):
                acc.commands.extend(found[1])
                return found[0]
            commands, end = self._lists(pos + 2)
            acc.commands.extend(commands)
            return end
        if following == "[":  # $[ … ], old arithmetic
            inner = Found()
            end = self.matched(pos + 2, "[", "]", inner, single_quotes_hide=False)
            acc.commands.extend(inner.commands)
            return end
        if following == "{":
            return self._braced(pos + 2, acc, quoted=quoted)
        if following.isalpha() or following == "_":
            end = pos + 1
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            return end
        return pos + 2 if following and following in _SPECIAL else pos + 1

    def _braced(self, pos: int, acc: Found, *, quoted: bool) -> int:
        """Past the `}` of a `${`; the first unquoted `}` closes it, as in bash."""
        text, inner = self.text, Found()
        while pos < len(text) and text[pos] != "}":
            if text[pos] == "'" and quoted:  # literal inside "${…}": what follows expands
                pos += 1
            elif text[pos] == "'":  # quotes here; searched anyway, bash's rules vary
                end = self._quote_end(pos)
                inner.commands.extend(scan_expansions(text[pos + 1 : end - 1], self._line))
                pos = end
            else:
                pos = self._unit(pos, inner, quoted=quoted)
        if pos >= len(text):
            raise UnparsableLine("shell syntax hgate cannot parse: an unterminated ${…}")
        acc.commands.extend(inner.commands)
        return pos + 1

    def _backtick(self, pos: int, acc: Found, *, quoted: bool) -> int:
        text, body, index = self.text, [], pos + 1
        while index < len(text) and text[index] != "`":
            if text[index] == "\\" and index + 1 < len(text):
                following = text[index + 1]
                keep = following not in ("$`\\" + ('"' if quoted else ""))
                body.append(("\\" if keep else "") + following)
                index += 2
            else:
                body.append(text[index])
                index += 1
        if index >= len(text):
            raise UnparsableLine("shell syntax hgate cannot parse: an unterminated `…`")
        acc.commands.extend(self._line("".join(body)))
        acc.value.append(text[pos : index + 1])
        acc.computed = True
        return index + 1

    def _quote_end(self, pos: int) -> int:
        end = self.text.find("'", pos + 1)
        if end == -1:
            raise UnparsableLine("shell syntax hgate cannot parse: an unterminated '…' quote")
        return end + 1


def word_value(raw: str) -> str:
    """The value of `raw`, one whole shell word: quotes removed, `$'…'` decoded,
    expansions as written (what `parse_line`'s bashlex reading takes a word to be)."""
    reader = WordReader(raw, _sub_lists(raw, _unchecked), _unchecked)
    word = reader.word(0)
    if word.end != len(raw):
        raise UnparsableLine(f"shell syntax hgate cannot parse: {raw!r} is not one word")
    return word.value


def _unchecked(_body: str) -> tuple[Command, ...]:
    return ()  # only the word's value is wanted: the caller checks its commands


def scan_expansions(text: str, line: Line) -> tuple[Command, ...]:
    """The commands a "…"-like body runs: an unquoted heredoc, a '…' where it does not quote."""
    if "$" not in text and "`" not in text:
        return ()
    reader = WordReader(text, _sub_lists(text, line), line)
    acc = Found()
    reader.double_quoted(0, acc, until="")
    return tuple(acc.commands)


def _sub_lists(text: str, line: Line) -> Lists:
    from hgate.guard.shell_fallback import read_list  # the parser reads `$(`; it imports us

    return lambda pos: read_list(text, pos, line)


def ansi_c(text: str, pos: int) -> tuple[int, str]:
    """(past the closing quote, the decoded value) of a `$'…'` body starting at `pos`."""
    out: list[str] = []
    while pos < len(text) and text[pos] != "'":
        if text[pos] != "\\" or pos + 1 >= len(text):
            out.append(text[pos])
            pos += 1
            continue
        letter = text[pos + 1]
        pos += 2
        if letter in _ESCAPES:
            out.append(_ESCAPES[letter])
        elif letter in "01234567":
            digits = re.match(r"[0-7]{0,2}", text[pos:])
            number = letter + (digits.group() if digits else "")
            out.append(chr(int(number, 8) & 0xFF))
            pos += len(number) - 1
        elif letter == "c" and pos < len(text):
            out.append(chr(ord(text[pos].upper()) & 0x1F))
            pos += 1
        elif any(letter == name for name, _, _ in _NUMERIC):
            width = next(w for name, w, _ in _NUMERIC if name == letter)
            digits = re.match(rf"[0-9A-Fa-f]{{1,{width}}}", text[pos:])
            if digits is None:
                out.append(f"\\{letter}")
                continue
            out.append(chr(min(int(digits.group(), 16), 0x10FFFF)))
            pos += len(digits.group())
        else:
            out.append(f"\\{letter}")
    if pos >= len(text):
        raise UnparsableLine("shell syntax hgate cannot parse: an unterminated $'…' quote")
    return pos + 1, "".join(out).split("\0", 1)[0]  # bash ends the string at a NUL
