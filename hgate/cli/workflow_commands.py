"""GitHub Actions workflow commands hgate prints: masks for issued secrets, annotations.

The runner reads these from a step's stdout. `::add-mask::` makes it hide a value in
every later log line of the job, so a credential hgate issued stays hidden even if some
other step prints it; annotations put a policy mistake on the policy file's line in the
pull request. Nothing is printed outside GitHub Actions.

The CI's own files (`$GITHUB_OUTPUT`, `$GITHUB_ENV`, a GitLab dotenv report) are how a
step hands its results on; one that cannot be written is an error, checked before the
work starts so that nothing runs whose outcome would be lost.

`hgate run` holds its own such files (`--outputs-to`, `--log`) open for the whole
session as `HeldFile`s: the agent may be able to write them (GitLab's are in the project
directory; GitHub's are files of the runner's user), so hgate writes through the handle it
opened before the agent started, never through whatever the path names later, and puts
back at the end exactly what it wrote if anything else changed them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from hgate.errors import ConfigError, HgateError, PolicyError

MIN_MASK_LENGTH = 4


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def mask_commands(value: str) -> list[str]:
    """`::add-mask::` lines for a value: the whole (escaped) value, and each line of a
    multi-line one, because the runner matches masks line by line."""
    parts = [value, *value.splitlines()] if "\n" in value or "\r" in value else [value]
    seen: list[str] = []
    for part in parts:
        part = part.strip("\r")
        if len(part.strip()) >= MIN_MASK_LENGTH and part not in seen:
            seen.append(part)
    return [f"::add-mask::{escape_data(part)}" for part in seen]


def mask_announcer(write: Callable[[str], None] | None = None) -> Callable[[str], None]:
    """The callback `run_session` calls with each secret the moment hgate holds it."""

    def announce(value: str) -> None:
        out = write or _stdout
        for line in mask_commands(value):
            out(line + "\n")

    return announce


def annotation(
    level: str,
    message: str,
    *,
    title: str = "",
    file: str = "",
    line: int | None = None,
    col: int | None = None,
) -> str:
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line is not None:
        props.append(f"line={line}")
    if col is not None:
        props.append(f"col={col}")
    if title:
        props.append(f"title={escape_property(title)}")
    joined = " " + ",".join(props) if props else ""
    return f"::{level}{joined}::{escape_data(message)}"


def policy_error_annotation(exc: PolicyError, env: Mapping[str, str] | None = None) -> str:
    """`::error file=policies/ci.yaml,line=12,col=5::…` from a PolicyError's location."""
    file, line, col = split_location(exc.location or "")
    if file:
        file = _workspace_relative(file, (os.environ if env is None else env))
    return annotation(
        "error", HgateError.__str__(exc), title="hgate policy error", file=file, line=line, col=col
    )


def split_location(location: str) -> tuple[str, int | None, int | None]:
    """`file:line:col` (a file name may itself hold colons) into its parts."""
    parts = location.rsplit(":", 2)
    numbers = [int(p) if p.isdigit() else None for p in parts[1:]]
    if len(parts) == 3 and all(n is not None for n in numbers):
        return parts[0], numbers[0], numbers[1]
    head, _, tail = location.rpartition(":")
    if head and tail.isdigit():
        return head, int(tail), None
    return location, None, None


def check_appendable(path: Path, option: str) -> None:
    """Raise ConfigError (exit 67) unless `path` can be appended to (it is created if
    missing, as the append would); said before the work whose results it is to hold."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written: {_reason(exc)}") from None


def append_text(path: Path, text: str, option: str) -> None:
    """Append `text` to a CI file; ConfigError (exit 67) with the reason if it cannot."""
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(f"{option} {path} could not be written: {_reason(exc)}") from None


def output_line(name: str, value: str) -> str:
    """One `name=value` line of $GITHUB_OUTPUT's format; a value with a line break (a
    path could hold one) as a heredoc with a random delimiter, so that no part of it can
    be read as a line of its own (another output, `BASH_ENV=` in $GITHUB_ENV)."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


class HeldFile:
    """A CI file opened once, before the agent starts, and written only through that handle.

    Reopening the path at the end would follow a symlink, or block on a FIFO, that the
    agent put there; appending after the agent's bytes would let a half line it left
    (`exit-code=0` then `x`, no newline) swallow hgate's first line, or an open heredoc
    (`name<<EOF`) all of them. So hgate remembers what the file held and what it added:
    `seal()` puts exactly that back if the file or the path was changed meanwhile.
    """

    def __init__(self, path: Path, option: str) -> None:
        self.path, self.option = path, option
        self._lock = threading.Lock()
        try:
            # O_NONBLOCK: a FIFO without a reader fails now (ENXIO), instead of hanging
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
        except OSError as exc:
            raise ConfigError(f"{option} {path} cannot be written: {_reason(exc)}") from None
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        self._fd: int | None = fd
        info = os.fstat(fd)
        self._identity = (info.st_dev, info.st_ino)
        # Only a regular file can be read back and checked (through a second handle on
        # the same file, not the path); a pipe or /dev/stderr is written, not verified.
        self._reader: int | None = None
        self._expected = bytearray()
        if stat.S_ISREG(info.st_mode):
            with contextlib.suppress(OSError):
                self._reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
                self._expected += _read_all(self._reader)

    def is_file(self, path: Path) -> bool:
        """Whether `path` names this very file (`--log` and `--outputs-to` may be one)."""
        try:
            now = os.stat(path)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) == self._identity

    def write(self, text: str) -> None:
        """Append `text` through the handle; OSError if the file cannot take it."""
        data = text.encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise OSError(9, "closed")
            _write_all(self._fd, data)
            self._expected += data

    def changed(self) -> bool:
        """Whether anything but hgate wrote the file, or the path now names another file."""
        with self._lock:
            if self._reader is None:
                return False
            try:
                content = _read_all(self._reader)
            except OSError:
                return True
            return not self._same_file() or content != bytes(self._expected)

    def seal(self) -> bool:
        """Close the file, first restoring what hgate wrote if it was changed; True if it
        was. OSError if it was changed and could not be restored."""
        changed = self.changed()
        with self._lock:
            fd, reader, self._fd, self._reader = self._fd, self._reader, None, None
            try:
                if changed and fd is not None:
                    self._restore(fd, bytes(self._expected))
            finally:
                for handle in (fd, reader):
                    if handle is not None:
                        os.close(handle)
        return changed

    def _same_file(self) -> bool:
        return self.is_file(self.path)

    def _restore(self, fd: int, data: bytes) -> None:
        if self._same_file():  # the same file, written to: its content put back in place
            os.ftruncate(fd, 0)
            _write_all(fd, data)
            return
        # the path was replaced (symlink, FIFO, another file) or removed: a new file,
        # renamed over the name, so nothing the agent planted is followed or opened
        handle, temp = tempfile.mkstemp(prefix=".hgate-", dir=self.path.parent)
        try:
            _write_all(handle, data)
            os.fchmod(handle, 0o644)
        finally:
            os.close(handle)
        try:
            os.replace(temp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def annotate_error(exc: HgateError) -> None:
    """Called by the CLI's error handler: a policy error becomes a file/line annotation."""
    if in_github_actions() and isinstance(exc, PolicyError):
        _stdout(policy_error_annotation(exc) + "\n")


def _workspace_relative(file: str, env: Mapping[str, str]) -> str:
    workspace = env.get("GITHUB_WORKSPACE")
    path = Path(file)
    if workspace and path.is_absolute():
        try:
            return str(path.resolve().relative_to(Path(workspace).resolve()))
        except ValueError:
            return file
    return file


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
