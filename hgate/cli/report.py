"""`hgate report`: the auditor's page — one self-contained HTML file — or the same facts as
JSON or text."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from hgate.cli.console import console, err_console, write_json, write_out
from hgate.cli.evidence import (
    JsonOption,
    KeyOption,
    QuietOption,
    TranscriptArgument,
    exit_for_verdict,
    load_report,
)
from hgate.errors import ConfigError


def report(
    transcript: TranscriptArgument,
    key: KeyOption = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write the HTML report here (one file, no network)."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Report on a session: verdict first, identity and policy, charts, timeline.

    With --html, writes one self-contained page; with --json, prints the report model;
    otherwise prints a short text summary.
    """
    from hgate.report import render_html, render_summary

    _, model = load_report(transcript, key)
    if html is not None:
        _write(html, render_html(model))
        if not quiet and not json_output:
            err_console.print(f"hgate: wrote {html} ({model.verdict})", markup=False)
    if json_output:
        write_json(model.to_dict())
    elif html is None and not quiet:
        write_out(render_summary(model, "text"))
    elif html is None:
        console.print(model.verdict, markup=False)
    exit_for_verdict(model)


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a half-written report must not pass for a report.

    Any place that cannot take the file (missing or read-only directory, a directory in
    the way) is one ConfigError line, exit 67."""
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory", remedy="name a file")
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a read-only file system refuses even this
            partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
