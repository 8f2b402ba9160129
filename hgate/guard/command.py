"""One simple command as it will run: the program after wrappers, its arguments, its context.

Rules match on this, not on raw text, so `sudo -u x env A=1 timeout 5 rm -rf /` is seen
as `rm -rf /` (with `sudo`, `env`, `timeout` noted as wrappers). Wrapper options that
take a value are skipped with their value; an unknown option ends nothing (it is kept
as the wrapper's own flag), so a wrapper cannot hide the program behind one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^]]*\])?\+?=")  # also A[0]=1 and A+=x

# wrapper -> (options that take a value, whether a leading non-option is consumed first)
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (
        frozenset(
            {
                "-u",
                "-g",
                "-C",
                "-D",
                "-h",
                "-p",
                "-r",
                "-t",
                "-U",
                "-T",
                "-R",
                "--user",
                "--group",
                "--close-from",
                "--chdir",
                "--host",
                "--prompt",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--chroot",
            }
        ),
        0,
    ),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (
        frozenset(
            {
                "-u",
                "--unset",
                "-C",
                "--chdir",
                "-S",
                "--split-string",
                "--block-signal",
                "--default-signal",
                "--ignore-signal",
            }
        ),
        0,
    ),
    "xargs": (
        frozenset(
            {
                "-a",
                "--arg-file",
                "-d",
                "--delimiter",
                "-E",
                "-I",
                "-L",
                "--max-lines",
                "-n",
                "--max-args",
                "-P",
                "--max-procs",
                "-s",
                "--max-chars",
                "--process-slot-var",
            }
        ),
        0,
    ),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata", "-p", "-P", "-u"}), 0),
    "nohup": (frozenset(), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "setsid": (frozenset(), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "chronic": (frozenset(), 0),
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
    takes_value, leading = _WRAPPERS[name]
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if name == "nice" and arg[1:].isdigit():  # legacy `nice -10 cmd`
            index += 1
            continue
        if name == "env" and arg in ("-S", "--split-string") and index + 1 < len(args):
            return (*args[index + 1].split(), *args[index + 2 :])
        if name == "env" and arg.startswith("--split-string="):
            return (*arg.partition("=")[2].split(), *args[index + 1 :])
        option = arg.partition("=")[0] if arg.startswith("--") else arg[:2]
        attached = "=" in arg if arg.startswith("--") else len(arg) > 2
        index += 1
        if option in takes_value and not attached:
            index += 1
    rest = args[index:]
    if name == "env":
        rest = _skip_assignments(rest)
    rest = rest[leading:]
    if name == "command" and any(a in ("-v", "-V") for a in args[:index]):
        return None
    return rest or None
