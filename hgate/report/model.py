"""The report model: one session, as an auditor asks about it.

Built from a transcript and (when a public key was given) its verification report, so
every view — terminal, HTML, CI summary, JSON — answers the same questions from the same
facts: was it intact, who ran it under which policy, what was masked, what was blocked
or approved, which credentials existed, and how it ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hgate.audit import Check, VerificationReport
from hgate.report.events import (
    MAX_TEXT,
    EventView,
    decision_outcome,
    describe,
    printable,
    sql_records,
)
from hgate.report.transcript_view import Transcript, seconds

UNVERIFIED = "UNVERIFIED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """A blocked or approved action: a command, a statement, a stdin line."""

    line: int
    offset: float
    outcome: str  # blocked, approved, violation, stop, ...
    rule: str
    subject: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "offset": round(self.offset, 6),
            "outcome": self.outcome,
            "rule": self.rule,
            "subject": self.subject,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReport:
    session_id: str
    source: str
    verdict: str  # a Verdict name, or UNVERIFIED when no key was given
    verdict_reason: str
    key_fingerprint: str
    attested_through: int
    lines_total: int
    checks: tuple[Check, ...]
    header: Mapping[str, Any]
    exit_code: int | None
    end_reason: str
    duration: float
    output_lines: int
    findings: tuple[tuple[str, int], ...]  # by count, largest first
    actions: tuple[Action, ...]
    credentials: tuple[EventView, ...]
    events: tuple[EventView, ...]
    event_counts: Mapping[str, int]

    @property
    def identity(self) -> Mapping[str, Any]:
        value = self.header.get("identity")
        return value if isinstance(value, dict) else {}

    @property
    def policy(self) -> Mapping[str, Any]:
        value = self.header.get("policy")
        return value if isinstance(value, dict) else {}

    @property
    def ci(self) -> Mapping[str, Any]:
        value = self.identity.get("ci") or self.header.get("ci")
        return value if isinstance(value, dict) else {}

    @property
    def command(self) -> str:
        argv = self.header.get("command")
        return " ".join(map(str, argv)) if isinstance(argv, list) else ""

    @property
    def masked_total(self) -> int:
        return sum(count for _, count in self.findings)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.outcome != "approved")

    @property
    def approved(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.outcome == "approved")

    @property
    def verified(self) -> bool:
        return self.verdict == "VALID"

    def describe_identity(self) -> str:
        identity = self.identity
        if not identity:
            return "unknown"
        state = "verified token" if identity.get("verified") is True else "UNVERIFIED"
        if identity.get("development"):
            state = "DEVELOPMENT issuer"
        rule = f", rule {identity['rule']}" if identity.get("rule") else ""
        return f"{identity.get('subject', '?')} ({state}, issuer {identity.get('issuer')}{rule})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "source": self.source,
            "verification": {
                "verdict": self.verdict,
                "reason": self.verdict_reason,
                "key_fingerprint": self.key_fingerprint,
                "attested_through": self.attested_through,
                "lines_total": self.lines_total,
                "checks": [
                    {"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks
                ],
            },
            "identity": dict(self.identity),
            "policy": dict(self.policy),
            "ci": dict(self.ci) or None,
            "command": self.header.get("command"),
            "host": self.header.get("host"),
            "started_at": self.header.get("started_at"),
            "exit_code": self.exit_code,
            "end_reason": self.end_reason,
            "duration": round(self.duration, 3),
            "output_lines": self.output_lines,
            "findings": dict(self.findings),
            "masked_total": self.masked_total,
            "actions": [a.to_dict() for a in self.actions],
            "credentials": [c.to_dict() for c in self.credentials],
            "event_counts": dict(self.event_counts),
            "events": [e.to_dict() for e in self.events],
        }


def build_report(
    transcript: Transcript, verification: VerificationReport | None = None
) -> SessionReport:
    """Collect the facts; nothing here decides trust except the verification report."""
    views = tuple(describe(event) for event in transcript.events)
    findings: Counter[str] = Counter()
    output_lines = 0
    actions: list[Action] = []
    for event, view in zip(transcript.events, views, strict=True):
        if event.type == "output":
            output_lines += len(view.lines)
            findings.update(s.kind for spans in view.lines for s in spans if s.kind)
        elif event.type == "sql":  # a batch: one action per statement that needs one
            for record in sql_records(event.data):
                outcome = decision_outcome(record)
                if outcome is not None:
                    at = seconds(record.get("t"))
                    offset = event.offset
                    if at is not None:
                        offset = max(0.0, min(offset, offset - (event.t - at)))
                    actions.append(_action(event.line, offset, outcome, record))
        elif event.type in ("decision", "input"):
            outcome = decision_outcome(event.data)
            if outcome is not None:
                actions.append(_action(event.line, event.offset, outcome, event.data))
    seal = transcript.seal or {}
    exit_code = seal.get("exit_code") if isinstance(seal.get("exit_code"), int) else None
    if verification is not None:
        verdict, reason = verification.verdict.name, verification.reason
        fingerprint, attested = verification.key_fingerprint, verification.attested_through
        checks, lines_total = verification.checks, verification.lines_total
    else:
        verdict, reason = UNVERIFIED, "no public key given: nothing here is verified"
        fingerprint = str(transcript.header.get("key_id", ""))
        attested, checks, lines_total = 0, (), transcript.lines
    return SessionReport(
        session_id=transcript.session_id,
        source=transcript.source,
        verdict=verdict,
        verdict_reason=reason,
        key_fingerprint=fingerprint,
        attested_through=attested,
        lines_total=lines_total,
        checks=checks,
        header=transcript.header,
        exit_code=exit_code,
        end_reason=str(seal.get("reason") or ("no seal" if transcript.seal is None else "")),
        duration=transcript.duration,
        output_lines=output_lines,
        findings=tuple(sorted(findings.items(), key=lambda kv: (-kv[1], kv[0]))),
        actions=tuple(actions),
        credentials=tuple(v for v in views if v.type.startswith("credential.")),
        events=views,
        event_counts=dict(sorted(Counter(e.type for e in transcript.events).items())),
    )


def _action(line: int, offset: float, outcome: str, data: Mapping[str, Any]) -> Action:
    subject = next(
        (
            str(data[k])
            for k in ("matched", "statement", "sql", "text", "command_text")
            if isinstance(data.get(k), str) and data[k]
        ),
        "",
    )
    return Action(
        line=line,
        offset=offset,
        outcome=outcome,
        rule=_shown(str(data.get("rule") or "")),
        subject=_shown(subject),
        reason=_shown(str(data.get("reason") or "")),
    )


def _shown(text: str) -> str:
    """An action's field as every view shows it: the agent chose the command line or the
    statement (and through it a reason that quotes it), so no character of it acts on the
    reader, and one action cannot make a summary too large to be shown."""
    text = printable(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
