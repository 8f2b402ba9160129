"""The process recorder: every program the agent's tree executes, from the best source.

`proc_connector` (Linux process events over netlink; needs CAP_NET_ADMIN) sees every
fork, exec and exit in the kernel, so even a process that lives a microsecond is
recorded with its exit status — only its arguments may be missing, if it exits before
`/proc/PID/cmdline` is read. `poll` scans `/proc` every 50 ms: processes shorter than
that are missed, exit statuses are unknown (they are not hgate's children), and an
orphan reparented to init leaves the tree. The session writes which source it got into
a `recorder` event, so an auditor knows how complete the record is.

The tree is everything forked, at any depth, by this hgate process (the agent and its
descendants); hgate's own threads are not processes and are ignored.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
NLMSG_DONE = 3
EVENT_FORK, EVENT_EXEC, EVENT_EXIT = 0x1, 0x2, 0x80000000
_NLMSG = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT = struct.Struct("=IIQ")
_IDS4 = struct.Struct("=IIII")
POLL_INTERVAL = 0.05

OnExec = Callable[[int, int | None, tuple[str, ...] | None, str | None], None]
OnExit = Callable[[int, int | None, int | None, float | None], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderInfo:
    """For the transcript's `recorder` event."""

    source: str  # proc_connector, poll, or off
    complete: bool
    note: str


class ProcessRecorder:
    """Runs one source in a daemon thread and calls `on_exec`/`on_exit` from it."""

    def __init__(self, mode: str, *, on_exec: OnExec, on_exit: OnExit) -> None:
        self._on_exec = on_exec
        self._on_exit = on_exit
        self._root = os.getpid()
        self._stopping = threading.Event()
        self._netlink: socket.socket | None = None
        self._wake_read, self._wake_write = os.pipe()  # close() wakes the listener at once
        self.lost = 0
        failure = ""
        if mode in ("auto", "proc_connector"):
            try:
                self._netlink = _subscribe()
            except OSError as exc:
                failure = f"process events unavailable ({exc.strerror or exc}); "
                if mode == "proc_connector":
                    raise
        if self._netlink is not None:
            self.info = RecorderInfo(
                source="proc_connector",
                complete=True,
                note=(
                    "kernel process events: every exec and exit with status; arguments of a "
                    "process that exits before they are read are missing"
                ),
            )
            target = self._listen
        elif mode == "off":
            self.info = RecorderInfo(
                source="off", complete=False, note="process recording switched off by the policy"
            )
            target = None
        else:
            self.info = RecorderInfo(
                source="poll",
                complete=False,
                note=failure
                + (
                    f"/proc polled every {int(POLL_INTERVAL * 1000)} ms: shorter-lived processes "
                    "are missed and exit statuses are unknown"
                ),
            )
            target = self._poll
        self.error: BaseException | None = None
        self._thread = (
            threading.Thread(target=self._run, args=(target,), name="hgate-recorder", daemon=True)
            if target is not None
            else None
        )

    def _run(self, target: Callable[[], None]) -> None:
        """A failed record (the sink is gone) ends recording; the session sees the failed
        writer on its own next write and stops the agent."""
        try:
            target()
        except Exception as exc:
            self.error = exc

    def start(self) -> None:
        if self._thread is not None:
            self._thread.start()

    def close(self) -> None:
        """Stop after recording what is already queued (the agent's last exits)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._netlink is not None:
            self._netlink.close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- proc connector -------------------------------------------------------------

    def _listen(self) -> None:
        """Read kernel events until `close()`; then drain what is queued and stop at once."""
        assert self._netlink is not None
        sock = self._netlink
        sock.setblocking(False)
        tree: set[int] = {self._root}
        started: dict[int, float] = {}
        while True:
            readable, _, _ = select.select([sock.fileno(), self._wake_read], [], [])
            while True:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:
                        self.lost += 1  # the kernel dropped events: say so in the record
                        continue
                    return
                for what, payload in _events(data):
                    self._event(what, payload, tree, started)
            if self._wake_read in readable:
                return

    def _event(self, what: int, payload: bytes, tree: set[int], started: dict[int, float]) -> None:
        if what == EVENT_FORK:
            _, parent_tgid, child_pid, child_tgid = _IDS4.unpack_from(payload)
            if parent_tgid in tree and child_pid == child_tgid:
                tree.add(child_tgid)
        elif what == EVENT_EXEC:
            _, tgid = struct.unpack_from("=II", payload)
            if tgid in tree and tgid != self._root:
                started[tgid] = time.monotonic()
                self._on_exec(tgid, _ppid(tgid), _argv(tgid), _exe(tgid))
        elif what == EVENT_EXIT:
            pid, tgid, status, _ = _IDS4.unpack_from(payload)
            if pid != tgid or tgid not in tree or tgid == self._root:
                return
            tree.discard(tgid)
            began = started.pop(tgid, None)
            if began is not None:
                code, sig = _decode_status(status)
                self._on_exit(tgid, code, sig, round(time.monotonic() - began, 6))

    # -- /proc polling --------------------------------------------------------------

    def _poll(self) -> None:
        known: dict[int, tuple[str, str | None, float]] = {}  # pid -> (start, exe, seen)
        while not self._stopping.wait(POLL_INTERVAL):
            self._scan(known)
        self._scan(known)

    def _scan(self, known: dict[int, tuple[str, str | None, float]]) -> None:
        parents: dict[int, tuple[int, str]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (stat := _stat(int(name))) is not None:
                parents[int(name)] = stat
        tree = _descendants(self._root, parents)
        for pid in tree:
            start = parents[pid][1]
            exe = _exe(pid)
            previous = known.get(pid)
            if previous is None or previous[0] != start or previous[1] != exe:
                if previous is not None and previous[0] != start:
                    self._on_exit(pid, None, None, None)
                known[pid] = (start, exe, time.monotonic())
                self._on_exec(pid, parents[pid][0], _argv(pid), exe)
        for pid in [pid for pid in known if pid not in tree]:
            _, _, seen = known.pop(pid)
            self._on_exit(pid, None, None, round(time.monotonic() - seen, 3))


def _subscribe() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((0, CN_IDX_PROC))
        op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
        body = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
        sock.send(_NLMSG.pack(_NLMSG.size + len(body), NLMSG_DONE, 0, 0, os.getpid()) + body)
    except OSError:
        sock.close()
        raise
    return sock


def _events(data: bytes) -> list[tuple[int, bytes]]:
    events = []
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length = _NLMSG.unpack_from(data, offset)[0]
        if length < _NLMSG.size:
            break
        start = offset + _NLMSG.size + _CN_MSG.size
        if start + _EVENT.size <= offset + length:
            what = _EVENT.unpack_from(data, start)[0]
            events.append((what, data[start + _EVENT.size : offset + length]))
        offset += (length + 3) & ~3
    return events


def _decode_status(status: int) -> tuple[int | None, int | None]:
    if status & 0x7F:
        return None, status & 0x7F
    return (status >> 8) & 0xFF, None


def _argv(pid: int) -> tuple[str, ...] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    if not raw:
        return None
    return tuple(os.fsdecode(part) for part in raw.rstrip(b"\0").split(b"\0"))


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _ppid(pid: int) -> int | None:
    stat = _stat(pid)
    return stat[0] if stat is not None else None


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time in clock ticks) from /proc/PID/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
        fields = text[text.rindex(")") + 2 :].split()
        return int(fields[1]), fields[19]
    return None


def _descendants(root: int, parents: dict[int, tuple[int, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found
