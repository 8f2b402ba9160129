"""The session's command gate: every check (shim, stdin, process recorder) decided and recorded.

One place turns a guard verdict into evidence, so the three ways hgate sees commands
produce the same transcript events:

    command   {"id", "phase": "request", "source", "argv"|"text" (masked), "pid", ...}
    decision  {"command": id, "action", "rule", "reason", "matched" (masked), ...}
    command   {"id", "phase": "exit", "exit_code", "signal", "duration"}   (when knowable)
    process   {"phase": "exec"|"exit", "pid", "ppid", "program", "argv" (masked), ...}
    decision  {"process": pid, "action": "violation", "rule", "response"}  (bypassed the shim)

Calls arrive from the control-socket thread, the recorder thread and the PTY loop; the
writer is thread-safe, and a lock keeps each command/decision pair's ids consistent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hgate.audit import TranscriptWriter
from hgate.guard import (
    DEFAULT_RULE,
    SEVERITY,
    UNPARSABLE_RULE,
    ApprovalChannel,
    CommandGuard,
    Verdict,
    settle,
    unwrap,
)
from hgate.mask import Masker
from hgate.policy.commands import CommandPolicy
from hgate.session.control import ShellAnswer

MAX_RECORDED_TEXT = 4096
# A checked script runs as its shell's `-c` string, and Linux caps one argument at
# 128 KiB (MAX_ARG_STRLEN, with its terminating NUL).
MAX_PINNED_SCRIPT = 128 * 1024 - 1
# How long after a typed line is approved its held commands may start: the interactive
# shell that reads the line runs them itself, not through the shim, and the recorder
# must not take them for violations. Each approved command covers its own execs (one per
# wrapper, one for the program), matched by rule and argv seen through the wrappers.
APPROVED_LINE_WINDOW = 60.0


@dataclass(slots=True, kw_only=True)
class _LineGrant:
    """Execs of one approved typed command still to come (until `deadline`)."""

    rule: str
    argv: tuple[str, ...]
    uses: int
    deadline: float


class CommandGate:
    """Decides with the guard, settles approvals, records, and enforces `on_violation`."""

    def __init__(
        self,
        policy: CommandPolicy,
        *,
        masker: Masker,
        writer: TranscriptWriter,
        approvals: ApprovalChannel,
        shim_dir: str,
        stop: Callable[[str], None],
    ) -> None:
        self.policy = policy
        self.guard = CommandGuard(
            policy.rules, default=policy.default, unparsable=policy.unparsable
        )
        self._masker = masker
        self._writer = writer
        self._approvals = approvals
        self._shim_dir = shim_dir.rstrip("/") + "/"
        self._stop = stop
        self._lock = threading.Lock()
        self._next_id = 0
        self._by_pid: dict[int, int] = {}  # pid of an allowed shell -> its command id
        self._approved: set[int] = set()  # shells a person approved: not violations below
        self._approved_lines: list[_LineGrant] = []  # commands of approved typed lines

    def shell_request(
        self, *, shell: str, args: tuple[str, ...], cwd: str, path: str, pid: int | None
    ) -> ShellAnswer:
        """A request from `hgate shell`; an allowed shell's exit status is recorded later.

        An approved `bash FILE` runs the text the approver was shown, as its `-c` string:
        the shell never reads FILE, which the agent may have changed while it was held.
        Other scripts run from their file, so `BASH_SOURCE` (empty under `-c`) keeps
        working; one swapped between its check and its start is a documented limit."""

        def read_script(name: str) -> str:
            from hgate.guard.checker import MAX_SCRIPT_BYTES

            target = os.path.join(cwd, name) if cwd else name
            with open(target, "rb") as handle:
                data = handle.read(MAX_SCRIPT_BYTES + 1)
            if len(data) > MAX_SCRIPT_BYTES:
                raise ValueError(f"larger than {MAX_SCRIPT_BYTES} bytes")
            return data.decode("utf-8")

        check = self.guard.check_shell(shell, args, path=path, read_script=read_script)
        held = check.invocation.mode == "script" and check.verdict.action == "approve"
        unpinnable = _unpinnable(check.text) if held else None
        if unpinnable is not None:  # an approval of it could not hold: it would be read again
            reason = f"script {check.invocation.script!r} cannot be run as checked: {unpinnable}"
            verdict = Verdict(action=self.guard.unparsable, rule=UNPARSABLE_RULE, reason=reason)
            if SEVERITY[check.verdict.action] > SEVERITY[verdict.action]:
                verdict = check.verdict
            check = replace(check, verdict=verdict, text=None)
        event: dict[str, Any] = {
            "source": "shell",
            "shell": shell,
            "mode": check.invocation.mode,
            "argv": self._mask_all((shell, *args)),
            "cwd": self._mask(cwd),
            "pid": pid,
        }
        if check.invocation.mode == "script" and check.text is not None:
            event["script_sha256"] = hashlib.sha256(check.text.encode()).hexdigest()
        text = check.text if check.text is not None else " ".join((shell, *args))
        command_id, verdict = self._decide(event, check.verdict, text)
        if verdict.allowed and pid is not None:
            with self._lock:
                self._by_pid[pid] = command_id
                if verdict.approval == "approved":
                    self._approved.add(pid)
        if held and verdict.approval == "approved" and check.text is not None:
            return ShellAnswer(verdict=verdict, args=check.invocation.as_command(check.text))
        return ShellAnswer(verdict=verdict)

    def stdin_line(self, text: str) -> Verdict:
        """A line typed on the agent's stdin, before it is forwarded."""
        verdict = self.guard.check_line(text)
        event: dict[str, Any] = {"source": "stdin", "text": self._mask(text)}
        final = self._decide(event, verdict, text)[1]
        if final.allowed and final.approval == "approved":
            deadline = time.monotonic() + APPROVED_LINE_WINDOW
            grants = [
                _LineGrant(rule=held.rule, argv=held.argv, uses=held.execs, deadline=deadline)
                for held in self.guard.held_commands(text)
            ]
            with self._lock:
                self._approved_lines.extend(grants)
        return final

    def process_exec(
        self,
        *,
        pid: int,
        ppid: int | None,
        argv: tuple[str, ...] | None,
        exe: str | None,
        source: str,
    ) -> None:
        """The recorder saw an exec; a process matching a block rule is a violation."""
        via_shim = argv is not None and any(a.startswith(self._shim_dir) for a in argv[:3])
        event: dict[str, Any] = {
            "phase": "exec",
            "pid": pid,
            "ppid": ppid,
            "source": source,
            "program": self._mask(exe) if exe else None,
            "argv": self._mask_all(argv) if argv is not None else None,
        }
        if via_shim:
            event["via"] = "hgate-shell"
        if argv is None:
            event["note"] = "exited before its arguments could be read"
        self._writer.append("process", event)
        if argv is None or via_shim:
            return
        verdict = self.guard.check_argv(argv, exe=exe, nested=False)
        if verdict.allowed or verdict.rule in (DEFAULT_RULE, UNPARSABLE_RULE):
            return
        if verdict.action == "approve" and (
            self._under_approved(pid, ppid) or self._take_approved_line(verdict.rule, argv)
        ):
            return  # what an approved shell or typed line runs was approved with it
        response = self.policy.on_violation
        if response in ("kill", "stop"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._writer.append(
            "decision",
            {
                "process": pid,
                "action": "violation",
                "rule": verdict.rule,
                "reason": verdict.reason,
                "matched": self._mask(verdict.command),
                "response": response,
                "source": source,
            },
        )
        if response == "stop":
            self._stop(f"command rule {verdict.rule} violated by pid {pid}")

    def process_exit(
        self,
        *,
        pid: int,
        exit_code: int | None,
        signal_number: int | None,
        duration: float | None,
        source: str,
    ) -> None:
        self._writer.append(
            "process",
            {
                "phase": "exit",
                "pid": pid,
                "exit_code": exit_code,
                "signal": signal_number,
                "duration": duration,
                "source": source,
            },
        )
        with self._lock:
            command_id = self._by_pid.pop(pid, None)
            self._approved.discard(pid)
        if command_id is not None:
            self._writer.append(
                "command",
                {
                    "id": command_id,
                    "phase": "exit",
                    "exit_code": exit_code,
                    "signal": signal_number,
                    "duration": duration,
                },
            )

    def _decide(self, event: dict[str, Any], verdict: Verdict, text: str) -> tuple[int, Verdict]:
        with self._lock:
            self._next_id += 1
            command_id = self._next_id
        event = {"id": command_id, "phase": "request", **event}
        self._writer.append("command", event)
        final = settle(verdict, self._approvals, text=text)
        record: dict[str, Any] = {
            "command": command_id,
            "action": final.action,
            "rule": final.rule,
            "reason": self._mask(final.reason),
            "checked": final.checked,
        }
        if final.command and final.rule != DEFAULT_RULE:
            record["matched"] = self._mask(final.command)
        if final.approval is not None:
            record["approval"] = final.approval
        if final.parser:
            record["parser"] = final.parser
        self._writer.append("decision", record)
        masked = self._mask(final.reason)
        return command_id, Verdict(
            action=final.action,
            rule=final.rule,
            reason=masked,
            command=self._mask(final.command),
            checked=final.checked,
            approval=final.approval,
            parser=final.parser,
        )

    def _take_approved_line(self, rule: str, argv: tuple[str, ...]) -> bool:
        """Use up one exec of an approved typed command with this rule and argv, if any."""
        inner = unwrap(argv)[0] or argv
        now = time.monotonic()
        with self._lock:
            self._approved_lines = [g for g in self._approved_lines if g.deadline > now]
            for grant in self._approved_lines:
                if grant.rule == rule and grant.argv == inner:
                    grant.uses -= 1
                    if grant.uses == 0:
                        self._approved_lines.remove(grant)
                    return True
        return False

    def _under_approved(self, pid: int, ppid: int | None) -> bool:
        """Whether `pid` is an approved shell or runs below one (ancestors via /proc)."""
        with self._lock:
            approved = set(self._approved)
        current: int | None = pid
        parent = ppid
        for _ in range(32):
            if current is None or current <= 1:
                return False
            if current in approved:
                return True
            current, parent = parent if parent is not None else _parent(current), None
        return False

    def _mask(self, text: str) -> str:
        """Masked, then cut: cutting first would leave most of a secret that lies on the cut
        (no longer whole, so no longer masked) in the record. Only a window is masked (a
        `bash -c` string may be megabytes): one that keeps MAX_RECORDED_TEXT of masked
        text beyond the cut, so a value cut at the window's end is not in the record."""
        size = 3 * MAX_RECORDED_TEXT
        while True:
            masked = self._masker.mask(text[:size]).text
            if size >= len(text) or len(masked) >= 2 * MAX_RECORDED_TEXT:
                break
            size *= 2  # masking shrank the window: widen it
        if len(masked) > MAX_RECORDED_TEXT or size < len(text):
            masked = masked[:MAX_RECORDED_TEXT] + "…"
        return masked

    def _mask_all(self, argv: tuple[str, ...]) -> list[str]:
        return [self._mask(arg) for arg in argv]


def _unpinnable(text: str | None) -> str | None:
    """Why a checked script's text cannot be its shell's `-c` string, if it cannot."""
    if text is None:
        return None
    if "\0" in text:
        return "it holds a NUL byte"
    if len(text.encode()) > MAX_PINNED_SCRIPT:
        return f"larger than {MAX_PINNED_SCRIPT} bytes"
    return None


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        return None
