"""What a `bash`/`sh` command line asks for: a command string, a script file, or stdin.

Both the shim (`hgate shell`) and the process recorder need this, to find the line to
check in `bash -lc '…'`, `sh -ec '…'`, `bash -o pipefail -c '…'` or `bash script.sh`.
The option grammar is bash's: short options cluster (`-xec`), `-o`/`-O`/`+o` take a
value, `--rcfile`/`--init-file` take a value, `--` or the first operand ends options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash"})
_LONG_WITH_VALUE = frozenset({"--rcfile", "--init-file"})

ShellMode = Literal["command", "script", "stdin", "interactive"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellInvocation:
    """`mode` says where the commands come from; `command`/`script` hold the one to check."""

    mode: ShellMode
    command: str | None = None  # the -c string
    script: str | None = None  # the script operand, as written
    operands: tuple[str, ...] = ()  # $0 $1 … after the command string or script
    options: tuple[str, ...] = ()  # the shell's own options before those, without `--`

    def as_command(self, text: str) -> tuple[str, ...]:
        """A script invocation's arguments with `text` as its `-c` string in place of the
        file (`$0` still the script's name): the shell runs `text` and never opens the file."""
        return (*self.options, "-c", "--", text, self.script or "", *self.operands)


def parse_shell_args(args: tuple[str, ...] | list[str]) -> ShellInvocation:
    """Interpret the arguments after the shell's name (never raises: odd input is stdin)."""
    command_mode = stdin_mode = interactive = False
    index = 0
    end = None  # where options end, when `--` or `-` says so
    while index < len(args):
        arg = args[index]
        if arg in ("--", "-"):
            end = index
            index += 1
            break
        if arg.startswith("--"):
            index += 2 if arg in _LONG_WITH_VALUE else 1
            continue
        if len(arg) < 2 or arg[0] not in "-+":
            break
        index += 1
        for letter in arg[1:]:
            if letter == "c":
                command_mode = True
            elif letter == "s":
                stdin_mode = True
            elif letter == "i":
                interactive = True
            elif letter in "oO":
                index += 1  # `-o pipefail`: the value is the next argument
    operands = tuple(args[index:])
    options = tuple(args[: index if end is None else end])
    if command_mode:
        if not operands:
            return ShellInvocation(mode="stdin")  # bash: "-c: option requires an argument"
        return ShellInvocation(
            mode="command", command=operands[0], operands=operands[1:], options=options
        )
    if operands and not stdin_mode:
        return ShellInvocation(
            mode="script", script=operands[0], operands=operands[1:], options=options
        )
    return ShellInvocation(
        mode="interactive" if interactive else "stdin", operands=operands, options=options
    )
