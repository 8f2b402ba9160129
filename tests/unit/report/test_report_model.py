"""The report model and its renderings, from transcripts written here line by line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hgate.report import build_report, describe, read_transcript, render_html, render_summary
from hgate.report.events import MAX_SQL_RECORDS, printable, split_tokens, sql_records
from hgate.report.replay import replay_frames
from hgate.report.summary import render_not_started

T0 = 1_714_564_800.0


def transcript(*events: tuple[float, str, dict[str, Any]], sealed: bool = True) -> bytes:
    lines = [
        {"seq": 1, "t": T0, "type": "header", "session_id": "s-1", "key_id": "SHA256:k",
         "policy": {"name": "ci", "sha256": "ab" * 32}, "command": ["./agent.sh"],
         "identity": {"issuer": "https://issuer", "subject": "repo:a/b", "verified": True,
                      "rule": "agent", "ci": {"repository": "a/b", "run_id": "7"}}},
        {"seq": 2, "t": T0, "type": "checkpoint"},
    ]  # fmt: skip
    for offset, kind, data in events:
        lines.append({"seq": len(lines) + 1, "t": T0 + offset, "type": kind, "data": data})
    if sealed:
        last = events[-1][0] if events else 0.0
        lines.append({"seq": len(lines) + 1, "t": T0 + last + 0.5, "type": "seal",
                      "exit_code": 0, "reason": "agent exited"})  # fmt: skip
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def output(*texts: str, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    lines: list[dict[str, Any]] = [{"text": t, "end": "\n"} for t in texts]
    if findings:
        lines[0]["findings"] = findings
    return {"stream": "pty", "lines": lines}


SSN = {"kind": "SSN", "start": 8, "end": 20, "token": "[SSN:abc123]"}
BLOCK = {"command": 1, "action": "block", "rule": "no-force-push", "reason": "rewrites history",
         "matched": "git push -f"}  # fmt: skip
APPROVED = {"command": 2, "action": "allow", "rule": "kubectl-delete", "approval": "alice"}


def test_counts_findings_and_collects_blocked_and_approved_actions() -> None:
    data = transcript(
        (0.1, "output", output("patient [SSN:abc123] seen", findings=[SSN])),
        (0.2, "decision", BLOCK),
        (0.3, "decision", {"command": 3, "action": "allow", "rule": "commands.default"}),
        (0.4, "decision", APPROVED),
        (0.5, "credential.issued", {"backend": "postgres", "role": "hg_1", "database": "r"}),
    )
    report = build_report(read_transcript(data))
    assert report.verdict == "UNVERIFIED"
    assert report.findings == (("SSN", 1),)
    assert [(a.outcome, a.rule) for a in report.actions] == [
        ("blocked", "no-force-push"),
        ("approved", "kubectl-delete"),
    ]
    assert report.credentials[0].text == "postgres: role hg_1 on r"
    assert report.exit_code == 0 and report.duration == pytest.approx(1.0)


def test_tokens_are_cut_at_their_offsets_and_bad_offsets_stay_text() -> None:
    spans = split_tokens("patient [SSN:abc123] seen", [SSN])
    assert [(s.text, s.kind) for s in spans] == [
        ("patient ", None), ("[SSN:abc123]", "SSN"), (" seen", None)
    ]  # fmt: skip
    bad = [{"kind": "SSN", "start": 30, "end": 2}]
    assert [(s.text, s.kind) for s in split_tokens("short", bad)] == [("short", None)]


def test_unknown_event_types_are_shown_generically() -> None:
    data = transcript((0.1, "sql", {"statement": "DELETE FROM t", "action": "block"}),
                      (0.2, "approval.requested", {"channel": "slack", "command": 4}),
                      (0.3, "future.thing", {"answer": 42}))  # fmt: skip
    views = build_report(read_transcript(data)).events
    assert [(v.tone, v.label) for v in views] == [
        ("block", "sql"), ("approve", "approval.requested"), ("info", "future.thing")
    ]  # fmt: skip
    assert views[2].text == "answer=42"


def test_control_characters_from_a_forged_file_cannot_drive_the_terminal() -> None:
    assert printable("a\x1b]52;c;AAAA\x07b") == "a␛]52;c;AAAA␇b"
    data = transcript((0.1, "output", output("red \x1b[31mtext")))
    (view,) = build_report(read_transcript(data)).events
    assert "\x1b" not in view.text


def test_a_cut_or_unsealed_file_still_reads() -> None:
    data = transcript((0.1, "output", output("line")), sealed=False) + b'{"seq": 4, "t'
    view = read_transcript(data)
    assert view.seal is None and view.cut_tail
    assert build_report(view).end_reason == "no seal"


def test_github_summary_escapes_tables_and_code() -> None:
    data = transcript((0.2, "decision", {**BLOCK, "matched": "echo `a|b`", "reason": "<b>x</b>"}))
    text = render_summary(build_report(read_transcript(data)), "github")
    assert "| `` echo `a\\|b` `` |" in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "Nothing was masked." in text


def test_gitlab_summary_is_one_collapsible_section() -> None:
    data = transcript((0.1, "output", output("x")))
    text = render_summary(build_report(read_transcript(data)), "gitlab", clock=100)
    assert text.startswith("\x1b[0Ksection_start:100:hgate_summary[collapsed=false]\r\x1b[0K")
    assert text.endswith("\x1b[0Ksection_end:100:hgate_summary\r\x1b[0K\n")
    refused = render_not_started("github", exit_code=66, error="hgate: error: no rule")
    assert "identity refused" in refused and "> hgate: error: no rule" in refused


def test_the_html_page_is_self_contained_and_escapes_what_it_shows() -> None:
    data = transcript(
        (0.1, "output", output("patient [SSN:abc123] <script>alert(1)</script>", findings=[SSN])),
        (0.2, "decision", BLOCK),
    )
    page = render_html(build_report(read_transcript(data)))
    assert "default-src 'none'" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "src=" not in page and "url(" not in page and "@import" not in page
    assert 'class="tok"' in page and "no-force-push" in page
    assert page.count("<svg") >= 3  # logo, badge, two charts


def test_replay_keeps_the_recorded_pauses_scaled_and_capped() -> None:
    data = transcript((1.0, "output", output("a")), (3.0, "output", output("b")),
                      (30.0, "output", output("c")))  # fmt: skip
    frames = list(replay_frames(read_transcript(data), speed=2.0, max_delay=5.0))
    assert [(f.delay, f.text) for f in frames] == [(0.5, "a\n"), (1.0, "b\n"), (5.0, "c\n")]


def test_describe_exit_and_error_events() -> None:
    data = transcript((0.1, "exit", {"exit_code": 3, "reason": "exited", "duration": 0.1}),
                      (0.2, "error", {"error": "SinkError", "message": "disk full"}))  # fmt: skip
    exit_view, error_view = (describe(e) for e in read_transcript(data).events)
    assert exit_view.text == "agent exit code 3, exited, 0.1s"
    assert (error_view.tone, error_view.text) == ("error", "SinkError: disk full")


def test_batched_sql_events_list_each_statement_and_each_block() -> None:
    batch = {"statements": [
        {"t": T0 + 0.05, "statement": "SELECT 1", "verdict": "allow", "rule": "r", "rows": 1},
        {"t": T0 + 0.08, "statement": "SELECT 2", "verdict": "allow", "rule": "r", "rows": 1},
    ]}  # fmt: skip
    blocked = {"statements": [
        {"t": T0 + 0.2, "statement": "DROP TABLE t", "verdict": "block", "rule": "no-ddl"}
    ]}  # fmt: skip
    report = build_report(read_transcript(transcript((0.15, "sql", batch), (0.2, "sql", blocked))))
    first, second = report.events
    assert (first.tone, first.label) == ("info", "sql")
    assert first.text == "2 statements (2 allow): SELECT 1  [allow] | SELECT 2  [allow]"
    assert (second.tone, second.text) == ("block", "DROP TABLE t  [block]")
    assert [(a.outcome, a.rule, a.subject) for a in report.actions] == [
        ("blocked", "no-ddl", "DROP TABLE t")
    ]
    assert report.actions[0].offset == pytest.approx(0.2)


def test_grouped_sql_runs_list_each_statement_in_time_order() -> None:
    batch = {"statements": [
        {"statement": "SELECT a", "verdict": "allow", "rule": "r",
         "runs": [[T0 + 0.01, 1], [T0 + 0.03, 2]]},
        {"t": T0 + 0.02, "statement": "SELECT b", "verdict": "allow", "rule": "r", "rows": 0},
    ]}  # fmt: skip
    (event,) = build_report(read_transcript(transcript((0.1, "sql", batch)))).events
    assert event.text == (
        "3 statements (3 allow): SELECT a  [allow] | SELECT b  [allow] | SELECT a  [allow]"
    )
    assert [(r["statement"], r["rows"]) for r in sql_records(batch)] == [
        ("SELECT a", 1), ("SELECT b", 0), ("SELECT a", 2),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "runs",
    [
        "zz",
        [],
        [[T0, 1, 2]],
        [[T0, "1"]],
        [[T0, True]],
        [[T0, -1]],
        [["x", 1]],
        [[True, 1]],
        [[10**400, 1]],
        [[float("nan"), 1]],
    ],
)
def test_malformed_sql_runs_are_shown_as_malformed_and_never_crash(runs: object) -> None:
    batch = {"statements": [{"statement": "SELECT a", "verdict": "allow", "rule": "r",
                             "runs": runs}]}  # fmt: skip
    data = transcript((0.1, "sql", batch))
    (event,) = build_report(read_transcript(data)).events
    assert event.tone == "error" and "[malformed:" in event.text
    (record,) = sql_records(batch)
    assert "t" not in record and "rows" not in record


def test_runs_on_a_block_are_ignored_so_the_block_still_shows() -> None:
    batch = {"statements": [{"t": T0 + 0.1, "statement": "DROP TABLE t", "verdict": "block",
                             "rule": "no-ddl", "runs": []}]}  # fmt: skip
    report = build_report(read_transcript(transcript((0.1, "sql", batch))))
    assert [(a.outcome, a.rule) for a in report.actions] == [("blocked", "no-ddl")]


def test_a_huge_time_anywhere_does_not_crash_the_report() -> None:
    batch = {"statements": [{"t": 10**400, "statement": "DROP TABLE t", "verdict": "block",
                             "rule": "no-ddl"}]}  # fmt: skip
    lines = transcript((0.1, "sql", batch)).splitlines()
    lines[1] = lines[1].replace(f'"t": {T0}'.encode(), b'"t": ' + str(10**400).encode())
    report = build_report(read_transcript(b"\n".join(lines) + b"\n"))
    assert [(a.outcome, a.rule) for a in report.actions] == [("blocked", "no-ddl")]


def test_an_event_with_too_many_statements_is_cut_and_says_so() -> None:
    batch = {"statements": [{"statement": "SELECT a", "verdict": "allow", "rule": "r",
                             "runs": [[T0, 1]] * (MAX_SQL_RECORDS + 5)}]}  # fmt: skip
    records = sql_records(batch)
    assert len(records) == 1 and "malformed" in records[0]
