"""The job summary a CI run shows next to its log: GitHub Markdown, or plain text (with
GitLab's collapsible-section markers for a GitLab job log).

Short on purpose: who, under which policy, what was masked (counts by type, never a
value), every blocked or approved action, and whether the transcript verified.
"""

from __future__ import annotations

import time
from typing import Literal

from hgate.report.events import printable
from hgate.report.model import SessionReport

SummaryFormat = Literal["github", "gitlab", "text"]
FORMATS: tuple[SummaryFormat, ...] = ("github", "gitlab", "text")
VERDICT_MARK = {
    "VALID": "✅",
    "INCOMPLETE": "⚠️",
    "INVALID": "❌",
    "MALFORMED": "❌",
    "MISMATCH": "❌",
    "UNVERIFIED": "❔",
}
OUTCOME_MARK = {"approved": "✅ approved"}
MAX_ACTIONS = 50  # a summary lists this many; `hgate show` and the HTML report list more
# What starts Markdown in a line of GitHub's: links and images, emphasis, code, headings,
# strike-through, table cells, math; each taken literally after a backslash (CommonMark
# 2.4). `&`, `<`, `>` become entities instead: no raw HTML, no character reference.
MARKDOWN_PUNCTUATION = frozenset("!#$*[\\]_`|~")


def render_summary(
    report: SessionReport, fmt: SummaryFormat, *, verify_hint: str = "", clock: float | None = None
) -> str:
    if fmt == "github":
        return _markdown(report, verify_hint)
    text = _text(report, verify_hint)
    return _gitlab_section(text, clock) if fmt == "gitlab" else text


def _gitlab_section(text: str, clock: float | None) -> str:
    """GitLab's collapsible job-log section; its first line is the section's title."""
    stamp = int(time.time() if clock is None else clock)
    start = f"\x1b[0Ksection_start:{stamp}:hgate_summary[collapsed=false]\r\x1b[0K"
    return f"{start}{text}\x1b[0Ksection_end:{stamp}:hgate_summary\r\x1b[0K\n"


def facts(report: SessionReport) -> list[tuple[str, str]]:
    """The label/value rows every summary starts with, made printable: the header is the
    writer's, but a forged file chooses it, and a git ref in it is a branch's author's."""
    rows = [("identity", report.describe_identity())]
    policy = report.policy
    if policy:
        rows.append(("policy", f"{policy.get('name')} (sha256 {str(policy.get('sha256'))[:16]}…)"))
    ci = report.ci
    if ci.get("repository"):
        run = f"{ci.get('provider', 'ci')} {ci['repository']} run {ci.get('run_id', '?')}"
        rows.append(("ci run", run + (f" {ci['url']}" if ci.get("url") else "")))
    if report.command:
        rows.append(("command", report.command))
    rows.append(("ended", _ending(report)))
    return [(label, printable(value)) for label, value in rows]


def _ending(report: SessionReport) -> str:
    code = "no exit code" if report.exit_code is None else f"exit {report.exit_code}"
    return (
        f"{code}, {report.end_reason or 'not sealed'}, {report.duration:.1f}s, "
        f"{report.output_lines} output lines"
    )


def _markdown(report: SessionReport, verify_hint: str) -> str:
    mark = VERDICT_MARK.get(report.verdict, "❔")
    out = [
        f"### {mark} hgate session {_code(report.session_id)}: {report.verdict}",
        "",
        f"> {_cell(report.verdict_reason)}",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| **{label}** | {_cell(value)} |" for label, value in facts(report)]
    out += ["", f"#### Masked findings: {report.masked_total}", ""]
    if report.findings:
        out += ["| type | count |", "|---|---:|"]
        out += [f"| {_code(kind)} | {count} |" for kind, count in report.findings]
    else:
        out.append("Nothing was masked.")
    out += ["", f"#### Blocked and approved actions: {len(report.actions)}", ""]
    if report.actions:
        out += ["| at | outcome | rule | action | reason |", "|---|---|---|---|---|"]
        for a in report.actions[:MAX_ACTIONS]:
            outcome = OUTCOME_MARK.get(a.outcome, f"🚫 {a.outcome}")
            out.append(
                f"| +{a.offset:.1f}s | {outcome} | {_code(a.rule)} | {_code(a.subject)} "
                f"| {_cell(a.reason)} |"
            )
        out += _more(report)
    else:
        out.append("None: no command, statement or input was blocked or needed approval.")
    if report.credentials:
        out += ["", "#### Credentials", ""]
        out += [f"- {_cell(c.label)}: {_cell(c.text)}" for c in report.credentials]
    if verify_hint:
        out += ["", f"Verify offline: {_code(verify_hint)}"]
    return "\n".join(printable(line) for line in out) + "\n"


def _text(report: SessionReport, verify_hint: str) -> str:
    out = [f"hgate session {report.session_id}: {report.verdict} ({report.verdict_reason})"]
    out += [f"  {label:<10} {value}" for label, value in facts(report)]
    masked = ", ".join(f"{kind} {count}" for kind, count in report.findings) or "nothing"
    out.append(f"  {'masked':<10} {report.masked_total}: {masked}")
    for a in report.actions[:MAX_ACTIONS]:
        label = "approved" if a.outcome == "approved" else a.outcome
        reason = f" ({a.reason})" if a.reason else ""
        out.append(f"  {label:<10} +{a.offset:.1f}s rule {a.rule}: {a.subject}{reason}")
    out += [f"  {'':<10} {line}" for line in _more(report) if line]
    if not report.actions:
        out.append(f"  {'actions':<10} none blocked or approved")
    out += [f"  {'credential':<10} {c.label}: {c.text}" for c in report.credentials]
    if verify_hint:
        out.append(f"  {'verify':<10} {verify_hint}")
    return "\n".join(printable(line) for line in out) + "\n"


def _more(report: SessionReport) -> list[str]:
    """The actions a summary leaves out, counted: GitHub refuses a step summary over 1 MiB
    whole (the verdict with it), and a flood of blocked actions must not get it there."""
    rest = len(report.actions) - MAX_ACTIONS
    if rest <= 0:
        return []
    return ["", f"… and {rest} more blocked or approved actions: `hgate show` lists them all."]


def _cell(text: str) -> str:
    """Markdown that renders as the text itself, in one table cell: Markdown's punctuation
    taken literally, so the agent's `![x](https://…)` is no image (which every viewer's
    browser would fetch), `### VALID` no heading, `$…$` no math, `|` no new cell; no raw
    HTML; one line. (A bare `https://…` may still be auto-linked: a link, never a fetch.)"""
    literal = "".join(
        f"\\{c}" if c in MARKDOWN_PUNCTUATION else c
        for c in text.replace("\n", " ").replace("\r", " ")
    )
    return literal.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Inline code that survives backticks and pipes (GFM tables take `\\|` in code)."""
    if not text:
        return ""
    body = text.replace("\n", " ").replace("\r", " ").replace("|", "\\|")
    longest = max((len(r) for r in _backtick_runs(body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _backtick_runs(text: str) -> list[str]:
    runs, current = [], ""
    for char in text:
        if char == "`":
            current += char
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


EXIT_MEANINGS = {
    2: "command-line usage error",
    65: "the policy does not load or validate",
    66: "identity refused",
    67: "a key or file hgate needs is missing or unusable",
    68: "an ephemeral credential could not be issued",
    70: "internal error",
    73: "the transcript sink cannot be written",
    76: "masking failed its self-test",
    126: "the agent command is not executable",
    127: "the agent command was not found",
}


def render_not_started(
    fmt: SummaryFormat, *, exit_code: int | None, error: str, clock: float | None = None
) -> str:
    """The summary when `hgate run` refused before writing a transcript (fail closed)."""
    meaning = EXIT_MEANINGS.get(exit_code or 0, "")
    code = "unknown exit code" if exit_code is None else f"exit code {exit_code}"
    why = f"{code}" + (f": {meaning}" if meaning else "")
    error = printable(error)
    if fmt == "github":
        lines = ["### ❌ hgate: the session did not start", "", f"**{_cell(why)}**", ""]
        lines += [f"> {_cell(error)}" if error else "> (no error line was captured)", ""]
        lines.append("No agent ran and no transcript was written.")
        return "\n".join(lines) + "\n"
    text = f"hgate: the session did not start ({why})\n" + (f"  {error}\n" if error else "")
    return _gitlab_section(text, clock) if fmt == "gitlab" else text
