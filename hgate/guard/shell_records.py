"""The simple commands the fallback reader has found, and the pipelines they sit in.

`shell_fallback` decides where commands start; this holds what it found and turns it into
`Command`s the way the bashlex path does: substitutions first, wrappers seen through
(`expand_argv`), each pipeline stage told what reads its output (`piped_to`, also across
`{ …; }` and loops), a heredoc or here-string fed to a shell parsed as a line of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hgate.guard.command import Command, unwrap
from hgate.guard.shell_args import SHELLS
from hgate.guard.shell_line import expand_argv, parse_line, reading_stdin
from hgate.guard.shell_words import Line, scan_expansions


@dataclass(slots=True)
class Simple:
    """One simple command being read (or only the substitutions of a test or redirect)."""

    words: list[str] = field(default_factory=list)
    dynamic: bool = False
    redirects: list[str] = field(default_factory=list)
    before: list[Command] = field(default_factory=list)  # its substitutions, run first
    stdin: str | None = None  # a heredoc or here-string body, read by a shell
    pipes: list[range] = field(default_factory=list)  # records of later stages, per pipeline


@dataclass(slots=True)
class Frame:
    kind: str  # root ( { if loop for case
    pipe_start: int
    pipes: list[int] = field(default_factory=list)
    state: str = ""  # for: name header body; case: subject in pattern arm


class Records:
    """The commands read so far, in the order bash starts them, and the open frames."""

    def __init__(self, text: str, line: Line, depth: int) -> None:
        self.text, self.line, self.depth = text, line, depth
        self.records: list[Simple] = []
        self.frames = [Frame("root", 0)]
        self.current: Simple | None = None
        self.heredocs: list[tuple[Simple, str, bool, bool]] = []  # record, end, -, expands

    def substitutions(self, commands: tuple[Command, ...]) -> None:
        """Commands run by words that are not a command's own (tests, patterns, headers)."""
        if commands:
            self.finish()
            self.records.append(Simple(before=list(commands)))

    def record(self) -> Simple:
        if self.current is None:
            self.current = Simple()
        return self.current

    def finish(self) -> None:
        if self.current is not None:
            self.records.append(self.current)
            self.current = None

    def separate(self) -> None:
        """End the pipeline of the innermost frame: its stages learn what reads them."""
        self.finish()
        frame, end = self.frames[-1], len(self.records)
        pipes, next_pipe = frame.pipes, 0  # in order: walked alongside, not searched
        for index in range(frame.pipe_start, end):
            while next_pipe < len(pipes) and pipes[next_pipe] <= index:
                next_pipe += 1
            if next_pipe < len(pipes):
                self.records[index].pipes.append(range(pipes[next_pipe], end))
        frame.pipe_start, frame.pipes = end, []

    def bodies(self, pos: int) -> int:
        """Read the heredocs waiting for the newline just passed; past their last line."""
        text = self.text
        for record, delimiter, strip, expands in self.heredocs:
            lines: list[str] = []
            while pos < len(text):
                end = text.find("\n", pos)
                end = len(text) if end == -1 else end
                row, pos = text[pos:end], end + 1
                if (row.lstrip("\t") if strip else row) == delimiter:
                    break
                lines.append(row)
            body = "\n".join(lines)
            record.stdin = body
            if expands:
                record.before.extend(scan_expansions(body, self.line))
        self.heredocs = []
        return min(pos, len(text))

    def commands(self) -> tuple[Command, ...]:
        names = [_names(record) for record in self.records]
        later = _Later(names)
        found: list[Command] = []
        for record in self.records:
            found.extend(record.before)
            if not record.words:
                continue
            piped_to = tuple(dict.fromkeys(n for span in record.pipes for n in later.names(span)))
            commands = list(
                expand_argv(
                    tuple(record.words),
                    depth=self.depth,
                    redirects=tuple(record.redirects),
                    piped_to=piped_to,
                    dynamic=record.dynamic,
                )
            )
            if record.stdin is None:
                commands[0] = reading_stdin(commands[0])
            found.extend(commands)
            if record.stdin is not None and commands[0].name in SHELLS:
                found.extend(parse_line(record.stdin, depth=self.depth + 1))
        return tuple(found)


class _Later:
    """The programs of the records in a span, each named once, in order. The spans of one
    pipeline all end where it ends, so each answer is the next record's names before the
    answer for the span one shorter: worked out once from the end, not once per stage."""

    def __init__(self, names: list[list[str]]) -> None:
        self._names = names
        self._known: dict[tuple[int, int], tuple[str, ...]] = {}

    def names(self, span: range) -> tuple[str, ...]:
        known, stop = self._known, span.stop
        start = span.start
        while start < stop and (start, stop) not in known:
            start += 1
        tail = known.get((start, stop), ())
        for index in range(start - 1, span.start - 1, -1):
            tail = tuple(dict.fromkeys((*self._names[index], *tail)))
            known[(index, stop)] = tail
        return tail


def _names(record: Simple) -> list[str]:
    names = [command.name for command in record.before]
    if record.words:
        inner = unwrap(tuple(record.words))[0] or tuple(record.words)
        names.append(Command(argv=inner).name)
    return names
