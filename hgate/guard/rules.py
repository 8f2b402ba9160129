"""Command rules: what a rule matches on, and how one command is matched.

A rule matches when every condition it states holds (unstated ones match anything):

    program    a glob on the program's basename, or on its path when it has a `/`
    flags      every group present; a group is alternatives, "-r|-R|--recursive"
    args       any operand (argument, redirection target, --opt=value) matches a glob
    options    an option's value matches: {"-h|--host": ["db.*"]}
    subcommand one of the first three operands is one of these words (the values of
               git's and kubectl's global options, `-C DIR`, `-n NS`, are not operands)
    piped_to   a later stage of the same pipeline runs one of these programs
    unless     ...but not when this nested matcher matches (exceptions to a block)

Globs are path-aware: `*` and `?` stop at `/`, `**` crosses it, `[abc]` is a class
(`[*]` a literal star). Short flag clusters are split (`-rf` has `-r` and `-f`); paths
are also compared in normal form (`//`, `/tmp/..` are `/`).
"""

from __future__ import annotations

import glob as globmodule
import os
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from hgate.guard.command import MIN_ABBREVIATION, Command

Action = Literal["allow", "block", "approve"]
ACTIONS: tuple[Action, ...] = ("allow", "block", "approve")
SEVERITY: dict[str, int] = {"allow": 1, "approve": 2, "block": 3}
SUBCOMMAND_REACH = 3
# Options before a subcommand whose value is the next argument, per program: their values
# are not operands a subcommand is looked for among (`git -C . -C . -C . push`).
_GLOBAL_VALUES: dict[str, frozenset[str]] = {
    "git": frozenset(
        {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"}
    ),
    "kubectl": frozenset(
        {
            "-n",
            "--namespace",
            "-l",
            "--selector",
            "-s",
            "--server",
            "--context",
            "--cluster",
            "--user",
            "--kubeconfig",
            "--as",
            "--as-group",
            "--as-uid",
            "--token",
            "--request-timeout",
            "--cache-dir",
            "--certificate-authority",
            "--client-certificate",
            "--client-key",
            "--tls-server-name",
            "-v",
            "--v",
            "-o",
            "--output",
            "-f",
            "--filename",
        }
    ),
}
_GLOBAL_VALUES["oc"] = _GLOBAL_VALUES["kubectl"]
_GLOB_CHARS = re.compile(r"[*?[]")
# (glob, program, path) -> whether it matches, while `programs_resolved_once` is active
_PROGRAM_MATCHES: ContextVar[dict[tuple[str, str, str | None], bool] | None] = ContextVar(
    "hgate_guard_program_matches", default=None
)
_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Matcher:
    """The conditions of a rule; an empty matcher matches every command."""

    programs: tuple[str, ...] = ()
    flags: tuple[tuple[str, ...], ...] = ()
    args: tuple[str, ...] = ()
    options: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    subcommands: tuple[str, ...] = ()
    piped_to: tuple[str, ...] = ()
    unless: Matcher | None = None

    def matches(self, command: Command, *, abbreviations: bool = True) -> bool:
        """With `abbreviations`, a command's `--recu` is taken for a rule's `--recursive`
        (getopt_long reads any unambiguous prefix so): the safe side for a rule that
        blocks or holds. An `unless:` exception is read the other way round."""
        return self._matches(command, _shape(command), abbreviations)

    def _matches(self, command: Command, shape: _Shape, loose: bool) -> bool:
        if self.programs and not any(_program_matches(p, command) for p in self.programs):
            return False
        if any(not any(_spelled(f, group, loose) for f in shape.flags) for group in self.flags):
            return False
        if self.args and not any(
            glob_match(value, glob) for value in shape.operands for glob in self.args
        ):
            return False
        for spellings, globs in self.options:
            values = [
                v for name, v in shape.options if v is not None and _spelled(name, spellings, loose)
            ]
            if not any(glob_match(v, g) for v in values for g in globs):
                return False
        if self.subcommands and not set(shape.subject[:SUBCOMMAND_REACH]) & set(self.subcommands):
            return False
        if self.piped_to and not any(
            glob_match(name, glob) for name in command.piped_to for glob in self.piped_to
        ):
            return False
        return not (self.unless is not None and self.unless._matches(command, shape, not loose))


def _spelled(written: str, spellings: tuple[str, ...], loose: bool) -> bool:
    """Whether the flag or option `written` is one of `spellings`; with `loose`, also a
    long option written abbreviated (`--recu` for `--recursive`, `--ho` for `--host`)."""
    if written in spellings:
        return True
    return (
        loose
        and written.startswith("--")
        and len(written) >= 2 + MIN_ABBREVIATION
        and any(s.startswith("--") and s.startswith(written) for s in spellings)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    action: Action
    matcher: Matcher
    reason: str = ""
    location: str = ""  # file:line:col of the rule in its policy


@lru_cache(maxsize=256)
def _shape(command: Command) -> _Shape:
    """Sorted once per command, not once per rule the command is matched against."""
    return _Shape.of(command)


@dataclass(frozen=True, slots=True)
class _Shape:
    """A command's arguments sorted into flags, options with values, and operands."""

    flags: frozenset[str]
    options: tuple[tuple[str, str | None], ...]
    operands: tuple[str, ...]  # positionals + redirection targets + --opt=value values
    subject: tuple[str, ...]  # positionals but the values of the program's global options

    @classmethod
    def of(cls, command: Command) -> _Shape:
        flags: set[str] = set()
        options: list[tuple[str, str | None]] = []
        positionals: list[str] = []
        extra: list[str] = []
        args = command.args
        ended = False
        values = _global_values(command.name, args)
        subject: list[str] = []
        for index, arg in enumerate(args):
            following = args[index + 1] if index + 1 < len(args) else None
            if ended or arg == "-" or not arg.startswith("-") or _is_number(arg):
                positionals.append(arg)
                if index not in values:
                    subject.append(arg)
            elif arg == "--":
                ended = True
            elif arg.startswith("--"):
                name, equals, value = arg.partition("=")
                flags.add(name)
                options.append((name, value if equals else following))
                if equals:
                    extra.append(value)
            else:
                flags.add(arg)
                flags.update(f"-{letter}" for letter in arg[1:] if letter.isalnum())
                options.append((arg[:2], arg[2:] or following))
        operands = [*positionals, *extra, *command.redirects]
        operands += [_normal(value) for value in operands if value.startswith("/")]
        return cls(frozenset(flags), tuple(options), tuple(operands), tuple(subject))


def _global_values(name: str, args: tuple[str, ...]) -> set[int]:
    """Where the values of `name`'s global options are, before its first operand."""
    takes_value = _GLOBAL_VALUES.get(name)
    found: set[int] = set()
    index = 0
    while takes_value and index < len(args):
        arg = args[index]
        if arg in takes_value:
            found.add(index + 1)
            index += 2
        elif arg.startswith("-") and arg != "-" and arg != "--":
            index += 1
        else:
            break
    return found


@contextmanager
def programs_resolved_once() -> Iterator[None]:
    """Within the block, whether a rule's program glob matches a program (at a path) is
    worked out once: a script runs `make` a thousand times, and each time would cost a
    `realpath` per rule. Only for one check: files on disk change between checks."""
    token = _PROGRAM_MATCHES.set({})
    try:
        yield
    finally:
        _PROGRAM_MATCHES.reset(token)


def _program_matches(glob: str, command: Command) -> bool:
    known = _PROGRAM_MATCHES.get()
    if known is None:
        return _program_matches_now(glob, command)
    key = (glob, command.program, command.path)
    found = known.get(key)
    if found is None:
        found = known[key] = _program_matches_now(glob, command)
    return found


def _program_matches_now(glob: str, command: Command) -> bool:
    if "/" in glob:
        candidates = {command.program, command.path or "", _real(command.path)}
    else:
        candidates = {command.name, os.path.basename(_real(command.path))}
    if any(glob_match(candidate, glob) for candidate in candidates if candidate):
        return True
    return _GLOB_CHARS.search(command.program) is not None and _glob_program_matches(
        glob, command.program
    )


def _glob_program_matches(glob: str, program: str) -> bool:
    """A program written as a pattern (`/bin/r? -rf /`) runs whatever bash expands it to:
    the rule applies if its program could be one of them. A literal rule program is
    tested against the pattern itself; an absolute pattern is also expanded on disk."""
    if _GLOB_CHARS.search(glob) is None:
        target = program if "/" in glob else os.path.basename(program)
        if glob_match(glob, target):
            return True
    if program.startswith("/"):
        expanded = sorted(globmodule.glob(program))[:1]  # bash runs the first match
        return any(
            glob_match(path if "/" in glob else os.path.basename(path), glob)
            or glob_match(os.path.basename(_real(path)), glob)
            for path in expanded
        )
    return False


def _real(path: str | None) -> str:
    if not path or not path.startswith("/"):
        return ""
    return os.path.realpath(path)


def _normal(path: str) -> str:
    normal = posixpath.normpath(_SLASHES.sub("/", path))
    return "/" if normal.startswith("//") else normal


def _is_number(arg: str) -> bool:
    return arg[1:].replace(".", "", 1).isdigit()


def glob_match(value: str, glob: str) -> bool:
    """Whether `value` matches the path-aware `glob` (the whole of it)."""
    return _compile(glob).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _compile(glob: str) -> re.Pattern[str]:
    out: list[str] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := glob.find("]", index + 2)) != -1:
            body = glob[index + 1 : end]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            index = end + 1
            continue
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL)
