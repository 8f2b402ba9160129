"""`sql` transcript events: allowed statements batched per window, any other at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hgate.proxy import StatementEvent
from hgate.session.database_proxy import SqlRecorder


def _event(statement: str, action: str = "allow", **extra: Any) -> StatementEvent:
    return StatementEvent(
        connection=1, protocol="simple", statement=statement, action=action, rule="r", **extra
    )


def test_allowed_statements_share_one_event_per_window() -> None:
    written: list[tuple[str, dict[str, Any]]] = []

    async def main() -> None:
        record = SqlRecorder(lambda kind, data: written.append((kind, data)), window=0.02)
        record(_event("SELECT 1", rows=1, tag="SELECT 1"))
        record(_event("SELECT 2", masked={"SSN": 2}))
        assert written == []
        await asyncio.sleep(0.1)
        record(_event("SELECT 3"))
        record.flush()

    asyncio.run(main())
    assert [kind for kind, _ in written] == ["sql", "sql"]
    first = written[0][1]["statements"]
    assert [r["statement"] for r in first] == ["SELECT 1", "SELECT 2"]
    assert (
        first[0]["rows"] == 1 and first[0]["tag"] == "SELECT 1" and first[0]["verdict"] == "allow"
    )
    assert first[1]["masked"] == {"SSN": 2} and isinstance(first[1]["t"], float)
    assert [r["statement"] for r in written[1][1]["statements"]] == ["SELECT 3"]


def test_a_block_is_written_at_once_after_what_was_waiting() -> None:
    written: list[dict[str, Any]] = []

    async def main() -> None:
        record = SqlRecorder(lambda _kind, data: written.append(data), window=60)
        record(_event("SELECT 1"))
        record(_event("DROP TABLE t", "block", reason="ddl"))
        assert [[r["statement"] for r in e["statements"]] for e in written] == [
            ["SELECT 1"],
            ["DROP TABLE t"],
        ]
        assert written[1]["statements"][0]["reason"] == "ddl"

    asyncio.run(main())


def test_a_full_batch_is_written_and_a_failed_write_fails_the_next_statement() -> None:
    written: list[dict[str, Any]] = []

    async def main() -> None:
        record = SqlRecorder(lambda _kind, data: written.append(data), window=60, limit=3)
        for n in range(4):
            record(_event(f"SELECT {n}"))
        assert len(written) == 1 and len(written[0]["statements"]) == 3
        record.flush()

    asyncio.run(main())
    assert len(written) == 2

    def broken(_kind: str, _data: dict[str, Any]) -> None:
        raise OSError("disk full")

    failing = SqlRecorder(broken)
    with pytest.raises(OSError):
        failing(_event("SELECT 1"))  # no loop: written at once
    with pytest.raises(OSError):
        failing(_event("SELECT 2"))
