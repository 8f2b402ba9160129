"""`hgate verify`: check a transcript offline with a public key; the exit code is the verdict."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hgate.cli.console import console, untrusted_markup

if TYPE_CHECKING:
    from hgate.audit import VerificationReport

_STYLE = {
    "VALID": "bold green",
    "INCOMPLETE": "bold yellow",
    "INVALID": "bold red",
    "MALFORMED": "bold red",
    "MISMATCH": "bold magenta",
}


def verify(
    transcript: Annotated[
        str,
        typer.Argument(
            help="The transcript: a file (<session_id>.jsonl), a directory of segments, "
            "s3://BUCKET/PREFIX/SESSION_ID or a collector's session URL.",
            show_default=False,
        ),
    ],
    key: Annotated[
        Path,
        typer.Option(
            "--key", help="The signer's public key (hgate.pub or PEM).", show_default=False
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout.")
    ] = False,
    expect_repo: Annotated[
        str | None, typer.Option("--expect-repo", help="Required ci.repository, e.g. org/repo.")
    ] = None,
    expect_run: Annotated[
        str | None, typer.Option("--expect-run", help="Required ci.run_id.")
    ] = None,
    expect_policy_sha256: Annotated[
        str | None, typer.Option("--expect-policy-sha256", help="Required policy SHA-256 (hex).")
    ] = None,
    expect_key_fingerprint: Annotated[
        str | None,
        typer.Option(
            "--expect-key-fingerprint", help="Required key id (SHA256:... as ssh-keygen -l)."
        ),
    ] = None,
    expect_session: Annotated[
        str | None,
        typer.Option(
            "--expect-session",
            help="Required session_id: without it, another session of the same CI run "
            "passes for this one.",
        ),
    ] = None,
    expect_attempt: Annotated[
        str | None,
        typer.Option("--expect-attempt", help="Required ci.run_attempt (a re-run's number)."),
    ] = None,
) -> None:
    """Verify a session transcript offline, with the signer's public key.

    Segmented sources (S3, a collector, a directory of segments) are reassembled; a
    missing segment or an object hgate never writes there makes the verdict INVALID.
    S3 uses the standard AWS credential chain (and AWS_ENDPOINT_URL_S3); a collector
    gets $HGATE_VERIFY_TOKEN as a bearer token when it is set.

    Exit codes: 0 VALID, 3 INCOMPLETE, 4 INVALID, 5 MALFORMED, 6 MISMATCH; 67 (no verdict)
    when the key or the transcript cannot be read.

    Example: hgate verify runs/SESSION.jsonl --key hgate.pub --expect-session SESSION
    """
    from hgate.audit import Expectations, load_public_key, verify_source

    expect = Expectations(
        repo=expect_repo,
        run_id=expect_run,
        policy_sha256=expect_policy_sha256,
        key_fingerprint=expect_key_fingerprint,
        session_id=expect_session,
        run_attempt=expect_attempt,
    )
    report = verify_source(transcript, load_public_key(key), expect, env=os.environ)
    basis = _key_basis(report, key, transcript, expect_key_fingerprint)
    if json_output:
        _print_json({**report.to_dict(), "key_basis": basis})
    else:
        _render(report, transcript, basis)
    raise typer.Exit(report.verdict.exit_code)


def _key_basis(report: VerificationReport, key: Path, transcript: str, pin: str | None) -> str:
    """What the verdict rests on: the key that had to sign, and why the auditor should
    trust it. A key file beside the transcript is no independent source: whoever can
    rewrite the transcript can replace that key too (re-signing with their own)."""
    if pin is not None:
        wanted = pin if pin.startswith("SHA256:") else f"SHA256:{pin}"
        if wanted == report.key_fingerprint:
            return f"--key {key}, pinned by --expect-key-fingerprint"
        return f"--key {key}, NOT the fingerprint pinned by --expect-key-fingerprint"
    if _beside(key, transcript):
        return (
            f"--key {key} lies beside the transcript and is not pinned: anyone who could "
            "rewrite the transcript could replace it; take the key from your own records "
            "or pin it with --expect-key-fingerprint"
        )
    return f"--key {key}, not pinned by fingerprint (--expect-key-fingerprint)"


def _beside(key: Path, transcript: str) -> bool:
    """The key file is in the transcript's directory (or, for a directory of segments,
    inside or beside it): the same place a forger with write access to the store reaches."""
    if transcript.startswith(("s3://", "http://", "https://")):
        return False
    try:
        key_dir = key.resolve().parent
        source = Path(transcript).resolve()
    except (OSError, RuntimeError):
        return False
    places = {source.parent}
    if source.is_dir():
        places.add(source)
    return key_dir in places


def _print_json(payload: dict[str, Any]) -> None:
    """The report as JSON; strings UTF-8 cannot encode (a lone surrogate read from the
    file) make the whole document fall back to \\u escapes, as the transcript writer does."""
    text = json.dumps(payload, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        console.print_json(json.dumps(payload, ensure_ascii=True), ensure_ascii=True)
        return
    console.print_json(text)


def _render(report: VerificationReport, transcript: str, basis: str) -> None:
    """Verdict first; key and identity always; then where it broke and what is attested.

    Everything after the verdict word may come from the transcript or the store, so it
    is printed through `_safe` only."""
    from hgate.audit.reassembly import abridged

    verdict = report.verdict
    _print(f"[{_STYLE[verdict.name]}]{verdict.name}[/] {_safe(report.reason)}")
    _row("transcript", transcript)
    _row("key", report.key_fingerprint)
    _row("trusted as", basis)
    _row("session", report.session_id or "unknown")
    _row("identity", _identity(report))
    for label, value in _binding(report):
        _row(label, value)
    if report.first_break is not None:
        _row("first break", f"line {report.first_break.line}: {report.first_break.what}")
    attested = (
        f"lines 1-{report.attested_through} of {report.lines_total}"
        if report.attested_through
        else f"none of {report.lines_total} lines"
    )
    _row("attested", attested)
    if report.unattested is not None:
        first, last = report.unattested
        _row("unattested", f"lines {first}-{last}")
    if report.segments is not None:
        segments = report.segments
        highest = f", numbered up to {max(segments.present)}" if segments.present else ""
        _row("segments", f"{len(segments.present)} found{highest}")
        if segments.missing:
            _row("missing", abridged([str(number) for number in segments.missing]))
        if segments.extra:
            _row("extra", abridged(segments.extra))
    if report.seal is not None:
        seal = report.seal
        _row("sealed", f"exit code {seal.exit_code}, {seal.reason}, at {seal.ended_at}")
    unsigned_header = not report.header_attested
    for check in report.checks:
        mark = {"pass": "ok", "fail": "FAIL", "skip": "skip"}[check.status]
        if check.status == "pass" and unsigned_header and _from_header(check.name):
            mark = "unattested"  # it holds for what the file says, but nothing signed says it
        _row(f"  {mark}", f"{check.name}: {check.detail}")


def _from_header(check: str) -> bool:
    """A check that compares what the header says: worth nothing unless it is signed."""
    return check == "key" or check.startswith("expect.")


def _identity(report: VerificationReport) -> str:
    identity = report.identity
    if identity is None:
        return "unknown"
    text = f"{_text(identity.get('subject'))} (issuer {_text(identity.get('issuer'))}"
    text += ", token verified)" if identity.get("verified") is True else ", token NOT verified)"
    if not report.header_attested:
        text += " [unattested header]"
    return text


def _binding(report: VerificationReport) -> list[tuple[str, str]]:
    """What binds this transcript to one job: the rule, the token id, the CI run, the policy
    (each marked when the header carrying it is not attested)."""
    rows = _binding_rows(report)
    if not report.header_attested:
        rows = [(label, value + " [unattested header]") for label, value in rows]
    return rows


def _binding_rows(report: VerificationReport) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    identity = report.identity or {}
    if identity.get("rule"):
        rows.append(("rule", _text(identity["rule"])))
    if identity.get("jti"):
        rows.append(("token id", _text(identity["jti"])))
    header = report.header or {}
    ci = identity.get("ci") or header.get("ci")
    if isinstance(ci, dict) and ci:
        run = ", ".join(
            f"{key} {_text(ci[key])}"
            for key in ("provider", "repository", "run_id", "run_attempt", "ref", "sha")
            if ci.get(key)
        )
        rows.append(("ci run", run))
    policy = header.get("policy")
    if isinstance(policy, dict) and policy.get("sha256"):
        rows.append(("policy", f"{_text(policy.get('name'))} sha256 {_text(policy['sha256'])}"))
    return rows


_MAX_SHOWN = 300
"""Characters of one header value shown: a forged header cannot flood the summary."""


def _text(value: Any) -> str:
    """A header value as text (still to go through `_safe`), cut at _MAX_SHOWN; never
    raises. `--json` keeps the header whole."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (ValueError, TypeError, RecursionError):
            return f"<a {type(value).__name__} that cannot be shown>"
    if len(text) > _MAX_SHOWN:
        text = f"{text[:_MAX_SHOWN]}... ({len(text) - _MAX_SHOWN} more characters)"
    return text


_safe = untrusted_markup  # `_print` turns emoji replacement off, so `:x:` stays as typed


def _print(markup: str) -> None:
    """One line of verify's output: `markup` holds rich markup of ours and text that went
    through `_safe`. No emoji codes, no highlighting (the console has none)."""
    console.print(markup, emoji=False)


def _row(label: str, value: str) -> None:
    _print(f"{_safe(label):<12} {_safe(value)}")
