"""Opening a file that someone else may have put in place: only a regular file is read.

A FIFO would block the reader until a writer comes, a device such as /dev/zero never
ends. Checking with stat() before open() leaves a window to swap one in; opening
non-blocking and checking the descriptor does not.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["NotRegularFile", "open_regular"]


class NotRegularFile(OSError):
    """`path` is something other than a regular file; `mode` says what."""

    def __init__(self, mode: int) -> None:
        super().__init__(f"not a regular file (mode {stat.filemode(mode)})")
        self.mode = mode


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for binary reading, or NotRegularFile (or the OSError open gave)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
