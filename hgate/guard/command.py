"""One simple command as it will run: the program after wrappers, its arguments, its context.

Rules match on this, not on raw text, so `sudo -u x env A=1 timeout 5 rm -rf /` is seen
as `rm -rf /` (with `sudo`, `env`, `timeout` noted as wrappers). Wrapper options that
take a value are skipped with their value; an unknown option ends nothing (it is kept
as the wrapper's own flag), so a wrapper cannot hide the program behind one.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^]]*\])?\+?=")  # also A[0]=1 and A+=x

MIN_ABBREVIATION = 1  # getopt_long takes any unambiguous prefix of a long option: `--u`


@dataclass(frozen=True, slots=True)
class _Options:
    """A wrapper's options that take a value (the rest are flags, however many there are).

    `short`: letters whose value is the rest of the cluster or the next argument;
    `optional`: letters whose value, if any, is the rest of the cluster (never the next);
    `long`: long options (without `--`) whose value is after `=` or the next argument;
    `long_optional`: long options whose value comes only after `=`;
    `leading`: operands consumed before the program (`timeout DURATION cmd`)."""

    short: str = ""
    optional: str = ""
    long: frozenset[str] = frozenset()
    long_optional: frozenset[str] = frozenset()
    leading: int = 0


def _long(*names: str) -> frozenset[str]:
    return frozenset(names)


_WRAPPERS: dict[str, _Options] = {
    "sudo": _Options(
        short="ugCDprtUTR",
        optional="h",  # `-h` alone is --help; `-hHOST` or --host=HOST names a host
        long=_long(
            "user",
            "group",
            "close-from",
            "chdir",
            "host",
            "prompt",
            "role",
            "type",
            "other-user",
            "command-timeout",
            "chroot",
        ),
    ),
    "doas": _Options(short="uC"),
    "env": _Options(
        short="uCS",
        long=_long("unset", "chdir", "split-string"),
        long_optional=_long("block-signal", "default-signal", "ignore-signal"),
    ),
    "xargs": _Options(
        short="adEILnPs",
        optional="eil",
        long=_long(
            "arg-file",
            "delimiter",
            "max-lines",
            "max-args",
            "max-procs",
            "max-chars",
            "process-slot-var",
        ),
        long_optional=_long("eof", "replace"),
    ),
    "timeout": _Options(short="sk", long=_long("signal", "kill-after"), leading=1),
    "nice": _Options(short="n", long=_long("adjustment")),
    "ionice": _Options(short="cnpPu", long=_long("class", "classdata", "pid", "pgid", "uid")),
    "nohup": _Options(),
    "command": _Options(),
    "builtin": _Options(),
    "exec": _Options(short="a"),
    "setsid": _Options(),
    "stdbuf": _Options(short="ioe", long=_long("input", "output", "error")),
    "time": _Options(short="fo", long=_long("format", "output")),
    "chronic": _Options(),
}
WRAPPERS = frozenset(_WRAPPERS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A simple command: `argv[0]` is the program as written (after wrappers)."""

    argv: tuple[str, ...]
    wrappers: tuple[str, ...] = ()
    redirects: tuple[str, ...] = ()  # redirection targets (files read or written)
    piped_to: tuple[str, ...] = ()  # basenames of the programs later in the same pipeline
    path: str | None = None  # the program resolved on PATH (or as given, if absolute)
    dynamic: bool = False  # the program word is computed ($X, $(…)): it cannot be known
    unchecked: str | None = None  # why what it runs cannot be checked (`… | bash`)

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""

    @property
    def name(self) -> str:
        return os.path.basename(self.program)

    @property
    def args(self) -> tuple[str, ...]:
        return self.argv[1:]

    def text(self) -> str:
        """A readable one-line form, for records and messages (not for re-execution)."""
        prefix = " ".join(f"{w} …" for w in self.wrappers)
        body = " ".join(self.argv)
        return f"{prefix} {body}".strip() if prefix else body


def injected_environment(word: str) -> str | None:
    """The name, when `word` is an assignment of a variable that makes a shell run code
    the guard never sees: `BASH_ENV` (a file every non-interactive bash reads at start)
    or an exported function (`BASH_FUNC_name%%`). POSIX `ENV` is left alone: only an
    interactive shell reads it, and `ENV=prod make` is everyday CI."""
    name, equals, _ = word.partition("=")
    name = name.rstrip("+").partition("[")[0]
    if equals and (name == "BASH_ENV" or name.startswith("BASH_FUNC_")):
        return name
    return None


def unwrap(argv: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the wrapped command's argv, the wrappers seen through), outermost wrapper first."""
    wrappers: list[str] = []
    rest = _skip_assignments(argv)
    while rest and os.path.basename(rest[0]) in _WRAPPERS:
        name = os.path.basename(rest[0])
        inner = _after_wrapper(name, rest[1:])
        if inner is None:  # `sudo -s`, `command -v x`, `env` alone: nothing to see through
            break
        wrappers.append(name)
        rest = _skip_assignments(inner)
    return rest, tuple(wrappers)


def _skip_assignments(argv: tuple[str, ...]) -> tuple[str, ...]:
    index = 0
    while index < len(argv) and _ASSIGNMENT.match(argv[index]):
        index += 1
    return argv[index:]


def _after_wrapper(name: str, args: tuple[str, ...]) -> tuple[str, ...] | None:
    spec = _WRAPPERS[name]
    index = 0
    seen: list[str] = []  # the wrapper's own options, as written
    splits = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        index += 1
        seen.append(arg)
        if name == "nice" and arg[1:].isdigit():  # legacy `nice -10 cmd`
            continue
        value: str | None = None
        split = False
        if arg.startswith("--"):
            option, equals, attached = arg[2:].partition("=")
            full = _long_option(spec, option)
            if full is None:
                continue
            if equals:
                value = attached
            elif index < len(args):
                value, index = args[index], index + 1
            split = name == "env" and full == "split-string"
        else:
            for position in range(1, len(arg)):
                letter = arg[position]
                if letter in spec.optional:
                    break  # the rest of the cluster is its value
                if letter in spec.short:
                    value = arg[position + 1 :]
                    if not value and index < len(args):
                        value, index = args[index], index + 1
                    split = name == "env" and letter == "S"
                    break
        if split and value is not None and splits < 8:
            # `env -S 'cmd args'`: the string's words are read as env's own arguments
            splits += 1
            args, index = (*_split_string(value), *args[index:]), 0
    rest = args[index:]
    if name in ("env", "sudo"):  # any NAME=VALUE, `BASH_FUNC_f%%=…` included
        while rest and "=" in rest[0]:
            rest = rest[1:]
    rest = rest[spec.leading :]
    if name == "command" and any(a in ("-v", "-V") for a in seen):
        return None
    return rest or None


def _long_option(spec: _Options, option: str) -> str | None:
    """The value-taking long option `--option` is, written whole or abbreviated (any
    prefix getopt_long could accept); None for a flag or an option whose value is
    optional. Where a prefix could be several, it is taken as one that takes a value."""
    if option in spec.long:
        return option
    if option in spec.long_optional or len(option) < MIN_ABBREVIATION:
        return None
    return next((full for full in sorted(spec.long) if full.startswith(option)), None)


def _split_string(value: str) -> list[str]:
    """`env -S`'s words: quotes and backslashes are env's own, close to the shell's."""
    try:
        return shlex.split(value.replace("\\_", " "), posix=True)
    except ValueError:
        return value.split()
