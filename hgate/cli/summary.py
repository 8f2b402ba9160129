"""`hgate summary`: the CI job summary, step outputs and annotations for one session.

The GitHub Action and the GitLab template call it after `hgate run`, whatever the run's
outcome: with the transcript it summarises the session (verified with `--key`); when
the run refused before writing one, it says so and quotes hgate's error line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hgate.cli.console import write_out
from hgate.cli.evidence import (
    JsonOption,
    KeyOption,
    QuietOption,
    exit_for_verdict,
    load_report,
    read_input,
)
from hgate.cli.workflow_commands import (
    annotation,
    append_text,
    check_appendable,
    in_github_actions,
)
from hgate.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from hgate.report import SessionReport
    from hgate.report.summary import SummaryFormat

NOT_STARTED = "NONE"
MAX_LOG_BYTES = 16 << 20  # hgate run's stderr: its error line is near the end


def summary(
    transcript: Annotated[
        Path,
        typer.Argument(
            help="The transcript, or the directory `hgate run --out` wrote it to.",
            show_default=False,
        ),
    ],
    key: KeyOption = None,
    fmt: Annotated[str, typer.Option("--format", help="github, gitlab or text.")] = "text",
    append_to: Annotated[
        Path | None,
        typer.Option("--append-to", help="Append the summary to this file ($GITHUB_STEP_SUMMARY)."),
    ] = None,
    outputs_to: Annotated[
        Path | None,
        typer.Option(
            "--outputs-to",
            help="Append session-id, transcript, verdict, exit-code ($GITHUB_OUTPUT).",
        ),
    ] = None,
    dotenv: Annotated[
        Path | None,
        typer.Option(
            "--dotenv",
            help="Append HGATE_SESSION_ID, HGATE_TRANSCRIPT, HGATE_VERDICT ($GITHUB_ENV, or "
            "a GitLab dotenv report).",
        ),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="hgate run's stderr: its error line is quoted if no session."),
    ] = None,
    exit_code: Annotated[
        int | None, typer.Option("--exit-code", help="hgate run's exit code.")
    ] = None,
    annotations: Annotated[
        bool | None,
        typer.Option(
            "--annotations/--no-annotations",
            help="GitHub annotations for blocked actions and a failed verification "
            "(default: on in GitHub Actions with --format github).",
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Summarise a session for a CI job: identity, policy, masked counts, actions, verdict."""
    from hgate.report import FORMATS, render_summary
    from hgate.report.summary import render_not_started

    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", remedy="use github, gitlab or text")
    style: SummaryFormat = "github" if fmt == "github" else "gitlab" if fmt == "gitlab" else "text"
    files = {"--append-to": append_to, "--outputs-to": outputs_to, "--dotenv": dotenv}
    for option, file in files.items():  # all or nothing: no summary without its outputs
        if file is not None:
            check_appendable(file, option)
    path = _find(transcript)
    report = load_report(path, key)[1] if path is not None else None
    values = {
        "session-id": report.session_id if report else "",
        "transcript": str(path) if path else "",
        "verdict": report.verdict if report else NOT_STARTED,
        "exit-code": _exit_text(report, exit_code),
    }
    if json_output:
        write_out(json.dumps({**values, "report": report.to_dict() if report else None}, indent=2))
        write_out("\n")
    if report is None:
        text = render_not_started(style, exit_code=exit_code, error=_error_line(log))
    else:
        hint = f"hgate verify {path} --key {key}" if key is not None else ""
        text = render_summary(report, style, verify_hint=hint)
    if append_to is not None:
        append_text(append_to, text + "\n", "--append-to")
    if outputs_to is not None:
        lines = "".join(f"{k}={_one_line(v)}\n" for k, v in values.items())
        append_text(outputs_to, lines, "--outputs-to")
    if dotenv is not None:
        names = {"session-id": "HGATE_SESSION_ID", "transcript": "HGATE_TRANSCRIPT"}
        names["verdict"] = "HGATE_VERDICT"
        lines = "".join(f"{names[k]}={_one_line(values[k])}\n" for k in names)
        append_text(dotenv, lines, "--dotenv")
    if not json_output and not quiet:
        shown = text if append_to is None or style != "github" else _plain(report, exit_code, log)
        write_out(shown)
    if report is not None and (annotations if annotations is not None else _auto(style)):
        _annotate(report)
    exit_for_verdict(report)


def _find(target: Path) -> Path | None:
    """The transcript itself, or the one in a directory (None: there is none).

    `hgate run --out` gives each session a directory of its own, and the agent may write
    there: a second transcript in it (a cut copy of the session's own, with a modification
    time in the future) would otherwise be summarised instead, with the session's
    blocked actions gone. Which one is the session's is not for this command to guess."""
    from hgate.report.events import printable

    if target.is_dir():
        found = sorted(target.glob("*.jsonl"))
        if len(found) > 1:
            names = ", ".join(printable(p.name) for p in found[:5])
            raise ConfigError(
                f"{printable(str(target))} holds {len(found)} transcripts ({names}"
                f"{', …' if len(found) > 5 else ''}): which is the session's is not known",
                remedy="name the transcript file, hgate run's `transcript` output",
            )
        return found[0] if found else None
    if not target.exists():
        raise ConfigError(f"transcript {target} does not exist")
    return target


def _plain(report: SessionReport | None, exit_code: int | None, log: Path | None) -> str:
    from hgate.report import render_summary
    from hgate.report.summary import render_not_started

    if report is None:
        return render_not_started("text", exit_code=exit_code, error=_error_line(log))
    return render_summary(report, "text")


def _exit_text(report: SessionReport | None, given: int | None) -> str:
    if given is not None:
        return str(given)
    return str(report.exit_code) if report is not None and report.exit_code is not None else ""


def _error_line(log: Path | None) -> str:
    """The last `hgate: error:` line hgate run wrote (it never contains a secret value).

    The log is evidence, not input the summary needs: one that is missing or unusable
    (run never started, a FIFO, too big) is quoted as nothing, and never blocks."""
    if log is None:
        return ""
    try:
        data = read_input(log, "log", limit=MAX_LOG_BYTES)
    except ConfigError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    errors = [line for line in lines if line.startswith("hgate: error:")]
    return errors[-1][:2000] if errors else ""


def _annotate(report: SessionReport) -> None:
    """Annotations for the job log: their text is the agent's (a command line, a reason
    quoting it), made printable so no escape sequence reaches the log's renderer."""
    from hgate.report.events import printable

    out = []
    for action in report.actions:
        title = "hgate approved an action" if action.outcome == "approved" else "hgate blocked"
        level = "notice" if action.outcome == "approved" else "warning"
        text = f"rule {action.rule}: {action.subject}" + (
            f" ({action.reason})" if action.reason else ""
        )
        out.append(annotation(level, printable(text), title=title))
    if report.verdict not in ("VALID", "UNVERIFIED"):
        level = "warning" if report.verdict == "INCOMPLETE" else "error"
        said = printable(f"{report.verdict}: {report.verdict_reason}")
        out.append(annotation(level, said, title="hgate transcript"))
    write_out("".join(line + "\n" for line in out))


def _auto(style: SummaryFormat) -> bool:
    return style == "github" and in_github_actions()


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")
