"""Shared by the reporting commands: read a transcript, verify it when a key is given.

`show`, `replay`, `report` and `summary` take the same TRANSCRIPT and `--key`, so they
agree on the verdict; without a key they still render, marked UNVERIFIED. A file that is
not a transcript at all is refused, and a view whose verdict is MALFORMED exits 5 once
shown: both with the code `hgate verify` gives MALFORMED.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hgate.errors import TranscriptMalformed

if TYPE_CHECKING:
    from hgate.report import SessionReport, Transcript

MALFORMED = "MALFORMED"  # hgate.audit.Verdict.MALFORMED.name (the audit package loads lazily)

TranscriptArgument = Annotated[
    Path,
    typer.Argument(help="The transcript file (<session_id>.jsonl).", show_default=False),
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="The signer's public key (hgate.pub): verify before showing. Without it the "
        "view is marked UNVERIFIED.",
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only what matters: verdict and notable events.")
]


def load_report(transcript: Path, key: Path | None) -> tuple[Transcript, SessionReport]:
    """Verify first (when a key is given), then read with each line's attestation known.

    A file that is not a transcript at all is refused (TranscriptMalformed, exit 5)."""
    from hgate.audit import load_public_key, verify_transcript
    from hgate.report import build_report, not_a_transcript, read_transcript

    verification = None
    if key is not None:
        verification = verify_transcript(transcript, load_public_key(key))
    attested = verification.attested_through if verification is not None else None
    view = read_transcript(transcript, attested_through=attested)
    if (problem := not_a_transcript(view)) is not None:
        raise TranscriptMalformed(f"{transcript} is not an hgate transcript: {problem}")
    return view, build_report(view, verification)


def exit_for_verdict(report: SessionReport | None) -> None:
    """After a view is shown: a MALFORMED verdict exits 5, as `hgate verify` does."""
    if report is not None and report.verdict == MALFORMED:
        raise typer.Exit(TranscriptMalformed.exit_code)
