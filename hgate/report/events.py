"""Every event type, in words: one shared description that the terminal timeline, the HTML
report and the CI summary all render, so they never disagree about what happened.

Known types (output, command, decision, sql, input, process, approval.*, credential.*,
exit, error) get a tailored sentence; any other type is shown generically as its data,
so a transcript written by a newer hgate still reads.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hgate.report.transcript_view import TranscriptEvent, seconds

Tone = Literal["output", "allow", "block", "approve", "credential", "error", "exit", "info"]
BLOCKING_ACTIONS = frozenset({"block", "deny", "denied", "violation", "stop", "kill", "refuse"})
APPROVAL_ACTIONS = frozenset({"approve", "approved", "approval"})
MAX_TEXT = 400


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A piece of a masked line: plain text, or a masking token of `kind`."""

    text: str
    kind: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventView:
    """One event as people read it. `lines` holds output lines split into token spans."""

    line: int
    offset: float
    type: str
    tone: Tone
    label: str
    text: str
    lines: tuple[tuple[Span, ...], ...] = ()
    attested: bool = False

    @property
    def notable(self) -> bool:
        """Worth highlighting: anything that was blocked, approved, issued or failed."""
        return self.tone in ("block", "approve", "credential", "error")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "line": self.line,
            "offset": round(self.offset, 6),
            "type": self.type,
            "tone": self.tone,
            "label": self.label,
            "text": self.text,
            "attested": self.attested,
        }
        if self.lines:
            out["lines"] = [
                [{"text": s.text, "kind": s.kind} if s.kind else {"text": s.text} for s in spans]
                for spans in self.lines
            ]
        return out


def describe(event: TranscriptEvent) -> EventView:
    data, kind = event.data, event.type
    tone: Tone = "info"
    lines: tuple[tuple[Span, ...], ...] = ()
    if kind == "output":
        lines = tuple(output_spans(line) for line in _records(data.get("lines")))
        if not lines and isinstance(data.get("text"), str):  # the pre-`lines` form
            lines = (split_tokens(str(data["text"]), data.get("findings")),)
        stream = data.get("stream")
        tone, label = "output", "output" if stream in (None, "pty", "stdout") else str(stream)
        text = "\n".join("".join(s.text for s in spans) for spans in lines)
    elif kind == "decision":
        tone, label, text = _decision(data)
    elif kind == "command":
        label = "command" if data.get("phase") != "exit" else "command exit"
        text = _command(data)
    elif kind == "sql":
        tone, label, text = _sql(sql_records(data))
    elif kind == "input":
        label, text = "stdin", _first(data, "text", "line")
        tone = "block" if _action(data) in BLOCKING_ACTIONS else "info"
    elif kind == "process":
        label, text = f"process {data.get('phase', '')}".strip(), _process(data)
    elif kind.startswith("approval."):
        tone, label = "approve", kind
        text = _pairs(data)
        if kind.endswith(("denied", "rejected", "expired", "timeout")):
            tone = "block"
    elif kind.startswith("credential."):
        tone, label = "credential", kind
        text = credential_label(data)
        if kind.endswith(("error", "failed")):
            tone = "error"
    elif kind == "exit":
        tone, label = "exit", "exit"
        code = data.get("exit_code", data.get("code"))
        text = (
            f"agent exit code {code}"
            + (f", {data['reason']}" if data.get("reason") else "")
            + (f", {data['duration']}s" if data.get("duration") is not None else "")
        )
    elif kind == "error":
        tone, label = "error", "error"
        text = f"{data.get('error', 'error')}: {data.get('message', '')}".strip(": ")
    else:
        label, text = kind, _pairs(data)
    return EventView(
        line=event.line,
        offset=event.offset,
        type=kind,
        tone=tone,
        label=printable(label),
        text=_clip(text),
        lines=lines,
        attested=event.attested,
    )


def printable(text: str) -> str:
    """Text from a transcript made inert for every viewer: C0 controls and DEL as visible
    symbols (ESC as ␛), C1 controls as U+FFFD, and every other character that is not
    printable, bar tab and spaces, as a `\\u202e`-style escape: bidi overrides and
    isolates (which make a line read in another order), zero-width and format characters,
    line and paragraph separators, lone surrogates (a command line's non-UTF-8 bytes, which
    no encoder accepts), unassigned code points. The agent chose this text; shown raw, it
    could drive a terminal or make `KCOLB` read as `BLOCK`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in _KEPT else _inert(c) for c in text)


_CONTROL = {**{c: chr(0x2400 + c) for c in range(0x20)}, 0x7F: "\u2421"}
_CONTROL.update({c: "\ufffd" for c in range(0x80, 0xA0)})


def _inert(char: str) -> str:
    code = ord(char)
    if code in _CONTROL:
        return _CONTROL[code]
    if unicodedata.category(char) == "Zs":  # a space (no-break, ideographic): harmless
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


_KEPT = frozenset("\t")


def output_spans(record: Mapping[str, Any]) -> tuple[Span, ...]:
    text = record.get("text")
    return split_tokens(text if isinstance(text, str) else "", record.get("findings"))


def split_tokens(text: str, findings: Any) -> tuple[Span, ...]:
    """Cut a masked line at its findings' offsets (into the recorded text, so before any
    character is made printable); bad offsets degrade to plain text."""
    spans: list[Span] = []
    position = 0
    for finding in sorted(_records(findings), key=lambda f: _int(f.get("start"))):
        start, end = _int(finding.get("start")), _int(finding.get("end"))
        if not (position <= start < end <= len(text)):
            continue
        if start > position:
            spans.append(Span(text=printable(text[position:start])))
        kind = printable(str(finding.get("kind") or "MASKED"))
        spans.append(Span(text=printable(text[start:end]), kind=kind))
        position = end
    if position < len(text) or not spans:
        spans.append(Span(text=printable(text[position:])))
    return tuple(spans)


def decision_outcome(data: Mapping[str, Any]) -> str | None:
    """`blocked`, `approved` or None (a plain allow): what the summaries list."""
    action = _action(data)
    if action in BLOCKING_ACTIONS:
        return "blocked" if action in ("block", "deny", "denied", "refuse") else action
    if action in APPROVAL_ACTIONS or data.get("approval"):
        return "approved"
    return None


MAX_SQL_RECORDS = 10_000  # hgate writes at most 256 statements per event


def sql_records(data: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The statements of one `sql` event, one record each, in the order of their times:
    a batch (`statements`), where an allowed record with `runs` ([t, rows] per run of
    the same statement) stands for that many statements, or the one-statement form of
    earlier transcripts (the record is the event's data).

    A transcript is untrusted input: a `runs` that is not a list of [time, rows] pairs
    gives the record once, marked `malformed` and without `t`/`rows`; `runs` on a record
    that is not an allow is ignored (hgate writes it only there), so a block always
    shows; past MAX_SQL_RECORDS the rest of the event is one `malformed` record."""
    batch = data.get("statements")
    if not isinstance(batch, list):
        return [data]
    records: list[Mapping[str, Any]] = []
    grouped = False
    for record in batch:
        if len(records) >= MAX_SQL_RECORDS:
            records.append({"verdict": "?", "malformed": "too many statements in one event"})
            break
        if not isinstance(record, Mapping):
            continue
        runs = record.get("runs")
        if runs is None or record.get("verdict") != "allow":
            records.append(record)
            continue
        common = {k: v for k, v in record.items() if k not in ("runs", "t", "rows")}
        expanded = _runs(common, runs, MAX_SQL_RECORDS - len(records))
        if expanded is None:
            records.append({**common, "malformed": "runs is not a list of [time, rows]"})
            continue
        grouped = True
        records.extend(expanded)
    if grouped:
        records.sort(key=_finished)
    return records


def _runs(common: Mapping[str, Any], runs: object, room: int) -> list[Mapping[str, Any]] | None:
    if not isinstance(runs, list) or not runs or len(runs) > room:
        return None
    out: list[Mapping[str, Any]] = []
    for run in runs:
        if not (isinstance(run, list) and len(run) == 2):
            return None
        at, rows = seconds(run[0]), run[1]
        if at is None or isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            return None
        out.append({**common, "t": at, "rows": rows})
    return out


def _finished(record: Mapping[str, Any]) -> float:
    at = seconds(record.get("t"))
    return 0.0 if at is None else at


def _sql(records: Sequence[Mapping[str, Any]]) -> tuple[Tone, str, str]:
    verdicts = [_action(r) for r in records]
    tone: Tone = "block" if any(v in BLOCKING_ACTIONS for v in verdicts) else "info"
    if any("malformed" in r for r in records):
        tone = "error"
    lines = [
        _first(r, "statement", "sql", "query", "text")
        + (f"  [{v}]" if v else "")
        + (f"  [malformed: {r['malformed']}]" if "malformed" in r else "")
        for r, v in zip(records, verdicts, strict=True)
    ]
    if len(lines) == 1:
        return tone, "sql", lines[0]
    tally = Counter(v or "?" for v in verdicts)
    head = f"{len(lines)} statements (" + ", ".join(f"{n} {v}" for v, n in tally.items()) + "): "
    return tone, "sql", head + " | ".join(lines)


def credential_label(data: Mapping[str, Any]) -> str:
    backend = data.get("backend", "credential")
    if "role" in data:
        text = f"{backend}: role {data['role']}" + (
            f" on {data['database']}" if data.get("database") else ""
        )
    elif "serial" in data or "principals" in data:
        principals = data.get("principals")
        shown = ",".join(map(str, principals)) if isinstance(principals, list) else principals
        text = f"{backend}: certificate serial {data.get('serial')} for {shown}"
    else:
        rest = {k: v for k, v in data.items() if k != "backend"}
        text = f"{backend}: {_pairs(rest)}" if rest else str(backend)
    until = data.get("valid_until") or data.get("valid_before")
    return text + (f", valid until {until}" if until else "")


def _decision(data: Mapping[str, Any]) -> tuple[Tone, str, str]:
    outcome = decision_outcome(data)
    action = _action(data) or "decision"
    rule = data.get("rule")
    subject = _first(data, "matched", "command_text", "statement")
    parts = [f"{action.upper()}"]
    if rule:
        parts.append(f"rule {rule}")
    if subject:
        parts.append(f"`{subject}`")
    if data.get("reason"):
        parts.append(f"— {data['reason']}")
    tone: Tone = "info" if outcome is None else "approve" if outcome == "approved" else "block"
    if outcome is None and action == "allow":
        tone = "allow"
    return tone, "decision", " ".join(parts)


def _command(data: Mapping[str, Any]) -> str:
    if data.get("phase") == "exit":
        return f"#{data.get('id')} exit code {data.get('exit_code')}"
    argv = data.get("argv")
    shown = " ".join(map(str, argv)) if isinstance(argv, list) else _first(data, "text", "line")
    source = data.get("source")
    return f"#{data.get('id')} {shown}" + (f"  (via {source})" if source else "")


def _process(data: Mapping[str, Any]) -> str:
    if data.get("phase") == "exit":
        return f"pid {data.get('pid')} exit code {data.get('exit_code')}"
    argv = data.get("argv")
    shown = " ".join(map(str, argv)) if isinstance(argv, list) else str(data.get("program"))
    return f"pid {data.get('pid')} {shown}"


def _action(data: Mapping[str, Any]) -> str:
    value = data.get("action", data.get("verdict", data.get("decision", "")))
    return value.lower() if isinstance(value, str) else ""


def _first(data: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _records(value: Any) -> Sequence[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _pairs(data: Mapping[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def _clip(text: str) -> str:
    text = printable(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
