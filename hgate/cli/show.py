"""`hgate show`: a past session as a timeline in the terminal.

One line per event, so it reads the same in a terminal (coloured: decisions highlighted,
masked findings as coloured tokens) and in a CI log or a pipe (plain lines, no escape
codes; NO_COLOR honoured). Process bookkeeping is folded away unless `--all`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hgate.cli.console import console, write_json
from hgate.cli.evidence import (
    JsonOption,
    KeyOption,
    QuietOption,
    TranscriptArgument,
    exit_for_verdict,
    load_report,
)

if TYPE_CHECKING:
    from rich.text import Text

    from hgate.report import EventView, SessionReport

VERDICT_STYLE = {
    "VALID": "bold green",
    "INCOMPLETE": "bold yellow",
    "INVALID": "bold red",
    "MALFORMED": "bold red",
    "MISMATCH": "bold magenta",
    "UNVERIFIED": "bold",
}
TONE_STYLE = {
    "block": "bold red",
    "approve": "bold green",
    "credential": "bold magenta",
    "error": "bold red",
    "exit": "bold",
    "allow": "dim",
    "info": "dim",
    "output": "",
}
TOKEN_STYLES = ("black on cyan", "black on magenta", "black on yellow", "white on blue")
FOLDED = frozenset({"process", "recorder"})


def show(
    transcript: TranscriptArgument,
    key: KeyOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also show process and recorder events.")
    ] = False,
) -> None:
    """Show a session: verdict, identity, policy, credentials, then the timeline.

    Give --key to verify first; lines past the last signature are marked `!`.
    """
    _, report = load_report(transcript, key)
    if json_output:
        write_json(report.to_dict())
    else:
        _render(report, quiet=quiet, show_all=show_all)
    exit_for_verdict(report)


def _render(report: SessionReport, *, quiet: bool, show_all: bool) -> None:
    from rich.text import Text

    from hgate.report.events import printable
    from hgate.report.summary import facts

    verdict = Text(report.verdict, style=VERDICT_STYLE.get(report.verdict, "bold"))
    said = (printable(report.session_id), " · ", printable(report.verdict_reason))
    console.print(Text.assemble(verdict, " ", *said))
    for label, value in facts(report):
        console.print(Text.assemble((f"  {label:<10} ", "dim"), value))
    masked = ", ".join(f"{kind} {count}" for kind, count in report.findings) or "nothing"
    console.print(Text.assemble(("  masked     ", "dim"), f"{report.masked_total}: {masked}"))
    for credential in report.credentials:
        console.print(Text.assemble(("  credential ", "dim"), (credential.text, "magenta")))
    console.print()
    kinds = [kind for kind, _ in report.findings]
    folded = 0
    for view in report.events:
        if quiet and not (view.notable or view.tone == "exit"):
            continue
        if view.type in FOLDED and not show_all:
            folded += 1
            continue
        for line in _event_lines(view, kinds, report.attested_through):
            console.print(line)
    if folded:
        console.print(Text(f"({folded} process events hidden; --all shows them)", style="dim"))


def _event_lines(view: EventView, kinds: list[str], attested_through: int) -> list[Text]:
    from rich.text import Text

    mark = "!" if attested_through and view.line > attested_through else " "
    prefix = Text.assemble(
        (f"{mark}+{view.offset:.3f}s".ljust(12), "dim"), (f"{view.label:<14} ", _label_style(view))
    )
    if not view.lines:
        return [prefix + Text(view.text, style=TONE_STYLE.get(view.tone, ""))]
    out = []
    for spans in view.lines:
        line = prefix.copy()
        for span in spans:
            if span.kind:
                style = TOKEN_STYLES[kinds.index(span.kind) % len(TOKEN_STYLES)]
                line.append(span.text, style=style if span.kind in kinds else "reverse")
            else:
                line.append(span.text)
        out.append(line)
    return out


def _label_style(view: EventView) -> str:
    if view.tone == "output":
        return "cyan"
    return TONE_STYLE.get(view.tone, "")
