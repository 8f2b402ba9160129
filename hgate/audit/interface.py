"""The extension point for transcript storage: a `Sink` receives complete JSONL lines.

A directory is the default sink; S3 (Object Lock) and an HTTP collector will implement
the same class. The writer owns the format and the hash chain; a sink only stores bytes
in order and makes them durable when asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from hgate.errors import SinkError

__all__ = ["Sink", "SinkError"]


class Sink(ABC):
    """Append-only storage for one session's transcript.

    Call order: `open` once, then any number of `write` and `sync`, then `close`.
    Every failure raises `SinkError` naming where and the OS (or service) reason, so the
    session can stop the agent: hgate fails closed when evidence cannot be written.
    """

    @abstractmethod
    def open(self, session_id: str) -> None:
        """Create the transcript for `session_id`; refuse if it already exists."""

    @abstractmethod
    def write(self, line: bytes) -> None:
        """Append one complete line (including its final b"\\n"), handed to the OS at once."""

    @abstractmethod
    def sync(self) -> None:
        """Make everything written so far durable (flush + fsync); called at each checkpoint."""

    @abstractmethod
    def close(self) -> None:
        """Release the transcript; called once, after the seal has been synced."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the transcript lives, for humans (a path or URL)."""
