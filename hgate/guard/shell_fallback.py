"""Shell lines bashlex cannot parse, read at the level the guard needs: where commands start.

Not a full bash parser: it tracks command positions (after operators, after `then do
else elif if while until ! time {`, in `case` arms, in `( … )`, `$( … )`, `<( … )`),
reads `[[ … ]]` and `(( … ))` as tests and arithmetic (their substitutions still run),
and checks structure as it goes (each `fi` closes an `if`, each `)` a `(`). Every simple
command found goes through `expand_argv`, as bashlex's do. Anything unexpected raises
`UnparsableLine`, so the policy's `unparsable` setting still decides.
"""

from __future__ import annotations

import re

from hgate.guard.command import Command
from hgate.guard.shell_line import UnparsableLine, parse_line, refuse_injected_environment
from hgate.guard.shell_records import Frame, Records
from hgate.guard.shell_words import Line, Word, WordReader

MAX_NESTING = 32
_OPERATORS: tuple[str, ...] = ("&>>", ";;&", "<<<", "<<-", "&&", "||", "|&", ";;", ";&", "&>")
_OPERATORS += ("<<", ">>", "<>", "<&", ">&", ">|", "|", "&", ";", "<", ">", "(", ")", "\n")
_HEREDOCS = frozenset({"<<", "<<-"})
_CONTINUES = frozenset({"|", "|&", "&&", "||"})  # a newline after these is a blank
_COND_OPERATORS = frozenset({"&&", "||", "(", ")", "<", ">"})
_OPENERS = {"if": "if", "while": "loop", "until": "loop", "for": "for", "select": "for"}
_OPENERS |= {"{": "{", "case": "case"}
_CLOSERS = {"fi": "if", "done": "loop", "}": "{", "esac": "case"}
_MIDDLES = {"then": "if", "elif": "if", "else": "if", "do": "loop"}
_REDIRECTS = frozenset({"<<<", "<", ">", ">>", ">|", "<>", "<&", ">&", "&>", "&>>"})
_HEADER_STATES = frozenset(
    {"subject", "in", "pattern", "alternative", "name", "after-name", "header"}
)
_FIRST_STATE = {"for": "name", "case": "subject"}
_NEXT_STATE = {"subject": "in", "in": "pattern", "pattern": "alternative", "name": "after-name"}
_NEXT_STATE |= {"after-name": "header"}
_EMPTY_PARENS = re.compile(r"\((?:[ \t]|\\\n)*\)")
_CLOSE_PAREN = re.compile(r"(?:[ \t]|\\\n)*\)")
_IO_NUMBER = re.compile(r"[0-9]+|\{[A-Za-z_][A-Za-z0-9_]*\}")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_BLANKS = re.compile(r"(?:[ \t]|\\\n)*")
_FIRST_WORD = re.compile(r"\s*(\S+)")  # as str.split() finds it


def _fail(why: str) -> UnparsableLine:
    return UnparsableLine(f"shell syntax hgate cannot parse: {why}")


def read_list(text: str, pos: int, line: Line, nesting: int = 0) -> tuple[tuple[Command, ...], int]:
    """The commands of `text` from `pos` up to the `)` that closes a `$(`/`<(` there."""
    if nesting >= MAX_NESTING:
        raise _fail(f"substitutions nested more than {MAX_NESTING} levels deep")
    return _Parser(text, line, nesting).read(pos, closed=True)


def parse_fallback(text: str, *, depth: int = 0) -> tuple[Command, ...]:
    """Every simple command of `text`, for `parse_line` when bashlex gives up."""

    def line(body: str) -> tuple[Command, ...]:
        return parse_line(body, depth=depth)

    try:
        return _Parser(text, line, 0, depth=depth).read(0, closed=False)[0]
    except RecursionError:
        raise _fail("nested too deeply") from None


class _Parser(Records):
    def __init__(self, text: str, line: Line, nesting: int, *, depth: int = 0) -> None:
        super().__init__(text, line, depth)
        self.words = WordReader(text, lambda p: read_list(text, p, line, nesting + 1), line)
        self.after = self.continued = self.timed = self.function = False
        self.last = (-1, "")  # where the last word ended, and its raw text

    def read(self, pos: int, *, closed: bool) -> tuple[tuple[Command, ...], int]:
        text = self.text
        while True:
            pos = _blanks(text, pos)
            if pos >= len(text):
                if (closed or len(self.frames) > 1) and not self.continued:
                    where = "$(" if closed else self.frames[-1].kind
                    raise _fail(f"unexpected end of the line inside {where!r}")
                return self._end(pos), pos
            if text[pos] == "#":  # a comment, up to the newline
                pos = text.find("\n", pos) % (len(text) + 1)
                continue
            op = "" if text.startswith(("<(", ">("), pos) else _operator(text, pos)
            if op == ")" and closed and len(self.frames) == 1:
                return self._end(pos), pos + 1
            if op:
                pos = self._operator(op, pos + len(op))
            elif self.current is None and not self.after and text.startswith("!(", pos):
                pos += 1  # where a command starts, `!(x)` is `! (x)`
            else:
                pos = self._word(self.words.word(pos))

    def _end(self, pos: int) -> tuple[Command, ...]:
        if self.continued:
            raise _fail("a line that ends in an operator")
        if self.heredocs and pos < len(self.text):
            raise _fail("a heredoc whose body is outside its $( … )")
        self.separate()
        self.bodies(pos)
        return self.commands()

    def _word(self, word: Word) -> int:
        self.continued = False
        self.last = (word.end, word.raw)
        frame, raw = self.frames[-1], word.raw
        if self.after:
            if _IO_NUMBER.fullmatch(raw) and self.text.startswith(("<", ">"), word.end):
                return word.end  # `} 2>&1`: the number is the redirection's
            raise _fail(f"{raw!r} after the end of a compound command")
        if frame.state in _HEADER_STATES:
            return self._header(frame, word)
        if self.current is not None or self.function:
            return self._argument(word)
        if self.timed and raw in ("-p", "--"):
            return word.end
        self.timed = False
        if raw in _OPENERS:
            kind = _OPENERS[raw]
            self.frames.append(Frame(kind, len(self.records), state=_FIRST_STATE.get(kind, "")))
        elif raw == "do" and frame.kind == "for" and frame.state == "do":
            frame.kind, frame.state = "loop", ""
        elif raw in _MIDDLES:
            if frame.kind != _MIDDLES[raw]:
                raise _fail(f"{raw!r} outside its compound command")
            self.separate()
        elif raw in _CLOSERS and (raw != "esac" or frame.state == "arm"):
            return self._close(_CLOSERS[raw], word.end)
        elif raw in ("!", "time"):
            self.timed = raw == "time"
        elif raw == "[[":
            return self._cond(word.end)
        elif raw == "function":
            self.function = True
        elif raw == "coproc":
            return self._coproc(word.end)
        else:
            return self._argument(word)
        return word.end

    def _header(self, frame: Frame, word: Word) -> int:
        """A word of `case WORD in PATTERN)` or `for NAME in WORDS`: not a command."""
        raw, state = word.raw, frame.state
        self.substitutions(word.commands)
        if state == "in" and raw != "in":
            raise _fail(f"`case … in` expected, found {raw!r}")
        if state == "pattern" and raw == "esac":
            return self._close("case", word.end)
        if state == "after-name" and raw not in ("in", "do"):
            raise _fail(f"`for NAME in` expected, found {raw!r}")
        if state == "after-name" and raw == "do":
            frame.kind, frame.state = "loop", ""
            return word.end
        frame.state = _NEXT_STATE.get(state, state)
        return word.end

    def _argument(self, word: Word) -> int:
        if self.function:  # `function NAME`: a name, then `()` perhaps, then the body
            self.function = False
            paren = _EMPTY_PARENS.match(self.text, _blanks(self.text, word.end))
            return paren.end() if paren else word.end
        record = self.record()
        record.before.extend(word.commands)
        if not record.words and _ASSIGNMENT.match(word.raw):
            refuse_injected_environment([word.value])
            return word.end
        if not record.words:
            record.dynamic = word.computed
        record.words.append(word.value)
        return word.end

    def _coproc(self, pos: int) -> int:
        """`coproc NAME { …; }` names the coprocess; `coproc cmd args` runs `cmd`."""
        start = _blanks(self.text, pos)
        if start >= len(self.text) or _operator(self.text, start):
            return pos
        name = self.words.word(start)
        after = _blanks(self.text, name.end)
        following = _FIRST_WORD.match(self.text, after)  # not a copy of the rest of the text
        first = following.group(1) if following else ""
        compound = self.text.startswith(("{", "("), after) or first in _OPENERS or first == "[["
        return name.end if compound and name.raw not in _OPENERS else pos

    def _operator(self, op: str, pos: int) -> int:
        frame = self.frames[-1]
        if op == "\n":
            pos = self.bodies(pos)
            if self.continued or frame.state in ("subject", "in", "pattern", "name"):
                return pos
        self.continued = op in _CONTINUES
        if frame.state in _HEADER_STATES:
            return self._header_operator(frame, op, pos)
        if op in _HEREDOCS or op in _REDIRECTS:
            return self._redirect(op, pos)
        if op == "(":
            return self._open_paren(pos)
        self.finish()
        self.after = False
        if op in ("|", "|&"):
            frame.pipes.append(len(self.records))
        elif op in (";;", ";&", ";;&"):
            if frame.state != "arm":
                raise _fail(f"{op!r} outside a case arm")
            self.separate()
            frame.state = "pattern"
        elif op == ")":
            self._close("(", pos)
        else:
            self.separate()
        return pos

    def _header_operator(self, frame: Frame, op: str, pos: int) -> int:
        state = frame.state
        if (state, op) in (("pattern", "("), ("alternative", "|"), ("alternative", ")")):
            frame.state = "arm" if op == ")" else state
            return pos
        if state == "name" and op == "(" and (found := self.words.arithmetic(pos + 1)):
            self.substitutions(found[1])  # for (( … ; … ; … ))
            frame.state = "do"
            return found[0]
        if state in ("after-name", "header") and op in (";", "\n"):
            frame.state = "do"
            return pos
        raise _fail(f"{op!r} where a case pattern or a for header was expected")

    def _open_paren(self, pos: int) -> int:
        record = self.current
        if record is not None:  # `name ( )`: a function definition; anything else is an error
            close = _CLOSE_PAREN.match(self.text, pos)
            if len(record.words) != 1 or record.redirects or record.before or not close:
                raise _fail("'(' inside a command")
            self.current = None
            return close.end()
        if self.after:
            raise _fail("'(' after the end of a compound command")
        if self.text.startswith("(", pos) and (found := self.words.arithmetic(pos + 1)):
            self.substitutions(found[1])  # (( … ))
            self.after = True
            return found[0]
        self.frames.append(Frame("(", len(self.records)))
        return pos

    def _redirect(self, op: str, pos: int) -> int:
        end, raw = self.last
        record = self.record()
        adjacent = end == pos - len(op) and record.words and raw == record.words[-1]
        if adjacent and _IO_NUMBER.fullmatch(raw):  # `2>x`, `{fd}>x`: the number is `>`'s
            record.words.pop()
        pos = _blanks(self.text, pos)
        if pos >= len(self.text) or (_operator(self.text, pos) and self.text[pos] not in "<>"):
            raise _fail(f"no target after {op!r}")
        target = self.words.word(pos)
        self.last = (target.end, "")
        record.before.extend(target.commands)
        if op in _HEREDOCS:
            expands = not any(q in target.raw for q in "'\"\\")
            self.heredocs.append((record, target.value, op == "<<-", expands))
        else:
            record.redirects.append(target.value)
        if op == "<<<" and not target.computed:
            record.stdin = target.value
        return target.end

    def _cond(self, pos: int) -> int:
        """`[[ … ]]`: operands and operators, up to `]]`; only substitutions can run."""
        text, record, previous = self.text, self.record(), ""
        while True:
            pos = _blanks(text, pos)
            if pos >= len(text) or text[pos] in "\n#":
                raise _fail("an unclosed '[['")
            op = "" if text.startswith(("<(", ">("), pos) else _operator(text, pos)
            if op and op not in _COND_OPERATORS:
                raise _fail(f"{op!r} inside '[[ … ]]'")
            if op:
                pos, previous = pos + len(op), op
                continue
            word = self.words.word(pos, regex=previous == "=~")
            record.before.extend(word.commands)
            pos, previous = word.end, word.raw
            if word.raw == "]]":
                self.finish()
                self.after = True
                return pos

    def _close(self, kind: str, pos: int) -> int:
        self.finish()
        frame = self.frames[-1]
        if frame.kind != kind or len(self.frames) == 1:
            raise _fail(f"{ {'(': ')'}.get(kind, kind)!r} closes nothing open")
        self.separate()
        self.frames.pop()
        self.after = True
        return pos


def _blanks(text: str, pos: int) -> int:
    match = _BLANKS.match(text, pos)
    return match.end() if match else pos


def _operator(text: str, pos: int) -> str:
    return next((op for op in _OPERATORS if text.startswith(op, pos)), "")
