"""Processes the agent left behind: found and ended with the session.

Stopping the agent's process group ends what it started in that group, but a process
that detached itself (a double fork with `setsid`, a daemon) outlives it: with the
session over and its credentials revoked it could still write the CI files that later
steps trust, or go on reading the workspace. While the agent runs, hgate is a child
subreaper (`PR_SET_CHILD_SUBREAPER`): every process orphaned below it becomes hgate's
child instead of init's, so at the end each child hgate did not have before the agent
started, and that runs in another session than hgate's own (the agent's terminal session
or one it made; hgate's own helpers run in hgate's), is the agent's: SIGTERM, SIGKILL
after the grace, reaped. Linux only; elsewhere nothing is found and nothing is ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
MAX_ROUNDS = 8  # ending a process orphans its own children: they come to hgate next


def _prctl(option: int, value: int | ctypes.c_int) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    arg = ctypes.byref(value) if isinstance(value, ctypes.c_int) else ctypes.c_ulong(value)
    return int(libc.prctl(option, arg, 0, 0, 0))


def become_subreaper() -> bool | None:
    """Make this process a child subreaper; the previous setting (None if not possible)."""
    try:
        previous = ctypes.c_int(0)
        if _prctl(PR_GET_CHILD_SUBREAPER, previous) != 0:
            return None
        if _prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
            return None
    except (OSError, AttributeError, TypeError):
        return None
    return bool(previous.value)


def restore_subreaper(previous: bool | None) -> None:
    if previous is None or previous:
        return
    with contextlib.suppress(OSError, AttributeError, TypeError):
        _prctl(PR_SET_CHILD_SUBREAPER, 0)


def children(pid: int | None = None) -> set[int]:
    """The children of `pid` (default: this process), over all its threads."""
    found: set[int] = set()
    tasks = Path(f"/proc/{pid or os.getpid()}/task")
    with contextlib.suppress(OSError):
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def left_behind(before: set[int]) -> set[int]:
    """Children of this process that were not there before the agent started and run in
    another session than this process: the agent's, reparented here."""
    own = os.getsid(0)
    return {pid for pid in children() - before if _session(pid) not in (None, own)}


def end_left_behind(before: set[int], grace: float) -> int:
    """End what the agent left behind (SIGTERM, SIGKILL after `grace`) and reap it, round
    by round until none is left; how many processes were ended."""
    ended: set[int] = set()
    for _ in range(MAX_ROUNDS):
        targets = left_behind(before)
        if not targets:
            break
        if not _reap(targets):  # only ended ones (zombies): reaped, nothing to end
            continue
        ended |= set(targets)
        _signal(targets, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _reap(targets):
            time.sleep(0.02)
        _signal(targets, signal.SIGKILL)
        while _reap(targets):
            time.sleep(0.01)
    return len(ended)


def _signal(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _reap(pids: set[int]) -> set[int]:
    """Reap those of `pids` that have ended; the ones still running (also removed from
    `pids` once reaped, so the caller's set shrinks)."""
    for pid in list(pids):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid  # not ours any more, or reaped elsewhere
        if done:
            pids.discard(pid)
    return pids
