"""People's views of a session transcript: a report model, and its renderings.

    transcript file ──► read_transcript ─┐
    verify_transcript(key) ──────────────┴► build_report ──► SessionReport
                                              ├► render_summary (GitHub / GitLab / text)
                                              └► render_html (one self-contained page)

Nothing here decides trust: the verdict is `hgate.audit.verify_transcript`'s.
"""

from hgate.report.events import EventView, Span, describe, split_tokens
from hgate.report.html import render_html
from hgate.report.model import UNVERIFIED, Action, SessionReport, build_report
from hgate.report.summary import FORMATS, SummaryFormat, render_summary
from hgate.report.transcript_view import (
    Transcript,
    TranscriptEvent,
    not_a_transcript,
    read_transcript,
)

__all__ = [
    "FORMATS",
    "UNVERIFIED",
    "Action",
    "EventView",
    "SessionReport",
    "Span",
    "SummaryFormat",
    "Transcript",
    "TranscriptEvent",
    "build_report",
    "describe",
    "not_a_transcript",
    "read_transcript",
    "render_html",
    "render_summary",
    "split_tokens",
]
