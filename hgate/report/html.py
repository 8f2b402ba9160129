"""`hgate report --html`: one self-contained page an auditor would rather read than JSON.

Verdict first, then who ran what under which policy, the numbers, two charts, every
blocked or approved action, the credentials, and the full timeline with masked findings
shown as coloured tokens. Inline CSS and SVG only; a Content-Security-Policy of
`default-src 'none'` makes the browser refuse any network load or script, so the page
reads the same offline, years later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from importlib.resources import files
from typing import Any

from hgate import __version__
from hgate.report.charts import decisions_over_time, findings_bars, kind_colors
from hgate.report.events import EventView, Span, printable
from hgate.report.model import SessionReport

MAX_TIMELINE = 2500
MAX_TIMELINE_CHARS = 6_000_000  # the timeline's HTML: a browser still opens the page
MAX_ACTIONS = 1000
MAX_DOTS = 300  # per lane of the decisions chart; its counts are always all of them
NEUTRAL = "#57606a"
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
TONE = {
    "VALID": "var(--valid)",
    "INCOMPLETE": "var(--warn)",
    "INVALID": "var(--bad)",
    "MALFORMED": "var(--bad)",
    "MISMATCH": "var(--odd)",
}
ICON = {
    "VALID": '<path d="M7 16.5l6 6L25 10" stroke="#fff" stroke-width="4" fill="none" '
    'stroke-linecap="round" stroke-linejoin="round"/>',
    "INCOMPLETE": '<path d="M16 7v11M16 24v1" stroke="#fff" stroke-width="4" '
    'stroke-linecap="round"/>',
    "UNVERIFIED": '<path d="M11.5 12a4.5 4.5 0 1 1 6.5 4c-1.3.7-2 1.6-2 3M16 24.5v.5" '
    'stroke="#fff" stroke-width="3.4" fill="none" stroke-linecap="round"/>',
}
CROSS = '<path d="M9 9l14 14M23 9L9 23" stroke="#fff" stroke-width="4" stroke-linecap="round"/>'
LOGO = (
    '<svg viewBox="0 0 24 24"><path d="M12 2l8 3v6c0 5-3.4 9.3-8 11-4.6-1.7-8-6-8-11V5z" '
    'fill="#0969da"/><path d="M8 12l3 3 5-6" stroke="#fff" stroke-width="2.2" fill="none" '
    'stroke-linecap="round" stroke-linejoin="round"/></svg>'
)


def render_html(report: SessionReport) -> str:
    css = files("hgate.report").joinpath("report.css").read_text(encoding="utf-8")
    colors = kind_colors([kind for kind, _ in report.findings])
    body = "".join(
        (
            f'<div class="brand">{LOGO}hgate session report</div>',
            _hero(report),
            _tiles(report),
            _facts(report),
            _charts(report, colors),
            _actions(report),
            _credentials(report),
            _timeline(report, colors),
            _checks(report),
            f"<footer>Written by hgate {escape(__version__)} from "
            f"<code>{escape(report.source)}</code>. This page loads nothing from the "
            "network; masked values are keyed tokens, never the data.</footer>",
        )
    )
    return _inert(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>hgate · {escape(report.verdict)} · {escape(report.session_id)}</title>"
        f"<style>{css}</style></head><body><main>{body}</main></body></html>\n"
    )


def _inert(page: str) -> str:
    """Every character that is not printable, in whatever the page quotes (the header of a
    forged file, a command line with non-UTF-8 bytes), shown as an escape: a bidi
    override would make a line read in another order, and a lone surrogate cannot be
    written at all. The page's own newlines stay; the rest is already HTML-escaped."""
    return "\n".join(printable(part) for part in page.split("\n"))


def _hero(report: SessionReport) -> str:
    tone = TONE.get(report.verdict, "var(--none)")
    icon = ICON.get(report.verdict, CROSS)
    total = max(report.lines_total, 1)
    share = 100 * min(report.attested_through, total) / total
    attested = (
        f"{report.attested_through} of {report.lines_total} lines attested"
        if report.verdict != "UNVERIFIED"
        else "run hgate report with --key to verify"
    )
    return (
        f'<section class="hero" style="--tone:{tone}">'
        f'<div class="verdict"><div class="badge"><svg viewBox="0 0 32 32">{icon}</svg></div>'
        f'<div class="word">{escape(report.verdict)}</div></div>'
        f'<div class="what"><div class="sid">{escape(report.session_id)}</div>'
        f'<div class="reason">{escape(report.verdict_reason)}</div></div>'
        f'<div class="key">signing key<br><code>{escape(report.key_fingerprint)}</code>'
        f'<div class="meter"><span style="width:{share:.1f}%"></span></div>{attested}</div>'
        "</section>"
    )


def _tiles(report: SessionReport) -> str:
    exit_text = "—" if report.exit_code is None else str(report.exit_code)
    tiles = (
        ("mask", str(report.masked_total), "masked findings"),
        ("block", str(len(report.blocked)), "blocked"),
        ("approve", str(len(report.approved)), "approved"),
        ("", str(report.output_lines), "output lines"),
        ("", _duration(report.duration), "duration"),
        ("", exit_text, "exit code"),
    )
    cells = "".join(
        f'<div class="tile {cls}"><div class="n">{escape(n)}</div><div class="l">{label}</div>'
        "</div>"
        for cls, n, label in tiles
    )
    return f'<section class="tiles">{cells}</section>'


def _facts(report: SessionReport) -> str:
    identity, policy, ci = report.identity, report.policy, report.ci
    if identity.get("development"):
        state = '<span class="pill dev">development issuer</span>'
    elif identity.get("verified") is True:
        state = '<span class="pill ok">verified token</span>'
    else:
        state = '<span class="pill no">unverified</span>'
    who = [
        ("subject", _code(identity.get("subject"))),
        ("token", state),
        ("issuer", _code(identity.get("issuer"))),
        ("rule", _code(identity.get("rule"))),
    ]
    if ci.get("repository"):
        run = f"{ci.get('repository')} · run {ci.get('run_id', '?')}"
        who.append(("ci run", _link(ci.get("url"), run)))
    includes = policy.get("includes")
    included = (
        ", ".join(
            escape(str(i.get("path", "")).rsplit("/", 1)[-1])
            for i in includes
            if isinstance(i, dict)
        )
        if isinstance(includes, list)
        else ""
    )
    rules = [
        ("name", f"<b>{escape(str(policy.get('name', '?')))}</b>"),
        ("sha256", _code(policy.get("sha256"))),
        ("file", _code(policy.get("path"))),
    ] + ([("includes", included)] if included else [])
    header = report.header
    session = [
        ("command", _code(report.command)),
        ("host", escape(str(header.get("host", "?")))),
        ("started", escape(str(header.get("started_at", "?")))),
        ("ended", escape(report.end_reason or "not sealed")),
        ("masking", escape(str((header.get("masking") or {}).get("engine", "?")))),
    ]
    return (
        '<section class="grid3">'
        + _card("Identity", _dl(who))
        + _card("Policy", _dl(rules))
        + _card("Session", _dl(session))
        + "</section>"
    )


def _charts(report: SessionReport, colors: Mapping[str, str]) -> str:
    points = []
    for view in report.events:
        if view.type in ("decision", "sql", "input"):
            lane = {"approve": "approved", "block": "blocked"}.get(view.tone, "allowed")
            if view.type != "decision" and lane == "allowed":
                continue
            points.append((view.offset, lane, f"+{view.offset:.2f}s {view.text}"))
    activity = [v.offset for v in report.events if v.type == "output" for _ in v.lines]
    return (
        '<section class="grid2">'
        + _card(
            "Masked findings by type", findings_bars(report.findings, colors), report.masked_total
        )
        + _card(
            "Decisions over time",
            decisions_over_time(points, activity, report.duration, max_dots=MAX_DOTS),
            len(points),
        )
        + "</section>"
    )


def _actions(report: SessionReport) -> str:
    if not report.actions:
        body = '<p class="empty">Nothing was blocked and nothing needed approval.</p>'
    else:
        rows = "".join(
            f'<tr><td class="mono">+{a.offset:.2f}s</td>'
            f'<td><span class="outcome {escape(a.outcome)}">{escape(a.outcome)}</span></td>'
            f"<td>{_code(a.rule)}</td><td>{_code(a.subject)}</td><td>{escape(a.reason)}</td>"
            f'<td class="mono">{a.line}</td></tr>'
            for a in report.actions[:MAX_ACTIONS]
        )
        rest = len(report.actions) - MAX_ACTIONS
        more = (
            f'<p class="empty">… {rest} more actions (see hgate show --json)</p>'
            if rest > 0
            else ""
        )
        body = (
            "<table><tr><th>at</th><th>outcome</th><th>rule</th><th>action</th><th>reason</th>"
            f"<th>line</th></tr>{rows}</table>{more}"
        )
    return (
        f'<section class="card wide"><h2>Blocked and approved actions<span class="count">'
        f"{len(report.actions)}</span></h2>{body}</section>"
    )


def _credentials(report: SessionReport) -> str:
    if not report.credentials:
        return ""
    rows = "".join(
        f'<tr><td class="mono">+{c.offset:.2f}s</td><td>{_code(c.label)}</td>'
        f"<td>{escape(c.text)}</td></tr>"
        for c in report.credentials
    )
    return _card("Credentials", f"<table>{rows}</table>", len(report.credentials), wide=True)


def _timeline(report: SessionReport, colors: Mapping[str, str]) -> str:
    views = report.events
    rows: list[str] = []
    size = 0
    for view in views[:MAX_TIMELINE]:
        rows.append(_row(view, report.attested_through, colors))
        size += len(rows[-1])
        if size > MAX_TIMELINE_CHARS:
            break
    rest = len(views) - len(rows)
    more = f'<p class="empty">… {rest} more events (see hgate show --json)</p>' if rest > 0 else ""
    table = (
        '<table class="timeline"><tr><th>time</th><th>line</th><th>event</th><th>what</th></tr>'
        f"{''.join(rows)}</table>{more}"
    )
    return _card("Timeline", table, len(views), wide=True)


def _row(view: EventView, attested_through: int, colors: Mapping[str, str]) -> str:
    classes: list[str] = [
        view.tone if view.tone in ("block", "approve", "credential", "error") else ""
    ]
    classes.append("output" if view.type == "output" else "exit" if view.tone == "exit" else "")
    if view.tone in ("info", "allow"):
        classes.append("info")
    if view.type in ("process", "recorder"):
        classes.append("quiet")
    if attested_through and view.line > attested_through:
        classes.append("unattested")
    if view.lines:
        what = "<pre>" + "\n".join(_spans(spans, colors) for spans in view.lines) + "</pre>"
    else:
        what = escape(view.text)
    return (
        f'<tr class="{" ".join(c for c in classes if c)}"><td class="t mono">'
        f'+{view.offset:.3f}s</td><td class="ln mono">{view.line}</td>'
        f'<td class="ty"><span class="chip">{escape(view.label)}</span></td>'
        f'<td class="x">{what}</td></tr>'
    )


def _spans(spans: Iterable[Span], colors: Mapping[str, str]) -> str:
    return "".join(
        f'<span class="tok" style="background:{colors.get(s.kind, NEUTRAL)}" '
        f'title="{escape(s.kind)}">{escape(s.text)}</span>'
        if s.kind
        else escape(s.text)
        for s in spans
    )


def _checks(report: SessionReport) -> str:
    if not report.checks:
        return ""
    marks = {"pass": "✓", "fail": "✗", "skip": "–"}
    items = "".join(
        f'<li class="{c.status}">{marks[c.status]} <b>{escape(c.name)}</b> {escape(c.detail)}</li>'
        for c in report.checks
    )
    return _card("Verification checks", f'<ul class="checks">{items}</ul>', wide=True)


def _card(title: str, body: str, count: int | None = None, *, wide: bool = False) -> str:
    badge = f'<span class="count">{count}</span>' if count is not None else ""
    return f'<div class="card{" wide" if wide else ""}"><h2>{title}{badge}</h2>{body}</div>'


def _dl(rows: list[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _code(value: Any) -> str:
    return f"<code>{escape(str(value))}</code>" if value not in (None, "") else "—"


def _link(url: Any, text: str) -> str:
    if isinstance(url, str) and url.startswith("https://"):
        return f'<a href="{escape(url)}">{escape(text)}</a>'
    return escape(text)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.1f}m" if seconds >= 120 else f"{seconds:.1f}s"
