"""The control socket: `hgate shell` asks, the parent decides and records, then answers.

One request per connection: netstring fields `hgate-shell/1`, shell, cwd, PATH, args...;
the answer is one line, `allow` or `block<TAB>message`, or `allow<TAB>` followed by
netstring fields: the arguments the shell runs with instead of its own (a checked
script's text as its `-c` string, so the file, which may have changed since the check,
is not read again). The caller is identified by SO_PEERCRED (the kernel's word, not the
caller's). Anything malformed, and any failure to decide or record, is answered
`block`: the shim then refuses (fail closed).

The server runs in a daemon thread rather than in the PTY loop: a shim is waiting with
a tool call in flight, and the PTY loop can sit in a blocking write to a slow CI log;
the transcript writer is thread-safe, so the thread records directly. Each connection
is answered in its own thread: a command held for approval keeps only its own shim
waiting (with `wait<TAB>notice` lines before the verdict), never the other shims.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from hgate.guard import Verdict

Notice = Callable[[str], None]
# Set while a shim waits for its verdict: a held approval tells the shim's stderr why.
NOTICE: ContextVar[Notice | None] = ContextVar("hgate_approval_notice", default=None)

MAX_REQUEST = 2 << 20
REQUEST_TIMEOUT = 5.0
PROTOCOL = b"hgate-shell/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellRequest:
    """One shim's question: which shell, its arguments, where, with which PATH, from whom."""

    shell: str
    args: tuple[str, ...]
    cwd: str
    path: str
    pid: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellAnswer:
    """The verdict, and the arguments an allowed shell runs with instead of the request's
    (None: its own)."""

    verdict: Verdict
    args: tuple[str, ...] | None = None


Handler = Callable[[ShellRequest], ShellAnswer]


class ControlServer:
    """Answers shims on a Unix socket, one request per connection, from a daemon thread."""

    def __init__(self, path: Path, handler: Handler, *, owner: int | None = None) -> None:
        """`owner`: the uid that may connect besides root (an `--agent-user`)."""
        self._path = path
        self._handler = handler
        self._owner = owner
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="hgate-control", daemon=True)
        self._workers: set[threading.Thread] = set()
        self._workers_lock = threading.Lock()
        self.error: BaseException | None = None

    def start(self) -> None:
        self._listener.bind(str(self._path))
        self._path.chmod(0o600)
        if self._owner is not None:
            os.chown(self._path, self._owner, -1)
        self._listener.listen(64)
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._wake_write, b"x")
            self._thread.join(timeout=5)
        with self._workers_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=5)
        self._listener.close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_read in ready:
                    return
                connection, _ = self._listener.accept()
                worker = threading.Thread(
                    target=self._work, args=(connection,), name="hgate-control-answer", daemon=True
                )
                with self._workers_lock:
                    self._workers.add(worker)
                worker.start()

    def _work(self, connection: socket.socket) -> None:
        try:
            with connection:
                self._answer(connection)
        finally:
            with self._workers_lock:
                self._workers.discard(threading.current_thread())

    def _answer(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(REQUEST_TIMEOUT)
            request = _parse(_receive(connection), _peer_pid(connection))
        except (OSError, ValueError) as exc:
            _reply(connection, f"block\tmalformed request to the hgate session ({exc})")
            return
        token = NOTICE.set(lambda text: _reply(connection, f"wait\t{text}"))
        try:
            answer = self._handler(request)
        except Exception as exc:
            self.error = exc
            _reply(connection, "block\tthe hgate session could not record this command")
            return
        finally:
            NOTICE.reset(token)
        if not answer.verdict.allowed:
            _reply(connection, f"block\t{answer.verdict.message()}")
        elif answer.args is None:
            _reply(connection, "allow")
        else:
            fields = [os.fsencode(arg) for arg in answer.args]
            with contextlib.suppress(OSError):
                connection.sendall(b"allow\t" + b"".join(b"%d:%s," % (len(f), f) for f in fields))


def _receive(connection: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_REQUEST:
            raise ValueError(f"request larger than {MAX_REQUEST} bytes")
        chunks.append(chunk)


def _parse(data: bytes, pid: int | None) -> ShellRequest:
    fields: list[bytes] = []
    view = memoryview(data)
    while view:
        length, colon, _ = bytes(view[:12]).partition(b":")
        if not colon or not length.isdigit():
            raise ValueError("bad field length")
        start = len(length) + 1
        end = start + int(length)
        if end >= len(view) or view[end] != ord(","):
            raise ValueError("truncated field")
        fields.append(bytes(view[start:end]))
        view = view[end + 1 :]
    if len(fields) < 4 or fields[0] != PROTOCOL:
        raise ValueError("not an hgate-shell/1 request")
    shell, cwd, path, *args = (os.fsdecode(field) for field in fields[1:])
    if shell not in ("sh", "bash"):
        raise ValueError(f"unknown shell {shell!r}")
    return ShellRequest(shell=shell, args=tuple(args), cwd=cwd, path=path, pid=pid)


def _peer_pid(connection: socket.socket) -> int | None:
    """The caller's pid as the kernel knows it (not as the caller claims)."""
    try:
        raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, _, _ = struct.unpack("3i", raw)
    return pid or None


def _reply(connection: socket.socket, text: str) -> None:
    # a command line's bytes that are not UTF-8 are surrogates here: shown escaped
    line = (text.replace("\n", " ") + "\n").encode("utf-8", "backslashreplace")
    with contextlib.suppress(OSError):
        connection.sendall(line)
