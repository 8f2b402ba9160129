"""The default sink: one `<session_id>.jsonl` file per session in a local directory.

Each line goes to the OS with one `os.write` (no user-space buffer), so a SIGKILLed
hgate leaves every line written so far in the file; `sync` adds fsync for power loss.
The file is created with O_EXCL, so a session id can never append to an old transcript
(nor follow a symlink or open a FIFO planted at its name), and mode 0600 in a 0700
directory: it holds the identity, the policy and masked output, for the runner only.
At every sync (each checkpoint and the seal) the sink checks that the file still has
exactly the bytes it wrote and is still the file at its path: an agent running as the
same user can truncate, append to, move or replace it, and hgate must then fail (exit
73) instead of pointing the runner at a path that no longer holds its evidence.
"""

from __future__ import annotations

import os
from pathlib import Path

from hgate.audit.format import SESSION_ID_RE
from hgate.audit.interface import Sink
from hgate.errors import SinkError

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC


class DirectorySink(Sink):
    """Writes `<directory>/<session_id>.jsonl` (mode 0600), creating the directory if needed."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._path: Path | None = None
        self._fd: int | None = None
        self._closed = False
        self._size = 0  # bytes this sink wrote: the file must hold exactly these
        self._inode = (0, 0)  # (st_dev, st_ino) of the file it created

    @property
    def location(self) -> str:
        return str(self._path if self._path is not None else self._directory)

    @property
    def path(self) -> Path | None:
        """The transcript file, once opened."""
        return self._path

    def open(self, session_id: str) -> None:
        if self._fd is not None or self._closed:
            raise SinkError(f"transcript sink {self.location} was already opened")
        if not SESSION_ID_RE.match(session_id):
            raise SinkError(
                f"session id {session_id!r} cannot name a transcript file",
                remedy="use letters, digits, '.', '_' and '-' (at most 128, no leading dot)",
            )
        path = self._directory / f"{session_id}.jsonl"
        try:
            self._directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except FileExistsError as exc:  # a file where the directory should be
            raise SinkError(
                f"cannot use {self._directory} as the transcript directory: "
                "it exists and is not a directory"
            ) from exc
        except OSError as exc:
            raise SinkError(
                f"cannot create transcript directory {self._directory}: {exc.strerror or exc}"
            ) from exc
        try:
            fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
        except FileExistsError as exc:
            raise _exists(path) from exc
        except OSError as exc:
            raise SinkError(f"cannot create transcript {path}: {exc.strerror or exc}") from exc
        self._fd, self._path = fd, path
        try:
            os.fchmod(fd, _FILE_MODE)  # exactly 0600, whatever the umask
            info = os.fstat(fd)
            self._inode = (info.st_dev, info.st_ino)
            _fsync_directory(self._directory)
        except OSError as exc:
            raise SinkError(f"cannot prepare transcript {path}: {exc.strerror or exc}") from exc

    def write(self, line: bytes) -> None:
        fd = self._require_fd()
        view = memoryview(line)
        try:
            while view:
                written = os.write(fd, view)
                self._size += written
                view = view[written:]
        except OSError as exc:
            raise SinkError(f"cannot write transcript {self._path}: {exc.strerror or exc}") from exc

    def sync(self) -> None:
        fd = self._require_fd()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise SinkError(f"cannot fsync transcript {self._path}: {exc.strerror or exc}") from exc
        self._check_intact(fd)

    def _check_intact(self, fd: int) -> None:
        """Fail if another process changed the file or its name since the last check.

        The file's size must be the bytes written through this sink (O_APPEND puts
        hgate's lines after anything another writer adds, and after a truncation), and
        the path must still name the file hgate holds open.
        """
        try:
            size = os.fstat(fd).st_size
        except OSError as exc:
            raise SinkError(f"cannot stat transcript {self._path}: {exc.strerror or exc}") from exc
        if size != self._size:
            change = "truncated" if size < self._size else "appended to"
            raise SinkError(
                f"transcript {self._path} was {change} by another process during the "
                f"session ({size} bytes on disk, hgate wrote {self._size})",
                remedy="keep the transcript directory out of the agent's reach "
                "(--agent-user, or a remote sink with write-once retention)",
            )
        try:
            info = os.stat(self._require_path(), follow_symlinks=False)
            same = (info.st_dev, info.st_ino) == self._inode
        except OSError:
            same = False
        if not same:
            raise SinkError(
                f"transcript {self._path} was moved, removed or replaced during the session",
                remedy="keep the transcript directory out of the agent's reach "
                "(--agent-user, or a remote sink with write-once retention)",
            )

    def _require_path(self) -> Path:
        if self._path is None:
            raise SinkError(f"transcript sink {self.location} is not opened")
        return self._path

    def close(self) -> None:
        if self._fd is None:
            self._closed = True
            return
        fd, self._fd, self._closed = self._fd, None, True
        try:
            os.close(fd)
        except OSError as exc:
            raise SinkError(f"cannot close transcript {self._path}: {exc.strerror or exc}") from exc

    def _require_fd(self) -> int:
        if self._fd is None:
            state = "closed" if self._closed else "not opened"
            raise SinkError(f"transcript sink {self.location} is {state}")
        return self._fd


def _exists(path: Path) -> SinkError:
    return SinkError(
        f"transcript {path} already exists; a session id is used only once",
        remedy="start the session with a new id or move the old transcript away",
    )


def _fsync_directory(directory: Path) -> None:
    """Make the new file's directory entry durable, so a crash cannot lose the whole file."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
