"""`hgate mask` (filter old logs with the session's engine) and `hgate policy test`."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from hgate.cli.console import console, err_console, reader_gone
from hgate.cli.evidence import read_text_input
from hgate.errors import ConfigError

CHUNK = 1 << 20
EXIT_FIXTURE_FAILED = 1
PROGRESS_FROM = 16 << 20  # a file this big takes a second or more: show how far it is
MAX_FIXTURE_BYTES = 16 << 20  # reviewed cases, read whole


def _policy_path(policy: Path | None) -> Path:
    from hgate.policy.loader import shipped_policies_dir

    return policy if policy is not None else shipped_policies_dir() / "local.yaml"


def mask(
    file: Annotated[
        Path | None, typer.Argument(help="File to mask; stdin when omitted or '-'.")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            "-p",
            help="Policy whose mask set to use. Default: the shipped local policy.",
            readable=False,  # the loader says what is wrong with it (exit 65)
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Mask a file or stdin to stdout, line for line, with the same engine `hgate run` uses.

    Tokens are keyed per run: the same value gets the same token within one run only.
    """
    import secrets

    from hgate.mask import LineAssembler, MaskingStream
    from hgate.policy.loader import load_policy
    from hgate.session.masking import build_masker

    loaded = load_policy(_policy_path(policy))
    masker, engine = build_masker(loaded.mask, key=secrets.token_bytes(32), env=os.environ)
    stream = MaskingStream(masker, LineAssembler())
    source = sys.stdin.buffer if file is None or str(file) == "-" else _open_input(file)
    out = sys.stdout.buffer
    total = 0
    try:
        with source, _progress(source) as advance:
            while chunk := source.read(CHUNK):
                total += len(chunk)
                out.write(stream.feed_display(chunk))
                advance(len(chunk))
            out.write(stream.close_display())
        out.flush()
    except BrokenPipeError:  # `hgate mask big.log | head`: the reader has what it wanted
        reader_gone(sys.stdout)
        return
    if not quiet:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(stream.kinds_seen.items())) or "none"
        err_console.print(
            f"hgate: masked {sum(stream.kinds_seen.values())} value(s) in {total} bytes "
            f"(engine {engine}): {kinds}",
            markup=False,
        )


def _open_input(file: Path) -> BinaryIO:
    """FILE, read as a stream like stdin: a FIFO (`<(zcat old.log.gz)`) is fine, a
    directory or a file that cannot be opened is one ConfigError line (exit 67)."""
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        raise ConfigError(f"file to mask {file} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"file to mask {file} is a directory, not a file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot read file to mask {file}: {reason}") from None
    if stat.S_ISDIR(os.fstat(handle.fileno()).st_mode):  # open() of a directory can succeed
        handle.close()
        raise ConfigError(f"file to mask {file} is a directory, not a file")
    return handle


@contextlib.contextmanager
def _progress(source: BinaryIO) -> Iterator[Callable[[int], object]]:
    """A transient bar on stderr while a big file is masked, when stderr is a terminal
    that the masked output is not going to (`hgate mask big.log > clean.log`)."""
    try:
        info = os.fstat(source.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else 0
    except (OSError, ValueError):
        size = 0
    if size < PROGRESS_FROM or not err_console.is_terminal or sys.stdout.isatty():
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("hgate: masking"), BarColumn(), DownloadColumn())
    with Progress(
        *columns, TransferSpeedColumn(), TimeRemainingColumn(), console=err_console, transient=True
    ) as progress:
        task = progress.add_task("mask", total=size)
        yield lambda n: progress.advance(task, n)


def test(
    policy: Annotated[
        Path,
        typer.Argument(help="The policy to test.", readable=False),  # the loader checks it
    ],
    fixture: Annotated[
        Path,
        typer.Argument(
            help="Fixture file: '+ ' lines with {{values}} to mask, '= ' lines to keep.",
            readable=False,  # read below: one line and exit 67 for any problem
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Check a policy's masking against reviewed expectations; exit 1 if any case fails.

    Fixture lines: `+ Patient SSN {{536-22-1234}}` must be masked ({{KIND:value}} also
    checks the kind); `= build 1.2.3 in 45 ms` must pass unchanged; `#` starts a comment.
    A fixture that cannot be read or is not in this format (also a {{KIND:value}} whose
    kind no detector or value reports) exits 67 at fixture:line; the policy, 65.
    """
    import secrets

    from hgate.mask.fixture import FixtureError, run_fixture
    from hgate.policy.loader import load_policy
    from hgate.session.masking import build_masker

    loaded = load_policy(policy)
    masker, engine = build_masker(loaded.mask, key=secrets.token_bytes(32), env={}, check=False)
    lines = _fixture_lines(fixture)
    try:
        report = run_fixture(masker, lines, exact_kinds=(v.kind for v in loaded.mask.values))
    except FixtureError as exc:
        problem = str(exc).removeprefix(f"line {exc.line}: ")  # the location says the line
        raise ConfigError(f"{fixture}:{exc.line}: {problem}") from None
    if json_output:
        console.print_json(
            json.dumps(
                {
                    "policy": str(policy),
                    "engine": engine,
                    "passed": report.passed,
                    "cases": [
                        {
                            "line": c.line,
                            "expectation": c.expectation,
                            "passed": c.passed,
                            "problem": c.problem,
                            "masked": c.masked,
                        }
                        for c in report.cases
                    ],
                }
            )
        )
    else:
        for case in report.failures:
            console.print(
                f"FAIL {fixture}:{case.line} ({case.expectation}): {case.problem}", markup=False
            )
            console.print(f"     masked: {case.masked}", markup=False)
        total, failed = len(report.cases), len(report.failures)
        console.print(
            f"{total - failed} passed, {failed} failed (policy {loaded.name}, engine {engine})",
            markup=False,
        )
    if not report.passed:
        raise typer.Exit(EXIT_FIXTURE_FAILED)


def _fixture_lines(fixture: Path) -> list[str]:
    """The fixture's lines; any problem reading it is one ConfigError line (exit 67)."""
    return read_text_input(fixture, "fixture", limit=MAX_FIXTURE_BYTES).splitlines()
