"""The signals that would end hgate, and how each one ends a session instead.

A catchable signal whose default action terminates the process would kill hgate between
two lines of Python: the issued credentials stay live until they expire and the
transcript is left without its seal. So none keeps its default while it matters.
While the agent runs, the PTY runner takes them: the FORWARDED ones go to the agent's
process group as they are (SIGTERM, SIGHUP and SIGQUIT with SIGKILL after `kill_grace`;
SIGINT escalates), and the STOP ones, which no one uses to talk to an agent through hgate, stop
it as the time limit does (SIGTERM, SIGKILL after `kill_grace`) and hgate exits 128+N.
Outside that loop, from the moment credentials exist, each of them raises `SignalStop`,
so the stack unwinds through the revocations instead of the process dying.

A STOP signal hgate was started with ignored stays ignored. Not here: SIGKILL and
SIGSTOP (cannot be caught), SIGPIPE and SIGXFSZ (Python ignores them: a failed write is
an error hgate handles), and the fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
SIGSYS, SIGTRAP), which a handler cannot recover from.
"""

from __future__ import annotations

import signal

from hgate.errors import EXIT_SIGNAL_BASE

FORWARDED_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
)
# Forwarded signals that ask the agent to end: one that ignores them is SIGKILLed after
# `kill_grace`, or it would outlive hgate's promise that the session ends.
KILLED_AFTER_GRACE: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name)
    for name in (
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGVTALRM",
        "SIGPROF",
        "SIGXCPU",  # a CPU-time limit: SIGKILL follows at the hard limit, revoke before it
        "SIGIO",
        "SIGPWR",
        "SIGSTKFLT",
    )
    if hasattr(signal, name)  # SIGPWR and SIGSTKFLT are Linux's
) + tuple(  # the real-time signals: terminating by default too; none is Python's own
    range(signal.SIGRTMIN, signal.SIGRTMAX + 1) if hasattr(signal, "SIGRTMIN") else ()
)


def stop_signals() -> tuple[int, ...]:
    """STOP_SIGNALS but those hgate was started with ignored (`trap '' USR1` in its parent):
    they would not have ended hgate, so they do not end the session either."""
    return tuple(sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN)


class SignalStop(KeyboardInterrupt):
    """A terminating signal hgate received outside the PTY loop, unwinding the stack as an
    interrupt does; the command ends with 128+N, as if the signal had killed it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal_name(signum)
        super().__init__(f"signal {self.name}")

    @property
    def exit_code(self) -> int:
        return EXIT_SIGNAL_BASE + self.signum


def signal_name(signum: int) -> str:
    """SIGUSR1; a real-time signal as the shell's `kill -l` says it (SIGRTMIN+3)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        low = getattr(signal, "SIGRTMIN", 0)
        if low < signum < getattr(signal, "SIGRTMAX", 0):
            return f"SIGRTMIN+{signum - low}"
        return f"signal {signum}"
