"""`hgate replay`: show a past session's masked output again, with its timing."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from hgate.cli.console import err_console, write_out
from hgate.cli.evidence import KeyOption, TranscriptArgument, exit_for_verdict, load_report
from hgate.errors import UsageError


def replay(
    transcript: TranscriptArgument,
    key: KeyOption = None,
    speed: Annotated[
        float, typer.Option("--speed", help="Play faster (2) or slower (0.5) than recorded.")
    ] = 1.0,
    no_delay: Annotated[
        bool, typer.Option("--no-delay", help="Print everything at once, no pauses.")
    ] = False,
    max_delay: Annotated[
        float, typer.Option("--max-delay", help="Longest pause, in seconds, after --speed.")
    ] = 5.0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No verdict line on stderr.")
    ] = False,
) -> None:
    """Replay the masked output of a session as the CI log showed it.

    The output goes to stdout; with --key the verdict is printed first, on stderr.
    """
    if speed <= 0 or max_delay < 0:
        raise UsageError("--speed must be positive and --max-delay not negative")
    from hgate.report.events import printable
    from hgate.report.replay import replay_frames

    view, report = load_report(transcript, key)
    if not quiet:
        said = f"{report.session_id} ({report.verdict}: {report.verdict_reason})"
        err_console.print(
            f"hgate: replaying {printable(said)}",
            markup=False,
            style="dim",
        )
    for frame in replay_frames(view, speed=speed, max_delay=max_delay):
        if not no_delay and frame.delay > 0:
            write_out("", flush=True)
            time.sleep(frame.delay)
        write_out(frame.text, flush=False)
    write_out("", flush=True)
    exit_for_verdict(report)
