"""Verifying a transcript stored as segments: reassemble, verify the bytes, judge the store.

The hash chain and signatures are checked on the concatenation of segments 1..k (the
run of numbers without a gap), exactly as for a file. On top of that, the store itself
must hold nothing hgate would not have written: a gap in the numbering (evidence lost),
a segment after the seal, a segment that does not end in a signed line, another object
in the session's prefix, a later version or delete marker over a segment. Each of these
makes the verdict INVALID, with the segment named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hgate.audit import format as fmt
from hgate.audit.report import Break, Check, Expectations, SegmentReport, Verdict, printable
from hgate.audit.report import VerificationReport as Report
from hgate.audit.segments import describe
from hgate.audit.sources import SegmentListing, StoredSegment, read_source, stored_name
from hgate.audit.verify import verify_transcript

__all__ = ["abridged", "bind_location", "verify_segments", "verify_source"]

_NO_EXPECTATIONS = Expectations()
_MAX_MISSING = 10_000
"""The most missing segment numbers listed; segments after a wider gap are extra."""


def verify_source(
    spec: str,
    public_key: Ed25519PublicKey,
    expect: Expectations = _NO_EXPECTATIONS,
    *,
    env: Mapping[str, str],
) -> Report:
    """Verify a file, a directory, `s3://BUCKET/PREFIX/SESSION_ID` or a collector URL.
    Raises ConfigError only if the source cannot be read."""
    source = read_source(spec, env=env)
    if isinstance(source, bytes):
        report = verify_transcript(source, public_key, expect)
    else:
        report = verify_segments(source, public_key, expect)
    return bind_location(report, stored_name(spec), expect)


_BOUND = (Verdict.VALID, Verdict.INCOMPLETE, Verdict.MISMATCH)


def bind_location(report: Report, name: str | None, expect: Expectations) -> Report:
    """Compare the session the location names (`name`) with the one inside.

    hgate stores session S as `S.jsonl` or under `.../S/`, and every session of one CI
    run is signed by the same key: a copy of an older session put where the new one
    belongs verifies, so a sealed transcript stored under another session's name is
    MISMATCH. A session the auditor pinned with `--expect-session` is compared instead
    (their own record beats the store's name), so this check is skipped then."""
    if report.verdict not in _BOUND or report.session_id is None:
        return report
    if expect.session_id is not None:
        detail = "not compared: the session is pinned with --expect-session"
        check = Check(name="location", status="skip", detail=detail)
        return replace(report, checks=(*report.checks, check))
    if name is None:
        detail = "the location names no session; pin one with --expect-session"
        check = Check(name="location", status="skip", detail=detail)
        return replace(report, checks=(*report.checks, check))
    if name == report.session_id:
        detail = f"stored under its own session id {report.session_id}"
        check = Check(name="location", status="pass", detail=detail)
        return replace(report, checks=(*report.checks, check))
    shown = printable(name if len(name) <= 140 else name[:140] + "...")
    detail = (
        f"stored as {shown!r} but holds session {report.session_id}: a copy of another "
        "session, or a renamed file (pin the session with --expect-session)"
    )
    check = Check(name="location", status="fail", detail=detail)
    checks = (*report.checks, check)
    if report.verdict is Verdict.VALID:
        return replace(report, verdict=Verdict.MISMATCH, reason=detail, checks=checks)
    if report.verdict is Verdict.MISMATCH:
        return replace(report, reason=f"{report.reason}; {detail}", checks=checks)
    return replace(report, checks=checks)  # INCOMPLETE: reported, verdict unchanged


def verify_segments(
    listing: SegmentListing,
    public_key: Ed25519PublicKey,
    expect: Expectations = _NO_EXPECTATIONS,
) -> Report:
    """Verify the gap-free run of segments from 1, and report what else the store holds.

    Time and memory are O(segments listed): a number far beyond the others (a segment
    named 99999999999999) is reported as extra, never as billions of missing numbers."""
    numbered, missing, extra = _numbering(listing)
    present = tuple(segment.number for segment in numbered)
    run = [s for i, s in enumerate(numbered, start=1) if s.number == i]
    report = verify_transcript(b"".join(s.data for s in run), public_key, expect)
    problems: list[str] = []
    prev = fmt.GENESIS_PREV
    for index, segment in enumerate(run):
        try:
            described = describe("unchecked", segment.number, segment.data, prev=prev)
        except ValueError as exc:
            problems.append(f"segment {segment.number} is not as hgate writes it: {exc}")
            break
        prev = described.chain_head
        if described.final:
            extra.extend(f"{s.name} (after the seal)" for s in run[index + 1 :])
            break
    if missing:
        problems.insert(0, f"segment(s) {_ranges(missing)} missing before segment {present[-1]}")
    if extra:
        problems.append("objects hgate never writes there: " + abridged(extra))
    segments = SegmentReport(
        location=listing.location, present=present, missing=missing, extra=tuple(extra)
    )
    if not problems:
        detail = f"{len(present)} segment(s), none missing or extra"
        reason = report.reason
        if report.verdict is Verdict.INCOMPLETE:
            reason += f"; the store holds segments 1-{present[-1]} and no seal"
        checks = (*report.checks, Check(name="segments", status="pass", detail=detail))
        return replace(report, reason=reason, checks=checks, segments=segments)
    detail = "; ".join(problems)
    checks = (*report.checks, Check(name="segments", status="fail", detail=detail))
    if report.verdict is Verdict.INVALID:
        reason = f"{report.reason}; {detail}"
        return replace(report, reason=reason, checks=checks, segments=segments)
    lines = sum(s.data.count(b"\n") for s in run)
    first_break = report.first_break or Break(line=lines + 1, what=problems[0])
    verified = f"segments 1-{len(run)}" if run else "no segment 1"
    return replace(
        report,
        verdict=Verdict.INVALID,
        reason=f"{detail} ({verified}: {report.verdict.name}, {report.reason})",
        first_break=first_break,
        checks=checks,
        segments=segments,
    )


def _numbering(
    listing: SegmentListing,
) -> tuple[list[StoredSegment], tuple[int, ...], list[str]]:
    """(the segments in number order, the numbers missing between them, the extra entries).

    A number below 1, a second segment under one number, and every segment after a gap
    that would take the missing numbers past `_MAX_MISSING` are extra: a store hgate
    wrote has none of them, and listing that many missing numbers would cost more than
    the store holds."""
    extra = list(listing.extra)
    numbered: list[StoredSegment] = []
    missing: list[int] = []
    for segment in sorted(listing.segments, key=lambda s: s.number):
        last = numbered[-1].number if numbered else 0
        gap = segment.number - last - 1
        if segment.number < 1:
            extra.append(f"{segment.name} (not a segment number)")
        elif gap < 0:
            extra.append(f"{segment.name} (a second segment {segment.number})")
        elif len(missing) + gap > _MAX_MISSING:
            after = f"segment {last}" if last else "the start"
            extra.append(f"{segment.name} (numbered {segment.number}, far after {after})")
        else:
            missing.extend(range(last + 1, segment.number))
            numbered.append(segment)
    return numbered, tuple(missing), extra


_SHOWN_NAMES = 10


def abridged(names: list[str] | tuple[str, ...]) -> str:
    """The first few names and how many more: a store flooded with objects must still
    give one readable line (the report's `segments.extra` keeps them all)."""
    shown = ", ".join(printable(name[:200]) for name in names[:_SHOWN_NAMES])
    if len(names) > _SHOWN_NAMES:
        shown += f" and {len(names) - _SHOWN_NAMES} more"
    return shown


def _ranges(numbers: tuple[int, ...]) -> str:
    """(3, 4, 5, 9) -> '3-5, 9'."""
    parts: list[str] = []
    start = end = numbers[0]
    for number in numbers[1:]:
        if number == end + 1:
            end = number
            continue
        parts.append(f"{start}-{end}" if end > start else str(start))
        start = end = number
    parts.append(f"{start}-{end}" if end > start else str(start))
    return ", ".join(parts)
