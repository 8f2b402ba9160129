"""`Wait`: a message that cannot be handled until something is awaited.

The relay handles messages synchronously, in the socket's read callback: a coroutine and
a task wake-up per read cost more than the framing itself. The few messages that need
I/O first (a statement held for approval, a result whose table names are not yet read
from pg_catalog) raise `Wait` before changing any state; the relay stops reading that
socket, awaits `then()`, and hands the same message in again, which now finds the answer
(a settled verdict, a cached catalog entry) and goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class Wait(Exception):
    def __init__(self, then: Callable[[], Awaitable[object]]) -> None:
        super().__init__("a message waits for I/O")
        self.then = then
