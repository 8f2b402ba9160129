"""The agent under a pseudo-terminal, with one select loop that owns every byte it prints.

Why a PTY: agents and the tools they drive behave as they would for a person (colour,
progress bars, prompts, line buffering), and everything they write, stdout and stderr
alike, arrives on one file descriptor that hgate reads before anything reaches the log.
The loop is single-threaded: signals arrive through a wake-up pipe, so forwarding them,
the idle flush, the checkpoint timer and the time limit are all ordinary loop events.

SIGINT to hgate escalates, as someone pressing Ctrl-C again and again expects: the first
is forwarded to the agent's process group; a second one, or the first once `kill_grace`
has passed with the agent still running, takes the stop path the time limit takes
(SIGTERM, then SIGKILL after `kill_grace`); a third kills at once. An agent hgate had to
stop this way ends the session with 130, like a shell interrupted by Ctrl-C. A signal
that would otherwise have killed hgate (SIGUSR1, SIGALRM, … see `signals`) takes the same
stop path at once, and the session ends with 128+N for it, as if it had killed hgate.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

from ptyprocess import PtyProcess

from hgate.errors import (
    EXIT_INTERRUPTED,
    EXIT_SIGNAL_BASE,
    EXIT_TIME_LIMIT,
    CommandNotExecutable,
    CommandNotFound,
    UsageError,
)
from hgate.session.orphans import become_subreaper, children, end_left_behind, restore_subreaper
from hgate.session.signals import (
    FORWARDED_SIGNALS,
    KILLED_AFTER_GRACE,
    signal_name,
    stop_signals,
)

READ_SIZE = 65536
COALESCE_MAX = 256 * 1024  # join reads already waiting, up to this much, into one feed
DEFAULT_SIZE = (50, 200)  # rows, columns when hgate itself has no terminal (CI logs)
DRAIN_QUIET = 0.05  # after the agent exits, stop reading once output is quiet this long
EXIT_SETTLE = 0.5  # after the terminal closed, how long the agent may take to exit


ExitReason = Literal["exited", "signaled", "time_limit", "stopped", "interrupted", "terminated"]
_TtyAttrs = list[Any]  # termios.tcgetattr's list, kept opaque


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentExit:
    """How the agent ended, and the exit code hgate should end with."""

    exit_code: int
    reason: ExitReason
    signal: int | None = None  # the signal that killed the agent
    duration: float = 0.0
    stopped_by: int | None = None  # reason "terminated": the signal hgate received


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerSettings:
    max_duration: float
    kill_grace: float
    idle_flush: float
    tick_interval: float = 0.5


class PtyRunner:
    """Runs one agent; the session hooks in through three callbacks.

    `on_output(data)` gets raw PTY bytes; `on_idle(force)` is called after `idle_flush`
    seconds without output (force=True after ten times as long) so a prompt is shown;
    `on_tick()` runs about every `tick_interval` seconds (transcript checkpoints).
    `stdin_filter(keys)` returns what of the terminal's keys to forward to the agent;
    `send_input(data)`, from any thread, queues bytes the loop writes to the agent later.
    `on_notice(text)` is told, in one line, what hgate does to the agent on an interrupt.
    An exception from a callback stops the agent (TERM, then KILL) and propagates.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        settings: RunnerSettings,
        *,
        on_output: Callable[[bytes], None],
        on_idle: Callable[[bool], None],
        on_tick: Callable[[], None],
        cwd: str | None = None,
        stdin_fd: int = 0,
        stdin_filter: Callable[[bytes], bytes] | None = None,
        become: Callable[[int], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        """`become(terminal_fd)` runs in the agent's process before exec (another user)."""
        self._argv = list(argv)
        self._become = become
        self._env = dict(env)
        self._settings = settings
        self._on_output = on_output
        self._on_idle = on_idle
        self._on_tick = on_tick
        self._on_notice = on_notice
        self._cwd = cwd
        self._stdin_fd = stdin_fd
        self._stdin_filter = stdin_filter
        self._stdin_is_tty = _isatty(stdin_fd)
        self._pending_signals: list[int] = []
        self._stop_reason: ExitReason | None = None
        self._stopped_by: int | None = None  # the stop signal behind reason "terminated"
        self._stop_signals: tuple[int, ...] = ()  # taken by run(): those not ignored
        self._kill_at: float | None = None
        self._terminated = False  # SIGTERM sent to the agent's group (by hgate's own decision)
        self._interrupts = 0  # SIGINTs hgate received while the agent ran
        self._escalate_at: float | None = None  # a forwarded SIGINT's grace ends
        self._proc: PtyProcess | None = None
        self._input_lock = threading.Lock()
        self._input: list[bytes] = []  # queued by send_input, written by the loop alone
        self._input_wake: int | None = None  # the loop's wake-up pipe while it runs
        self._input_closed = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def request_stop(self) -> None:
        """Ask the agent to end (TERM now, KILL after the grace period)."""
        if self._stop_reason is None:
            self._stop_reason = "stopped"
            self._terminate()

    def send_input(self, data: bytes) -> None:
        """Thread-safe: queue `data` for the agent's terminal, after what is queued already.

        The loop writes it to the PTY (never another thread) and is woken to do so; bytes
        sent once the loop has ended are dropped."""
        if not data:
            return
        with self._input_lock:
            if self._input_closed:
                return
            self._input.append(bytes(data))
            if self._input_wake is not None:
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    os.write(self._input_wake, b"\0")  # a full pipe wakes the loop anyway

    def run(self) -> AgentExit:
        started = time.monotonic()
        wake_read, wake_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        # Handlers first: a signal that lands while the agent starts is forwarded, not lost.
        previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        self._stop_signals = stop_signals()
        previous_handlers = {
            sig: signal.signal(sig, self._remember)
            for sig in (*FORWARDED_SIGNALS, *self._stop_signals, signal.SIGWINCH)
        }
        # A file-size limit on hgate must fail the sink's write (SinkError), not kill hgate.
        previous_handlers[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        saved_tty: _TtyAttrs | None = None
        with self._input_lock:
            self._input_wake = wake_write
        # what the agent detaches from its group comes to hgate, to be ended with it
        previous_reaper = become_subreaper()
        children_before = children()
        try:
            self._proc = self._spawn()
            self._proc.delayafterclose = 0.0  # we close after the agent is gone; no nap needed
            saved_tty = self._enter_raw_mode()
            if self._pending_signals:
                self._handle_signals()
            self._loop(wake_read, started)
            return self._result(started)
        finally:
            with self._input_lock:
                self._input_wake, self._input_closed = None, True
                self._input.clear()
            self._restore_tty(saved_tty)
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            os.close(wake_read)
            os.close(wake_write)
            self._reap()
            self._end_left_behind(children_before)
            restore_subreaper(previous_reaper)

    # -- the loop -----------------------------------------------------------------

    def _loop(self, wake_read: int, started: float) -> None:
        assert self._proc is not None
        master = self._proc.fd
        deadline = started + self._settings.max_duration
        last_output = last_tick = time.monotonic()
        idle_state = 0  # 0: nothing flushed since output, 1: soft flush done, 2: forced
        agent_gone_at: float | None = None
        watch = [master, wake_read] + ([self._stdin_fd] if self._stdin_is_tty else [])
        while True:
            now = time.monotonic()
            timeout = min(
                self._settings.idle_flush, self._settings.tick_interval, max(0.0, deadline - now)
            )
            for due in (self._escalate_at, self._kill_at):
                if due is not None:
                    timeout = min(timeout, max(0.0, due - now))
            if agent_gone_at is not None:
                timeout = min(timeout, DRAIN_QUIET)
            try:
                readable, _, _ = select.select(watch, [], [], timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries select
                readable = []
            now = time.monotonic()
            if wake_read in readable:
                _drain(wake_read)
                self._handle_signals()
            if self._input:
                self._write_input(master)
            if master in readable:
                data, closed = _read_available(master)
                if data:
                    self._on_output(data)
                if closed:
                    break  # every slave end closed: the agent and its children are gone
                last_output, idle_state = now, 0
                agent_gone_at = None if agent_gone_at is None else now
            elif agent_gone_at is not None and now - agent_gone_at >= DRAIN_QUIET:
                break
            if self._stdin_fd in readable and not self._forward_stdin(master):
                watch.remove(self._stdin_fd)
            quiet = now - last_output
            if idle_state == 0 and quiet >= self._settings.idle_flush:
                self._on_idle(False)
                idle_state = 1
            elif idle_state == 1 and quiet >= self._settings.idle_flush * 10:
                self._on_idle(True)
                idle_state = 2
            if now - last_tick >= self._settings.tick_interval:
                self._on_tick()
                last_tick = now
            if now >= deadline and self._stop_reason is None:
                self._stop_reason = "time_limit"
                self._terminate()
            if self._escalate_at is not None and now >= self._escalate_at:
                if agent_gone_at is None:
                    self._escalate()  # the forwarded SIGINT did not end the agent
                self._escalate_at = None
            if self._kill_at is not None and now >= self._kill_at:
                self._kill()
            if agent_gone_at is None and not self._proc.isalive():
                agent_gone_at = now  # keep reading what is still buffered, briefly

    def _handle_signals(self) -> None:
        assert self._proc is not None
        pending, self._pending_signals = self._pending_signals, []
        for sig in pending:
            if sig == signal.SIGWINCH:
                self._proc.setwinsize(*_terminal_size(self._stdin_fd))
                continue
            if sig == signal.SIGINT:
                self._interrupt()
                continue
            if sig in self._stop_signals:
                self._stop_on(sig)
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)
            if sig in KILLED_AFTER_GRACE and self._kill_at is None:
                self._kill_at = time.monotonic() + self._settings.kill_grace

    def _interrupt(self) -> None:
        """SIGINT to hgate: forward the first, escalate on the next ones."""
        assert self._proc is not None
        self._interrupts += 1
        if self._interrupts > 1:
            self._escalate()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGINT)
        if not self._terminated:
            self._escalate_at = time.monotonic() + self._settings.kill_grace

    def _stop_on(self, sig: int) -> None:
        """A signal that would have killed hgate: stop the agent as the time limit does."""
        if self._stop_reason is None:
            self._stop_reason, self._stopped_by = "terminated", sig
        if not self._terminated:
            self._notice(
                f"{signal_name(sig)}: stopping the agent (SIGTERM, then SIGKILL in "
                f"{_seconds(self._settings.kill_grace)})"
            )
            self._terminate()

    def _escalate(self) -> None:
        """One step up the stop path: SIGTERM (SIGKILL after the grace), or SIGKILL now."""
        self._escalate_at = None
        assert self._proc is not None
        if not self._proc.isalive():
            return  # it ended on its own; what is left of its group is reaped on the way out
        if self._stop_reason is None:
            self._stop_reason = "interrupted"
        if not self._terminated:
            self._notice(
                f"interrupt: stopping the agent (SIGTERM, then SIGKILL in "
                f"{_seconds(self._settings.kill_grace)}); interrupt again to kill it now"
            )
            self._terminate()
        else:
            self._notice("interrupt: killing the agent (SIGKILL)")
            self._kill()

    def _notice(self, text: str) -> None:
        if self._on_notice is not None:
            self._on_notice(text)

    def _forward_stdin(self, master: int) -> bool:
        try:
            data = os.read(self._stdin_fd, READ_SIZE)
        except OSError:
            return False
        if not data:
            return False
        if self._stdin_filter is not None:  # the stdin guard: what may reach the agent
            data = self._stdin_filter(data)
        if data:
            write_all(master, data)
        return True

    def _write_input(self, master: int) -> None:
        with self._input_lock:
            queued, self._input = self._input, []
        with contextlib.suppress(OSError):  # the agent's terminal is gone: nobody reads it
            write_all(master, b"".join(queued))

    # -- process control ----------------------------------------------------------

    def _spawn(self) -> PtyProcess:
        prepare = _prepare_child if self._stdin_is_tty else _prepare_child_without_stdin
        become = self._become

        def preexec() -> None:
            prepare()
            if become is not None:
                become(1)  # stdout is the terminal in both modes

        check_command(self._argv[0], cwd=self._cwd)
        try:
            return PtyProcess.spawn(
                self._argv,
                cwd=self._cwd,
                env=self._env,
                dimensions=_terminal_size(self._stdin_fd),
                preexec_fn=preexec,
            )
        except FileNotFoundError:  # ptyprocess's own look-up, should ours have been wrong
            raise _not_found(self._argv[0]) from None
        except OSError as exc:
            # A failed exec comes back from the child as a plain OSError with its errno; an
            # exception in preexec (dropping to the agent user) as its own class, errno unset.
            if type(exc) is OSError and exc.errno in (errno.EACCES, errno.EPERM):
                raise _not_executable(self._argv[0]) from None
            if type(exc) is OSError and exc.errno:
                raise CommandNotExecutable(
                    f"agent command cannot be executed: {_shown(self._argv[0])}: "
                    f"{os.strerror(exc.errno)}",
                    remedy="check its #! line and that it is a program for this machine",
                ) from None
            raise UsageError(f"cannot start agent {_shown(self._argv[0])}: {exc}") from None

    def _terminate(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        self._terminated = True
        self._escalate_at = None
        kill_at = time.monotonic() + self._settings.kill_grace
        self._kill_at = kill_at if self._kill_at is None else min(self._kill_at, kill_at)

    def _kill(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._kill_at = None

    def _reap(self) -> None:
        """Never leave the agent behind: whatever path we leave by, it ends."""
        proc = self._proc
        if proc is None:
            return
        if proc.isalive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + self._settings.kill_grace
            while proc.isalive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.isalive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.close(force=True)

    def _end_left_behind(self, before: set[int]) -> None:
        """Processes the agent detached from its group (a daemon) end with the session."""
        try:
            ended = end_left_behind(before, self._settings.kill_grace)
        except Exception:  # ending the session must not fail on this
            return
        if ended:
            self._notice(
                f"ended {ended} process(es) the agent left running outside its process group"
            )

    def _result(self, started: float) -> AgentExit:
        assert self._proc is not None
        proc = self._proc
        # The terminal closes a moment before the process is gone: give an agent that is
        # exiting by itself that moment, or it is reported as killed by the SIGHUP below.
        settle = time.monotonic() + min(EXIT_SETTLE, self._settings.kill_grace)
        while proc.isalive() and time.monotonic() < settle:
            time.sleep(0.005)
        if proc.isalive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + self._settings.kill_grace
            while proc.isalive() and time.monotonic() < deadline:
                time.sleep(0.01)
            if proc.isalive():
                self._kill()
            proc.wait()
        duration = time.monotonic() - started
        if proc.signalstatus is not None:
            sig = int(proc.signalstatus)
            return AgentExit(
                exit_code=self._exit_code(EXIT_SIGNAL_BASE + sig),
                reason=self._stop_reason or "signaled",
                signal=sig,
                duration=duration,
                stopped_by=self._stopped_by,
            )
        return AgentExit(
            exit_code=self._exit_code(int(proc.exitstatus or 0)),
            reason=self._stop_reason or "exited",
            duration=duration,
            stopped_by=self._stopped_by,
        )

    def _exit_code(self, agent_code: int) -> int:
        """How the agent ended does not matter once hgate decided to stop it."""
        if self._stopped_by is not None:
            return EXIT_SIGNAL_BASE + self._stopped_by
        return _STOP_CODES.get(self._stop_reason or "", agent_code)

    # -- terminal handling --------------------------------------------------------

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        self._pending_signals.append(signum)

    def _enter_raw_mode(self) -> _TtyAttrs | None:
        """With a person at the keyboard, keys go to the agent's terminal untouched.

        TCSANOW, not setraw's default TCSAFLUSH: keys typed while hgate starts are meant
        for the agent and go to it (through the stdin guard), not into the void."""
        if not self._stdin_is_tty:
            return None
        saved = termios.tcgetattr(self._stdin_fd)
        tty.setraw(self._stdin_fd, termios.TCSANOW)
        return saved

    def _restore_tty(self, saved: _TtyAttrs | None) -> None:
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._stdin_fd, termios.TCSAFLUSH, saved)


def check_command(command: str, *, cwd: str | None = None, path: str | None = None) -> None:
    """Raise CommandNotFound (127) or CommandNotExecutable (126) as a POSIX shell would.

    A name with a `/` is taken as it is (relative to `cwd`); a bare name is looked up on
    `path` (default: hgate's PATH, where ptyprocess looks too). A file found but not
    executable is not "not found": like execvp, the search goes on for an executable
    one and reports the permission problem only if there is none."""
    if not command:
        raise _not_found(command)
    if "/" in command:
        target = os.path.join(cwd, command) if cwd else command
        if not os.path.exists(target):
            raise _not_found(command)
        if os.path.isdir(target):
            raise CommandNotExecutable(
                f"agent command is a directory: {_shown(command)}",
                remedy="name the program to run after `--`",
            )
        if not os.access(target, os.X_OK):
            raise _not_executable(command)
        return
    search = os.environ.get("PATH", os.defpath) if path is None else path
    found_unexecutable = False
    for directory in search.split(os.pathsep):
        candidate = os.path.join(directory or ".", command)
        if not os.path.isfile(candidate):
            continue
        if os.access(candidate, os.X_OK):
            return
        found_unexecutable = True
    raise _not_executable(command) if found_unexecutable else _not_found(command)


def _not_found(command: str) -> CommandNotFound:
    return CommandNotFound(
        f"agent command not found: {_shown(command)}",
        remedy="check the command after `--` and the PATH",
    )


def _not_executable(command: str) -> CommandNotExecutable:
    return CommandNotExecutable(
        f"agent command is not executable: {_shown(command)}",
        remedy="chmod +x it, or name its interpreter: hgate run -- sh FILE",
    )


def _shown(command: str) -> str:
    """The command as typed, quoted only when it holds spaces or control characters."""
    if command and command.isprintable() and not any(c.isspace() for c in command):
        return command
    return repr(command)


# How the agent ended does not matter once hgate decided to stop it for these reasons.
_STOP_CODES: dict[str, int] = {"time_limit": EXIT_TIME_LIMIT, "interrupted": EXIT_INTERRUPTED}


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _prepare_child() -> None:
    """Runs in the child: undo the signal dispositions Python and hgate set for themselves.

    Ignored signals survive exec; an agent must see SIGPIPE (`yes | head`) and SIGXFSZ
    as any program would.
    """
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)


def _prepare_child_without_stdin() -> None:
    """Runs in the child: with no terminal to forward, the agent's stdin is at EOF."""
    _prepare_child()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _terminal_size(fd: int) -> tuple[int, int]:
    for candidate in (fd, 1, 2):
        with contextlib.suppress(OSError):
            packed = fcntl.ioctl(candidate, termios.TIOCGWINSZ, b"\0" * 8)
            rows, cols = struct.unpack("HHHH", packed)[:2]
            if rows and cols:
                return rows, cols
    rows = int(os.environ.get("LINES", DEFAULT_SIZE[0]) or DEFAULT_SIZE[0])
    cols = int(os.environ.get("COLUMNS", DEFAULT_SIZE[1]) or DEFAULT_SIZE[1])
    return rows, cols


def _read(fd: int) -> bytes | None:
    try:
        data = os.read(fd, READ_SIZE)
    except OSError as exc:
        if exc.errno == errno.EIO:  # Linux: slave side closed
            return None
        raise
    return data or None


def _read_available(fd: int) -> tuple[bytes, bool]:
    """One read, then whatever else is already waiting (no wait, at most COALESCE_MAX).

    A PTY hands out at most a few KiB per read; masking a burst as one block costs far
    less than masking it read by read, and output that is not yet there is not waited
    for, so an interactive agent is not delayed. Returns (data, slave side closed).
    """
    data = _read(fd)
    if data is None:
        return b"", True
    if len(data) >= COALESCE_MAX:
        return data, False
    chunks = [data]
    size = len(data)
    while size < COALESCE_MAX and select.select([fd], [], [], 0)[0]:
        more = _read(fd)
        if more is None:
            return b"".join(chunks), True
        chunks.append(more)
        size += len(more)
    return b"".join(chunks) if len(chunks) > 1 else data, False


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 1024):
            pass


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out (pipes and PTYs take partial writes)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
