"""The view's charts: small inline SVG line charts drawn on the server (the view runs no script).

One helper, :func:`svg_chart`, draws every series of the view: the monitoring series over checked
days and the holdout metrics of the registered versions over the time each was registered. Every
text it writes (labels, hover titles) is escaped: version families and metric names come from
MLflow tags, which tasks write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any


def _seconds(when: str) -> float:
    """An ISO day (``2026-03-02``) or time (``2026-03-02 10:00:00``, UTC) on one axis: seconds since the epoch."""
    return datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()


def svg_chart(
    points: list[tuple[str, float]],
    threshold: float | None = None,
    marks: list[tuple[str, str]] = (),
    titles: list[str] | None = None,
    width: int = 720,
    height: int = 120,
) -> str:
    """A line through ``points`` (ISO day or time, value) with a dashed ``threshold`` and vertical
    ``marks`` (ISO day or time, what happened then). With ``titles`` (one per point) each point is also a
    dot that names itself on hover. The time axis spans the points and the marks."""
    if not points:
        return ""
    xs = [_seconds(when) for when, _ in points]
    values = [v for _, v in points]
    marked = [(_seconds(when), when, title) for when, title in marks]
    ends = sorted(
        [(at, when) for at, (when, _) in zip(xs, points, strict=True)] + [(at, when) for at, when, _ in marked]
    )
    lo, hi = (
        min([*values, *([threshold] if threshold is not None else [])]),
        max([*values, *([threshold] if threshold is not None else [])]),
    )
    if hi == lo:  # one value: drawn across the middle, its scale labelled around it
        lo, hi = lo - (abs(lo) or 1) / 10, hi + (abs(hi) or 1) / 10
    first, span_x, span_y = ends[0][0], (ends[-1][0] - ends[0][0]) or 1.0, (hi - lo) or 1.0

    def x(at: float) -> float:
        return 30 + (width - 40) * (at - first) / span_x

    def y(v: float) -> float:
        return height - 15 - (height - 25) * (v - lo) / span_y

    line = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in zip(xs, values, strict=True))
    parts = [
        f'<svg width="{width}" height="{height}" role="img">',
        f'<polyline fill="none" stroke="#2457c5" stroke-width="1.5" points="{line}"/>',
    ]
    if threshold is not None:
        parts.append(
            f'<line x1="30" x2="{width - 10}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
            f'stroke="#c8433a" stroke-dasharray="4 3"><title>threshold {threshold:g}</title></line>'
        )
    for at, _, title in marked:
        parts.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="5" y2="{height - 15}" stroke="#e08a2c">'
            f"<title>{escape(title)}</title></line>"
        )
    for at, v, title in zip(xs, values, titles or [], strict=False):  # dots only where titled
        parts.append(
            f'<circle class="point" cx="{x(at):.1f}" cy="{y(v):.1f}" r="3.5" fill="#2457c5">'
            f"<title>{escape(title)}</title></circle>"
        )
    parts.append(
        f'<text x="2" y="12" font-size="10">{hi:.3g}</text><text x="2" y="{height - 16}" font-size="10">'
        f'{lo:.3g}</text><text x="30" y="{height - 2}" font-size="10">{escape(ends[0][1][:16])}</text>'
        f'<text x="{width - 90}" y="{height - 2}" font-size="10">{escape(ends[-1][1][:16])}</text></svg>'
    )
    return "".join(parts)


def monitoring_charts(monitoring: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, SVG) of each monitoring series against its threshold, the fired retrain requests marked."""
    marks = [
        (day, f"retrain requested {day}") for day, v in monitoring["series"].get("retrain requested", []) if v >= 1
    ]
    return [
        (label, svg_chart(points, monitoring["thresholds"].get(label), marks))
        for label, points in monitoring["series"].items()
        if points and label != "retrain requested"
    ]


def holdout_charts(versions: list[dict[str, Any]], history: list[dict[str, Any]], metric: str) -> list[tuple[str, str]]:
    """(label, SVG) per holdout metric, the promotion ``metric`` first: one dot per version that has it, at
    the time it was registered, and a mark where ``@champion`` moved (``history``: the alias moves)."""
    names = sorted({name for v in versions for name in v["metrics"]}, key=lambda name: (name != metric, name))
    marks = [(move["time"], f"@champion -> v{move['to']} at {move['time']}") for move in history if move["time"]]
    charts = []
    for name in names:
        having = [v for v in versions if v["metrics"].get(name) is not None]
        points = [(v["created"], v["metrics"][name]) for v in having]
        titles = [
            f"v{v['version']} ({v['family']}{', @' + ', @'.join(v['aliases']) if v['aliases'] else ''}): "
            f"{name} {v['metrics'][name]:.4g}, registered {v['created']}"
            for v in having
        ]
        label = f"{name} (the promotion metric)" if name == metric else name
        charts.append((label, svg_chart(points, None, marks, titles, width=460, height=110)))
    return charts
