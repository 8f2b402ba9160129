"""What `verify_transcript` returns: one verdict with its exit code, and the evidence for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal


class Verdict(Enum):
    """The outcome of verifying a transcript; the value is `hgate verify`'s exit code.

    VALID       0  every line is chained and attested by a signature of the given key,
                   the seal closes it and its totals match; expectations (if any) hold.
    INCOMPLETE  3  no tampering found, but there is no seal: the session was killed or
                   the file was truncated. `attested_through` says how far it is signed.
    INVALID     4  tampered or not produced by the given key: an edited, deleted,
                   inserted or reordered line, a bad signature, lines after the seal,
                   seal totals that disagree, or the header names another key.
    MALFORMED   5  not readable as an hgate transcript: empty, BOM, a header that is not
                   strict JSON, or an unknown format, version or algorithm.
    MISMATCH    6  VALID, but not the session the auditor expected (repository, run id,
                   policy digest or key fingerprint differ from the expectations).
    """

    VALID = 0
    INCOMPLETE = 3
    INVALID = 4
    MALFORMED = 5
    MISMATCH = 6

    @property
    def exit_code(self) -> int:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectations:
    """What the auditor expects of the session; None means "not checked"."""

    repo: str | None = None
    run_id: str | None = None
    policy_sha256: str | None = None
    key_fingerprint: str | None = None
    session_id: str | None = None
    run_attempt: str | None = None


CheckStatus = Literal["pass", "fail", "skip"]


def printable(text: str) -> str:
    """`text` safe to show on a terminal or in a log: every character that is not
    printable (C0 and C1 controls, ESC, CR, LF, DEL, tab, format characters such as
    bidirectional overrides, line and paragraph separators, lone surrogates, unassigned
    code points) becomes a visible escape: `\\x1b`, `\\u202e`, `\\U000e0001`.

    A transcript, a file name in a store or a collector's answer is written by whoever
    controls it: shown raw, an escape sequence could repaint the verdict. Everything
    else (letters in any script, punctuation, emoji) is left as it is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One named check the verifier performed (or skipped, with the reason in `detail`)."""

    name: str
    status: CheckStatus
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Break:
    """The first line at which the transcript stops being trustworthy, and why."""

    line: int
    what: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SealSummary:
    line: int
    exit_code: int | None
    reason: str
    ended_at: str
    totals: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentReport:
    """How a transcript read from a segmented store (S3, a collector) was reassembled.

    `present` are the segment numbers found; `missing` the numbers absent before the last
    one found (a gap: INVALID); `extra` the objects hgate never writes there (segments
    after the seal, other names, later versions or delete markers over a segment).
    """

    location: str
    present: tuple[int, ...]
    missing: tuple[int, ...] = ()
    extra: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "present": list(self.present),
            "missing": list(self.missing),
            "extra": list(self.extra),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationReport:
    """The verdict and the evidence; fields read from the file are trustworthy only up to
    `attested_through` (the header, hence `identity` and `session_id`, is attested once
    `attested_through >= 2`, the signed start checkpoint)."""

    verdict: Verdict
    reason: str
    key_fingerprint: str
    session_id: str | None
    identity: Mapping[str, Any] | None
    header: Mapping[str, Any]
    lines_total: int
    attested_through: int
    unattested: tuple[int, int] | None
    first_break: Break | None
    checks: tuple[Check, ...]
    seal: SealSummary | None
    segments: SegmentReport | None = None  # set when read from a segmented source

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @property
    def header_attested(self) -> bool:
        """Whether a signature covers the header (the signed start checkpoint, line 2)."""
        return self.attested_through >= 2

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for `hgate verify --json`)."""
        return {
            "verdict": self.verdict.name,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "key_fingerprint": self.key_fingerprint,
            "session_id": self.session_id,
            "identity": dict(self.identity) if self.identity is not None else None,
            "header": dict(self.header),
            "lines_total": self.lines_total,
            "attested_through": self.attested_through,
            "unattested": (
                {"first": self.unattested[0], "last": self.unattested[1]}
                if self.unattested
                else None
            ),
            "first_break": (
                {"line": self.first_break.line, "what": self.first_break.what}
                if self.first_break
                else None
            ),
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks
            ],
            "seal": (
                {
                    "line": self.seal.line,
                    "exit_code": self.seal.exit_code,
                    "reason": self.seal.reason,
                    "ended_at": self.seal.ended_at,
                    "totals": dict(self.seal.totals),
                }
                if self.seal
                else None
            ),
            "segments": self.segments.to_dict() if self.segments else None,
        }
