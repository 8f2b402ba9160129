"""Input files named on the command line, and the reporting commands' transcript.

One rule for every command (docs/commands.md): a file hgate reads whole that is
missing, not a regular file (a directory; a FIFO or device, which could block or never
end), unreadable, over its size limit or not UTF-8 where text is expected, is one
ConfigError line naming it (exit 67); policies are the loader's (65). click's own path
checks would say some of this as a usage error (2) in a four-line block, so the commands
leave the checking to hgate (`FilesCheckedByHgate`).

`show`, `replay`, `report` and `summary` take the same TRANSCRIPT and `--key`, so they
agree on the verdict; without a key they still render, marked UNVERIFIED. A file that is
not a transcript at all is refused, and a view whose verdict is MALFORMED exits 5 once
shown: both with the code `hgate verify` gives MALFORMED.
"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from hgate.errors import ConfigError, TranscriptMalformed
from hgate.regular_files import NotRegularFile, open_regular

if TYPE_CHECKING:
    from hgate.report import SessionReport, Transcript

MALFORMED = "MALFORMED"  # hgate.audit.Verdict.MALFORMED.name (the audit package loads lazily)
MAX_TRANSCRIPT_BYTES = 1 << 30  # read whole, twice over (verify, then the view)


class FilesCheckedByHgate(TyperCommand):
    """A command whose path arguments hgate checks when it uses them, not click.

    click refuses a directory, a file, or an unreadable path as a usage error (exit 2,
    four lines) before the command runs, while a missing one reaches the command (67):
    the same mistake would get two codes. With its checks off, the reader says it once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if hasattr(param.type, "dir_okay"):  # a Path type (typer's click or click's)
                for check, value in (
                    ("readable", False),
                    ("writable", False),
                    ("dir_okay", True),
                    ("file_okay", True),
                ):
                    setattr(param.type, check, value)


def read_input(path: Path, what: str, *, limit: int, located: bool = False) -> bytes:
    """The whole of a regular file of at most `limit` bytes, or one ConfigError (67) line:
    `cannot read WHAT PATH: why` (`PATH: cannot read WHAT: why` when `located`, for files
    whose other errors are `PATH:line:col`). Opened once, non-blocking: a FIFO swapped in
    after a check would still be refused unread."""

    def refuse(why: str) -> ConfigError:
        if located:
            return ConfigError(f"{path}: cannot read {what}: {why}")
        return ConfigError(f"cannot read {what} {path}: {why}")

    try:
        with open_regular(path) as handle:
            data = handle.read(limit + 1)
    except NotRegularFile as exc:
        raise refuse("it is a directory" if stat.S_ISDIR(exc.mode) else str(exc)) from None
    except OSError as exc:
        raise refuse(exc.strerror or type(exc).__name__) from None
    if len(data) > limit:
        raise refuse(
            f"larger than {f'{limit >> 20} MiB' if limit >= 1 << 20 else f'{limit >> 10} KiB'}"
        )
    return data


def read_text_input(path: Path, what: str, *, limit: int) -> str:
    """`read_input` decoded as UTF-8; the first undecodable byte is named by line:col."""
    raw = read_input(path, what, limit=limit, located=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        from hgate.policy.document import byte_position

        where = byte_position(raw, exc.start)
        raise ConfigError(f"{path}:{where}: {what} is not valid UTF-8") from None


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

    public_key = load_public_key(key) if key is not None else None
    data = read_input(transcript, "transcript", limit=MAX_TRANSCRIPT_BYTES)
    verification = None
    if public_key is not None:
        verification = verify_transcript(data, public_key)  # the bytes the view shows
    attested = verification.attested_through if verification is not None else None
    view = read_transcript(data, attested_through=attested)
    view = dataclasses.replace(view, source=str(transcript))
    if (problem := not_a_transcript(view)) is not None:
        raise TranscriptMalformed(f"{transcript} is not an hgate transcript: {problem}")
    return view, build_report(view, verification)


def exit_for_verdict(report: SessionReport | None) -> None:
    """After a view is shown: a MALFORMED verdict exits 5, as `hgate verify` does."""
    if report is not None and report.verdict == MALFORMED:
        raise typer.Exit(TranscriptMalformed.exit_code)
