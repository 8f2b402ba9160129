"""A transcript writer stand-in for unit tests: it keeps the events appended to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def append(self, event_type: str, data: Mapping[str, Any]) -> int:
        self.events.append((event_type, dict(data)))
        return len(self.events)
