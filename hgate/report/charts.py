"""Inline SVG charts for the HTML report: no script, no library, no network.

Each function returns one `<svg>` element sized by its viewBox, so the page scales it to
its card. Tooltips are SVG `<title>` elements, which browsers show without JavaScript.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = (
    "#0969da",
    "#8250df",
    "#bf3989",
    "#cf222e",
    "#bc4c00",
    "#9a6700",
    "#1a7f37",
    "#1b7c83",
    "#6639ba",
    "#57606a",
)
LANES = (("blocked", "#cf222e"), ("approved", "#1a7f37"), ("allowed", "#8c959f"))
FONT = "font-family:inherit"


def kind_colors(kinds: Sequence[str]) -> dict[str, str]:
    """Distinct colours for the report's finding types (most frequent first), so the chart
    and the timeline's token chips agree; a type beyond the palette gets a hashed one."""
    colors = {kind: PALETTE[i] for i, kind in enumerate(kinds[: len(PALETTE)])}
    for kind in kinds[len(PALETTE) :]:
        colors[kind] = PALETTE[hashlib.sha256(kind.encode()).digest()[0] % len(PALETTE)]
    return colors


def findings_bars(
    items: Sequence[tuple[str, int]], colors: Mapping[str, str], *, width: int = 520
) -> str:
    """Horizontal bars, largest first: one row per finding type."""
    if not items:
        return _empty(width, "Nothing was masked in this session.")
    row, label_w, pad = 30, 150, 12
    height = row * len(items) + pad * 2
    top = max(count for _, count in items)
    bar_space = width - label_w - 70
    parts = [_open(width, height, "Masked findings by type")]
    for index, (kind, count) in enumerate(items):
        y = pad + index * row
        length = max(3.0, bar_space * count / top)
        color = colors.get(kind, PALETTE[-1])
        parts.append(
            f"<g><title>{escape(kind)}: {count}</title>"
            f'<text x="{label_w - 10}" y="{y + 19}" text-anchor="end" class="lbl">'
            f"{escape(_short(kind, 18))}</text>"
            f'<rect x="{label_w}" y="{y + 5}" width="{length:.1f}" height="20" rx="4" '
            f'fill="{color}"/>'
            f'<text x="{label_w + length + 8:.1f}" y="{y + 19}" class="num">{count}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def decisions_over_time(
    points: Sequence[tuple[float, str, str]],
    activity: Sequence[float],
    duration: float,
    *,
    width: int = 520,
    max_dots: int | None = None,
) -> str:
    """Decisions as dots on three lanes over the session's time, output volume beneath.

    `points` are (offset seconds, lane name, tooltip); `activity` the offsets of output
    lines, drawn as a histogram so a burst of output lines up with what was decided.
    A lane with more than `max_dots` decisions draws that many, spread evenly over them
    (its label still counts all, and says how many are drawn): a flood of blocked
    statements must not make the page too heavy to open.
    """
    left, right, lane_h, hist_h, axis_h = 86, 16, 34, 46, 26
    height = lane_h * len(LANES) + hist_h + axis_h + 10
    span = max(duration, max((p[0] for p in points), default=0.0), 1e-3)
    plot_w = width - left - right

    def x(offset: float) -> float:
        return left + plot_w * min(max(offset / span, 0.0), 1.0)

    parts = [_open(width, height, "Decisions over time")]
    for index, (lane, color) in enumerate(LANES):
        y = 8 + index * lane_h + lane_h / 2
        mine = [p for p in points if p[1] == lane]
        drawn = _spread(mine, max_dots)
        note = "" if len(drawn) == len(mine) else f", {len(drawn)} drawn"
        parts.append(
            f'<text x="{left - 12}" y="{y + 4:.1f}" text-anchor="end" class="lbl">'
            f"<title>{lane}: {len(mine)}{note}</title>{lane} ({len(mine)})</text>"
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        for offset, _, tip in drawn:
            parts.append(
                f'<circle cx="{x(offset):.1f}" cy="{y:.1f}" r="6.5" fill="{color}" '
                f'fill-opacity="0.85" stroke="#fff" stroke-width="1.5">'
                f"<title>{escape(tip)}</title></circle>"
            )
    base = 8 + lane_h * len(LANES) + hist_h
    buckets = _histogram(activity, span, 48)
    peak = max(buckets, default=0)
    bucket_w = plot_w / len(buckets)
    for index, value in enumerate(buckets):
        if value:
            h = max(2.0, (hist_h - 8) * value / peak)
            parts.append(
                f'<rect x="{left + index * bucket_w + 0.5:.1f}" y="{base - h:.1f}" '
                f'width="{max(bucket_w - 1, 1):.1f}" height="{h:.1f}" class="act">'
                f"<title>{value} output lines</title></rect>"
            )
    parts.append(
        f'<text x="{left - 12}" y="{base - 8}" text-anchor="end" class="lbl">output</text>'
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" class="axis"/>'
    )
    for tick in _ticks(span):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{base}" y2="{base + 5}" '
            f'class="axis"/><text x="{x(tick):.1f}" y="{base + 18}" text-anchor="middle" '
            f'class="tick">{_seconds(tick)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _spread(
    points: Sequence[tuple[float, str, str]], most: int | None
) -> Sequence[tuple[float, str, str]]:
    if most is None or len(points) <= most:
        return points
    return [points[i * len(points) // most] for i in range(most)]


def _histogram(offsets: Sequence[float], span: float, count: int) -> list[int]:
    buckets = [0] * count
    for offset in offsets:
        buckets[min(count - 1, max(0, int(offset / span * count)))] += 1
    return buckets


def _ticks(span: float) -> list[float]:
    """About five round tick values from 0 to span."""
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(span / step) + 1)]


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.0f}m"
    return f"{value:g}s" if value >= 1 or value == 0 else f"{value * 1000:.0f}ms"


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" style="{FONT}">'
    )


def _empty(width: int, message: str) -> str:
    return (
        f'{_open(width, 90, message)}<rect x="1" y="1" width="{width - 2}" height="88" rx="10" '
        f'class="emptybox"/><text x="{width / 2}" y="50" text-anchor="middle" class="lbl">'
        f"{escape(message)}</text></svg>"
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
