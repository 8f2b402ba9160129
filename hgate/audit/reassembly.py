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
from hgate.audit.report import Break, Check, Expectations, SegmentReport, Verdict
from hgate.audit.report import VerificationReport as Report
from hgate.audit.segments import describe
from hgate.audit.sources import SegmentListing, read_source
from hgate.audit.verify import verify_transcript

__all__ = ["verify_segments", "verify_source"]

_NO_EXPECTATIONS = Expectations()


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
        return verify_transcript(source, public_key, expect)
    return verify_segments(source, public_key, expect)


def verify_segments(
    listing: SegmentListing,
    public_key: Ed25519PublicKey,
    expect: Expectations = _NO_EXPECTATIONS,
) -> Report:
    """Verify the gap-free run of segments from 1, and report what else the store holds."""
    present = tuple(segment.number for segment in listing.segments)
    missing = tuple(sorted(set(range(1, present[-1] + 1)) - set(present)))
    run = [s for i, s in enumerate(listing.segments, start=1) if s.number == i]
    report = verify_transcript(b"".join(s.data for s in run), public_key, expect)
    problems: list[str] = []
    extra = list(listing.extra)
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
        problems.append("objects hgate never writes there: " + ", ".join(extra))
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
    return replace(
        report,
        verdict=Verdict.INVALID,
        reason=f"{detail} (segments 1-{len(run)}: {report.verdict.name}, {report.reason})",
        first_break=first_break,
        checks=checks,
        segments=segments,
    )


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
