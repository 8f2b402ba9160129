"""`sql` transcript events: allowed statements batched per window, any other at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hgate.proxy import StatementEvent
from hgate.report.events import sql_records
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


def test_repeats_of_one_statement_share_a_record_and_keep_each_run() -> None:
    """A statement run again on the same connection with the same outcome adds a
    `[t, rows]` run to its record; anything that differs gets a record of its own.
    Expanded, every statement is there with its own time and rows, in order."""
    written: list[dict[str, Any]] = []
    times = iter(float(n) for n in range(1, 100))

    async def main() -> None:
        record = SqlRecorder(
            lambda _kind, data: written.append(data), window=60, clock=lambda: next(times)
        )
        record(_event("SELECT a", rows=1, tag="SELECT 1"))  # t=1
        record(_event("SELECT b", rows=0, tag="SELECT 0"))  # t=2
        record(_event("SELECT a", rows=1, tag="SELECT 1"))  # t=3: a run of the first
        record(_event("SELECT a", rows=1, tag="SELECT 1", masked={"SSN": 1}))  # t=4
        record(
            StatementEvent(
                connection=2, protocol="simple", statement="SELECT a", action="allow",
                rule="r", rows=1, tag="SELECT 1",
            )
        )  # t=5  # fmt: skip
        record(_event("SELECT a", rows=1, tag="SELECT 1"))  # t=6: a run of the first
        record.flush()

    asyncio.run(main())
    (event,) = written
    stored = event["statements"]
    assert len(stored) == 4
    assert stored[0]["runs"] == [[1.0, 1], [3.0, 1], [6.0, 1]]
    assert "t" not in stored[0] and "rows" not in stored[0]
    assert stored[1]["t"] == 2.0 and "runs" not in stored[1]
    expanded = sql_records(event)
    assert [(r["t"], r["statement"], r["connection"], r.get("masked")) for r in expanded] == [
        (1.0, "SELECT a", 1, None),
        (2.0, "SELECT b", 1, None),
        (3.0, "SELECT a", 1, None),
        (4.0, "SELECT a", 1, {"SSN": 1}),
        (5.0, "SELECT a", 2, None),
        (6.0, "SELECT a", 1, None),
    ]
    assert all(r["rows"] == (0 if r["statement"] == "SELECT b" else 1) for r in expanded)


def test_the_batch_limit_counts_statements_not_records() -> None:
    written: list[dict[str, Any]] = []

    async def main() -> None:
        record = SqlRecorder(lambda _kind, data: written.append(data), window=60, limit=5)
        for _ in range(5):
            record(_event("SELECT 1"))
        assert len(written) == 1 and len(sql_records(written[0])) == 5
        record(_event("SELECT 1"))  # a new batch: a record of its own again
        record.flush()

    asyncio.run(main())
    assert "runs" not in written[1]["statements"][0]


def test_times_never_go_back_and_approved_statements_are_written_at_once() -> None:
    """A wall clock that steps back does not reorder evidence; a statement an approver
    let run is written at once with its approval, like a block."""
    written: list[dict[str, Any]] = []
    times = iter([10.0, 11.0, 9.0, 12.0])

    async def main() -> None:
        record = SqlRecorder(
            lambda _kind, data: written.append(data), window=60, clock=lambda: next(times)
        )
        record(_event("SELECT a"))  # 10
        record(_event("SELECT b"))  # 11
        record(_event("SELECT a"))  # the clock says 9
        assert written == []
        record(_event("DELETE FROM t WHERE id = 1", approval="approved"))  # 12

    asyncio.run(main())
    waiting, approved = written
    assert [(r["statement"], r["t"]) for r in sql_records(waiting)] == [
        ("SELECT a", 10.0), ("SELECT b", 11.0), ("SELECT a", 11.000001),
    ]  # fmt: skip
    (record,) = approved["statements"]
    assert record["approval"] == "approved" and record["verdict"] == "allow"
