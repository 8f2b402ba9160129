"""The guard: a command line, an argv or a shell invocation in; a `Verdict` out.

Every command found is matched against every rule; the most severe match wins
(block > approve > allow), so an allow rule can never cancel a block rule (write an
`unless:` on the block rule instead). A command no rule matches gets the policy's
`default`; a line that cannot be parsed gets `unparsable`. A line's verdict is the most
severe of its commands'.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from hgate.guard.command import Command
from hgate.guard.rules import SEVERITY, Action, Rule, programs_resolved_once
from hgate.guard.shell_args import SHELLS, ShellInvocation, parse_shell_args
from hgate.guard.shell_line import (
    MAX_DEPTH,
    UnparsableLine,
    expand_argv,
    parse_line,
    parsers_used,
)
from hgate.guard.verdict import DEFAULT_RULE, UNPARSABLE_RULE, Verdict

MAX_SCRIPT_BYTES = 1 << 20
SOURCES = frozenset({"source", "."})  # read a file into the running shell


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldCommand:
    """A command of a typed line that an `approve` rule holds, as the recorder will see it:
    `execs` processes (each wrapper, then the program) whose argv, seen through the
    wrappers, is `argv`."""

    rule: str
    argv: tuple[str, ...]
    execs: int


ReadScript = Callable[[str], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellCheck:
    """A shell invocation's verdict, with what was checked (for the record)."""

    verdict: Verdict
    invocation: ShellInvocation
    text: str | None  # the command string or script checked; None for stdin/interactive


class CommandGuard:
    """Pure matching; knows nothing of sessions, sockets or transcripts."""

    def __init__(
        self, rules: Iterable[Rule], *, default: Action = "allow", unparsable: Action = "block"
    ) -> None:
        self.rules = tuple(rules)
        self.default: Action = default
        self.unparsable: Action = unparsable

    def check_line(
        self, text: str, *, path: str | None = None, read_script: ReadScript | None = None
    ) -> Verdict:
        """With `read_script`, `bash script.sh` inside the line is checked by its contents
        too (a login shell may reset PATH, so the inner bash might not be the shim). The
        file of `source FILE` / `. FILE` is always checked by its contents (read with
        `read_script`, else from this process's directory): the shell reads it itself, so
        no shim sees it; one that cannot be read makes the line unparsable."""
        with parsers_used() as used:
            try:
                commands = _with_scripts(parse_line(text), read_script, depth=0)
            except UnparsableLine as exc:
                return Verdict(action=self.unparsable, rule=UNPARSABLE_RULE, reason=exc.reason)
        parser = "fallback" if "fallback" in used else "bashlex" if used else ""
        return replace(self.check_commands(commands, path=path), parser=parser)

    def check_argv(
        self,
        argv: tuple[str, ...],
        *,
        exe: str | None = None,
        path: str | None = None,
        nested: bool = True,
    ) -> Verdict:
        """An argv as exec'd: wrappers seen through, and with `nested`, `sh -c` strings,
        `eval` and `find -exec` expanded (the recorder leaves those to their own execs)."""
        if not argv:
            return Verdict(action=self.default, rule=DEFAULT_RULE)
        try:
            commands = tuple(expand_argv(argv, nested=nested))
        except UnparsableLine as exc:
            return Verdict(action=self.unparsable, rule=UNPARSABLE_RULE, reason=exc.reason)
        if exe is not None and commands:
            commands = (_with_path(commands[0], exe), *commands[1:])
        return self.check_commands(commands, path=path)

    def check_shell(
        self,
        shell: str,
        args: tuple[str, ...],
        *,
        path: str | None = None,
        read_script: ReadScript | None = None,
    ) -> ShellCheck:
        """`bash ARGS` as the shim sees it: the -c string, or the script's contents."""
        invocation = parse_shell_args(args)
        if invocation.mode == "command" and invocation.command is not None:
            return ShellCheck(
                verdict=self.check_line(invocation.command, path=path, read_script=read_script),
                invocation=invocation,
                text=invocation.command,
            )
        if invocation.mode == "script" and invocation.script is not None:
            try:
                text = (read_script or _read_script)(invocation.script)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                reason = f"script {invocation.script!r} cannot be read to be checked: {exc}"
                verdict = Verdict(action=self.unparsable, rule=UNPARSABLE_RULE, reason=reason)
                return ShellCheck(verdict=verdict, invocation=invocation, text=None)
            verdict = self.check_line(text, path=path, read_script=read_script)
            return ShellCheck(verdict=verdict, invocation=invocation, text=text)
        verdict = self.check_commands((Command(argv=(shell, *args)),), path=path)
        return ShellCheck(verdict=verdict, invocation=invocation, text=None)

    def check_commands(self, commands: Iterable[Command], *, path: str | None = None) -> Verdict:
        """A script repeats itself (a thousand `echo`s and `make`s): each distinct program
        is looked up on PATH once, and each distinct command matched against the rules once,
        for this check only (what is on disk may change before the next)."""
        worst: Verdict | None = None
        count = 0
        found: dict[str, str | None] = {}  # program -> its path on PATH
        verdicts: dict[Command, Verdict] = {}
        with programs_resolved_once():
            for command in commands:
                count += 1
                resolved = _resolved(command, path, found)
                verdict = verdicts.get(resolved)
                if verdict is None:
                    verdict = verdicts[resolved] = self._check_one(resolved)
                if worst is None or SEVERITY[verdict.action] > SEVERITY[worst.action]:
                    worst = verdict
        if worst is None:
            return Verdict(action="allow", rule=DEFAULT_RULE, reason="no command", checked=0)
        return Verdict(
            action=worst.action,
            rule=worst.rule,
            reason=worst.reason,
            command=worst.command,
            checked=count,
        )

    def held_commands(self, text: str) -> list[HeldCommand]:
        """Each command in `text` that an `approve` rule holds (none when the line does not
        parse): what a person approves when they approve the line, as the execs it makes."""
        try:
            commands = parse_line(text)
        except UnparsableLine:
            return []
        held: list[HeldCommand] = []
        for command in commands:
            verdict = self._check_one(command)
            if verdict.action == "approve":
                held.append(
                    HeldCommand(
                        rule=verdict.rule, argv=command.argv, execs=1 + len(command.wrappers)
                    )
                )
        return held

    def _check_one(self, command: Command) -> Verdict:
        best: Rule | None = None
        for rule in self.rules:
            if (best is None or SEVERITY[rule.action] > SEVERITY[best.action]) and (
                rule.matcher.matches(command, abbreviations=rule.action != "allow")
            ):
                best = rule
        if command.unchecked is not None and (
            best is None or SEVERITY[self.unparsable] > SEVERITY[best.action]
        ):  # what it runs is out of sight: as a line that cannot be read (unless worse)
            return Verdict(
                action=self.unparsable,
                rule=UNPARSABLE_RULE,
                reason=command.unchecked,
                command=command.text(),
            )
        if best is None:
            return Verdict(action=self.default, rule=DEFAULT_RULE, command=command.text())
        return Verdict(
            action=best.action, rule=best.name, reason=best.reason, command=command.text()
        )


def _with_scripts(
    commands: tuple[Command, ...], read_script: ReadScript | None, *, depth: int
) -> tuple[Command, ...]:
    """`commands` plus those of every `source FILE` among them, and (with `read_script`)
    of every `bash FILE` whose FILE can be read."""
    found: list[Command] = []
    for command in commands:
        found.append(command)
        if command.name in SOURCES:
            args = command.args[1:] if command.args[:1] == ("--",) else command.args
            if args:  # read into the running shell: a file not checked is not run
                what = f"`{command.name} {args[0]}` reads"
                found.extend(_script(args[0], read_script or _read_script, depth, what))
            continue
        if command.name not in SHELLS or read_script is None:
            continue
        invocation = parse_shell_args(command.args)
        if invocation.mode == "script" and invocation.script is not None:
            # not readable now: the inner shell's own shim request will say so
            found.extend(_script(invocation.script, read_script, depth, None))
    return tuple(found)


def _script(
    name: str, read_script: ReadScript, depth: int, required: str | None
) -> tuple[Command, ...]:
    """The commands of the script file `name`; one that cannot be read gives none, or,
    when `required` says what reads it, makes the line unparsable."""
    if depth >= MAX_DEPTH:
        raise UnparsableLine(f"scripts nested more than {MAX_DEPTH} levels deep")
    try:
        text = read_script(name)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if required is None:
            return ()
        raise UnparsableLine(f"{required} a file that cannot be checked: {exc}") from None
    return _with_scripts(parse_line(text), read_script, depth=depth + 1)


def _resolved(command: Command, path: str | None, known: dict[str, str | None]) -> Command:
    """`command` with its program's path: as written, or looked up on `path` (once per
    program: `known` holds the lookups made so far)."""
    if command.path is not None or command.dynamic or not command.program:
        return command
    if "/" in command.program:
        return _with_path(command, command.program)
    if path is None:
        return command
    if command.program not in known:
        known[command.program] = shutil.which(command.program, path=path)
    found = known[command.program]
    return _with_path(command, found) if found else command


def _with_path(command: Command, path: str) -> Command:
    return replace(command, path=path)


def _read_script(name: str) -> str:
    with open(name, "rb") as handle:
        data = handle.read(MAX_SCRIPT_BYTES + 1)
    if len(data) > MAX_SCRIPT_BYTES:
        raise ValueError(f"larger than {MAX_SCRIPT_BYTES} bytes")
    if not os.path.basename(name):
        raise ValueError("not a file")
    return data.decode("utf-8")
