"""Shell lines to the commands they would run, with bash's own grammar (bashlex).

Every simple command is found wherever it sits: pipelines, `&&`/`||`/`;` lists,
subshells, `{ …; }`, `if`/`for`/`while` bodies, functions, `$(…)`, backticks, `<(…)`,
and the strings given to `bash -c`, `sh -c`, `su -c`, `eval` and `find -exec`, parsed in
turn. What cannot be parsed is never guessed at: `UnparsableLine` says why, and the
policy's `unparsable` setting decides. bashlex is imported on first use (it is slow to
import and optional: the `shell` extra).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, Literal

from hgate.guard.braces import expand_braces
from hgate.guard.command import Command, injected_environment, unwrap
from hgate.guard.shell_args import SHELLS, parse_shell_args

MAX_DEPTH = 8
MAX_LINE = 1 << 20
_WINDOW = 1 << 12  # characters a top-level command is first parsed from, doubled as needed
Parser = Literal["bashlex", "fallback"]
_PARSERS: ContextVar[set[Parser] | None] = ContextVar("hgate_guard_parsers", default=None)
_NAMED_FD = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}[<>]")
_DECLARES = frozenset({"export", "declare", "typeset", "readonly", "local"})
_HARMLESS_SHELL_OPTIONS = frozenset({"--version", "--help"})


class UnparsableLine(Exception):
    """The line is not something hgate can read with certainty; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _BashlexGap(UnparsableLine):
    """bashlex parsed the line but left something unread: the fallback reader takes over."""


def parse_line(text: str, *, depth: int = 0) -> tuple[Command, ...]:
    """Every simple command in `text`, nested ones included, in the order bash starts
    them (a command's substitutions before the command)."""
    if depth > MAX_DEPTH:
        raise UnparsableLine(f"commands nested more than {MAX_DEPTH} levels deep")
    if len(text) > MAX_LINE:
        raise UnparsableLine(f"line longer than {MAX_LINE} characters")
    if "\0" in text:
        raise UnparsableLine("line contains a NUL character")
    if not text.strip() or (text.lstrip().startswith("#") and "\n" not in text.strip()):
        return ()
    try:
        import bashlex  # noqa: F401 - only to say so when the extra is missing
    except ImportError as exc:  # pragma: no cover - the shell extra is a dependency here
        raise UnparsableLine("bashlex is not installed (pip install 'hgate[shell]')") from exc
    if not _misread_by_bashlex(text):
        try:
            trees = bashlex_trees(text)
            found: list[Command] = []
            for tree in trees:
                found.extend(_walk(tree, depth, text))
            _note("bashlex")
            return tuple(found)
        except _BashlexGap:
            pass
        except UnparsableLine:
            raise
        except Exception:
            pass
    return _fallback(text, depth)


def bashlex_trees(text: str) -> list[Any]:
    """What `bashlex.parse(text)` returns, in time linear in a script. bashlex parses one
    top-level command at a time, each from a fresh copy of all the text after it: a
    square in the script's length. Here each is parsed from a window of the lines that
    follow it, doubled until the parse ends inside it (the last window is all the rest,
    as bashlex's), so a command sees exactly the text it would have seen."""
    from bashlex import ast

    trees: list[Any] = []
    index = 0
    while not trees or index < len(text):
        tree = _bashlex_part(text, index)
        if not isinstance(tree, ast.node):
            if not trees:  # bashlex.parse fails on this too
                raise _BashlexGap("bashlex read no command")
            break
        if index:
            ast.posshifter(index).visit(tree)
        trees.append(tree)
        index = _bashlex_end(tree) + 1
    return trees


def _bashlex_part(text: str, index: int) -> Any:
    """The first top-level command of `text[index:]` as bashlex reads it."""
    from bashlex import ast, parser

    size = _WINDOW
    while 0 < (end := text.find("\n", index + size) + 1) < len(text):
        window = text[index:end]
        reader = parser._parser(window)
        try:
            tree = reader.parse()
        except Exception:  # perhaps only where the window cuts the text: read more
            tree = None
        read = getattr(reader.tok, "_shell_input_line_index", len(window))
        if (
            isinstance(tree, ast.node)
            and _bashlex_end(tree) + 1 < len(window)
            and read < len(window) - 1
        ):
            return tree  # it never looked at the end of the window
        size = max(2 * size, end - index)  # past this window's last line, however long
    return parser._parser(text[index:]).parse()


def _bashlex_end(tree: Any) -> int:
    """Where a top-level command ends, its heredocs' bodies included."""
    from bashlex import parser

    heredocs = parser._endfinder()
    heredocs.visit(tree)
    return max(int(tree.pos[1]), int(heredocs.end))


def _misread_by_bashlex(text: str) -> bool:
    """bashlex parses these without error but wrongly: `$'\\x72m'` (ANSI-C quotes, not
    decoded), `$"…"`, `{fd}>file` (read as the program), `$(…)` in a heredoc body (not
    seen), and a here-string (`bash <<< 'cmd'`: the shell's input is never read).
    Plain substring tests: linear in the line, whatever it holds."""
    if "$'" in text or '$"' in text or "<<<" in text or _NAMED_FD.search(text):
        return True
    return "<<" in text and any(mark in text for mark in ("$(", "$[", "${", "`"))


def _fallback(text: str, depth: int) -> tuple[Command, ...]:
    """bashlex could not read `text` (or reads it wrong): hgate's own reader tries."""
    from hgate.guard.shell_fallback import parse_fallback

    commands = parse_fallback(text, depth=depth)
    _note("fallback")
    return commands


@contextmanager
def parsers_used() -> Iterator[set[Parser]]:
    """Which parsers read the lines parsed in the block, nested `sh -c` strings included."""
    used: set[Parser] = set()
    token = _PARSERS.set(used)
    try:
        yield used
    finally:
        _PARSERS.reset(token)


def _note(parser: Parser) -> None:
    used = _PARSERS.get()
    if used is not None:
        used.add(parser)


def expand_argv(
    argv: tuple[str, ...],
    *,
    depth: int = 0,
    redirects: tuple[str, ...] = (),
    piped_to: tuple[str, ...] = (),
    dynamic: bool = False,
    nested: bool = True,
) -> Iterator[Command]:
    """The command `argv` runs, seen through wrappers, then (if `nested`) the commands it
    runs in turn: `sh -c` strings, `eval`, `find -exec`."""
    argv = tuple(word for original in argv for word in expand_braces(original))
    inner, wrappers = unwrap(argv)
    if not inner:
        inner, wrappers = argv, ()
    refuse_injected_environment(argv[: len(argv) - len(inner)])
    if os.path.basename(inner[0]) in _DECLARES:
        refuse_injected_environment(inner[1:])
    command = Command(
        argv=inner,
        wrappers=wrappers,
        redirects=redirects,
        piped_to=piped_to,
        dynamic=dynamic and not wrappers,
    )
    yield command
    if nested:
        yield from _nested(command, depth)


def refuse_injected_environment(words: tuple[str, ...] | list[str]) -> None:
    """`BASH_ENV=f bash -c …`, `env 'BASH_FUNC_ls%%=() { …; }' bash`: code a shell runs
    from its environment is nowhere in the line, so the line cannot be checked."""
    for word in words:
        if (name := injected_environment(word)) is not None:
            raise UnparsableLine(f"sets {name}, which makes a shell run code hgate cannot see")


def reading_stdin(command: Command) -> Command:
    """`command`, marked `unchecked` when it is a shell with no `-c` string and no script:
    it reads its commands from stdin (a pipe, a `<` file, the terminal), which the guard
    cannot see. A heredoc or here-string fed to it is checked by the caller instead,
    which then does not call this."""
    if command.name not in SHELLS or _HARMLESS_SHELL_OPTIONS & set(command.args):
        return command
    if parse_shell_args(command.args).mode not in ("stdin", "interactive"):
        return command
    why = (
        f"`{command.name}` reads its commands from stdin (a pipe, a file or the terminal),"
        " where hgate cannot check them; give them with -c or as a script"
    )
    return replace(command, unchecked=why)


def _nested(command: Command, depth: int) -> Iterator[Command]:
    name, args = command.name, command.args
    if name in SHELLS:
        invocation = parse_shell_args(args)
        if invocation.command is not None:
            yield from parse_line(invocation.command, depth=depth + 1)
    elif name == "eval" and args:
        yield from parse_line(" ".join(args), depth=depth + 1)
    elif name == "trap":  # `trap 'cmd' SIGNAL…`: the string runs later, as code
        handler = args[1:] if args[:1] == ("--",) else args
        if len(handler) >= 2 and not handler[0].startswith("-"):
            yield from parse_line(handler[0], depth=depth + 1)
    elif name in ("su", "runuser"):
        for index, arg in enumerate(args[:-1]):
            if arg in ("-c", "--command"):
                yield from parse_line(args[index + 1], depth=depth + 1)
    elif name == "find":
        for group in _find_exec_groups(args):
            yield from expand_argv(group, depth=depth + 1)


def _find_exec_groups(args: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    index = 0
    while index < len(args):
        if args[index] in ("-exec", "-execdir", "-ok", "-okdir"):
            end = index + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            if end > index + 1:
                yield tuple(args[index + 1 : end])
            index = end
        index += 1


def _walk(node: Any, depth: int, text: str) -> Iterator[Command]:
    kind = node.kind
    if kind == "command":
        yield from _simple(node, depth, text, ())
    elif kind == "pipeline":
        yield from _pipeline(node, depth, text)
    elif kind in ("word", "assignment"):
        yield from _substitutions(node, depth, text)
    elif kind == "redirect":
        if hasattr(node.output, "kind"):
            yield from _substitutions(node.output, depth, text)
    elif kind in ("commandsubstitution", "processsubstitution"):
        yield from _substitution(node, depth, text)
    elif kind in ("reservedword", "operator", "pipe", "parameter", "tilde", "heredoc"):
        return
    else:  # list, compound, if, for, while, until, function
        for child in getattr(node, "parts", None) or getattr(node, "list", None) or ():
            yield from _walk(child, depth, text)
        for redirect in getattr(node, "redirects", None) or ():
            yield from _walk(redirect, depth, text)


def _pipeline(node: Any, depth: int, text: str) -> Iterator[Command]:
    """Each stage told the programs of the stages after it, each named once (a pipeline
    of thousands of stages must not make each stage hold all the others' names)."""
    stages = [part for part in node.parts if part.kind != "pipe"]
    later: list[tuple[str, ...]] = [()] * len(stages)
    for index in range(len(stages) - 1, 0, -1):
        later[index - 1] = tuple(dict.fromkeys((*_stage_names(stages[index], text), *later[index])))
    for index, stage in enumerate(stages):
        if stage.kind == "command":
            yield from _simple(stage, depth, text, later[index])
        else:
            yield from _walk(stage, depth, text)


def _stage_names(stage: Any, text: str) -> list[str]:
    """Kept on the node: a stage inside a stage (`{ { a | b; } | c; } | d`) would
    otherwise be walked again for every pipeline around it, twice as often each level."""
    known: list[str] | None = getattr(stage, "hgate_names", None)
    if known is None:
        try:
            known = [command.name for command in _walk(stage, MAX_DEPTH, text)]
        except UnparsableLine:
            known = []
        stage.hgate_names = known
    return known


def _simple(node: Any, depth: int, text: str, piped_to: tuple[str, ...]) -> Iterator[Command]:
    words: list[str] = []
    redirects: list[str] = []
    dynamic = False
    heredoc: str | None = None
    for part in node.parts:
        yield from _walk(part, depth, text)
        if part.kind == "word":
            if not words and _is_computed(part):
                dynamic = True
            words.append(_value(part, text))
        elif part.kind == "assignment" and not words:
            refuse_injected_environment([part.word])
        elif part.kind == "redirect":
            output = part.output
            if hasattr(output, "word"):
                redirects.append(_value(output, text))
            if getattr(part, "heredoc", None) is not None:
                heredoc = part.heredoc.value
    if not words:
        return
    commands = list(
        expand_argv(
            tuple(words),
            depth=depth,
            redirects=tuple(redirects),
            piped_to=piped_to,
            dynamic=dynamic,
        )
    )
    if heredoc is None:
        commands[0] = reading_stdin(commands[0])
    yield from commands
    if heredoc is not None and commands[0].name in SHELLS:
        body = heredoc.rsplit("\n", 1)[0] if "\n" in heredoc else ""
        yield from parse_line(body, depth=depth + 1)


def _value(word: Any, text: str) -> str:
    """The word's value as bash passes it: bashlex leaves some quotes in (`""'ssh'` is
    `'ssh'` to it), so quotes are removed by the fallback's word reader instead."""
    start, end = word.pos
    raw = text[start:end]
    if not any(char in raw for char in "'\"\\"):
        return str(word.word)
    from hgate.guard.shell_words import word_value

    try:
        return word_value(raw)
    except UnparsableLine as exc:
        raise _BashlexGap(exc.reason) from None


def _substitution(node: Any, depth: int, text: str) -> Iterator[Command]:
    if "\n" in text[node.pos[0] : node.pos[1]]:
        # bashlex reads such a body up to its first newline only: the rest would never be
        # checked; the fallback reader reads it whole
        raise _BashlexGap("a substitution over several lines")
    yield from _walk(node.command, depth, text)


def _substitutions(node: Any, depth: int, text: str) -> Iterator[Command]:
    for part in getattr(node, "parts", None) or ():
        if part.kind in ("commandsubstitution", "processsubstitution"):
            yield from _substitution(part, depth, text)
        elif part.kind == "parameter" and ("$(" in part.value or "`" in part.value):
            raise _BashlexGap("a command substitution inside ${…} cannot be checked")


def _is_computed(word: Any) -> bool:
    return (
        any(
            p.kind in ("parameter", "commandsubstitution", "processsubstitution")
            for p in getattr(word, "parts", None) or ()
        )
        or "`" in word.word
    )
