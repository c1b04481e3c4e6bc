"""Charts for the staff dashboard, drawn server-side as inline SVG (nothing loads from anywhere; the page's CSP
allows no scripts for them). Each chart is an image with a title and a description; the numbers themselves are in
the table the template puts behind it."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD = 720, 180, 28
BAR = "#417690"  # the admin's own blue; 4.9:1 on white


def bar_chart(*, title: str, description: str, labels: Sequence[str], values: Sequence[float]) -> SafeString:
    """Vertical bars, one per label, scaled to the largest value; the first and last label under the axis."""
    top = max(values, default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(len(values), 1)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"></rect>',
        (
            (
                _n(PAD + i * slot + slot * 0.1),
                _n(HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD)),
                _n(slot * 0.8),
                _n((v / top) * (HEIGHT - 2 * PAD)),
                BAR,
            )
            for i, v in enumerate(values)
        ),
    )
    ends = ""
    if labels:
        ends = format_html(
            '<text x="{}" y="{}" font-size="11">{}</text>'
            '<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>',
            PAD,
            HEIGHT - 8,
            labels[0],
            WIDTH - PAD,
            HEIGHT - 8,
            labels[-1],
        )
    return format_html(
        '<svg role="img" aria-labelledby="{id}-t {id}-d" viewBox="0 0 {w} {h}" width="100%" class="dashboard-chart">'
        '<title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>'
        '<line x1="{pad}" y1="{base}" x2="{right}" y2="{base}" stroke="#333"></line>{bars}'
        '<text x="{pad}" y="{pad_top}" font-size="11">{top}</text>{ends}</svg>',
        id=_slug(title),
        w=WIDTH,
        h=HEIGHT,
        title=title,
        desc=description,
        pad=PAD,
        base=HEIGHT - PAD,
        right=WIDTH - PAD,
        bars=bars,
        pad_top=PAD - 10,
        top=f"max {top:g}",
        ends=ends,
    )


def hbar_chart(*, title: str, description: str, rows: Sequence[tuple[str, float]]) -> SafeString:
    """Horizontal bars with their label and value, for funnels and per-category rates."""
    top = max((v for _, v in rows), default=0) or 1
    line = 22
    height = line * len(rows) + 10
    label_width = 200
    bars = format_html_join(
        "",
        '<text x="0" y="{y}" font-size="12">{label}</text>'
        '<rect x="{x}" y="{ry}" width="{bw}" height="14" fill="{fill}"></rect>'
        '<text x="{vx}" y="{y}" font-size="12">{value}</text>',
        (
            {
                "y": 16 + i * line,
                "ry": 5 + i * line,
                "label": label,
                "x": label_width,
                "bw": _n(max(1.0, (v / top) * (WIDTH - label_width - 80))),
                "fill": BAR,
                "vx": _n(label_width + max(1.0, (v / top) * (WIDTH - label_width - 80)) + 6),
                "value": f"{round(v, 3):g}",
            }
            for i, (label, v) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg role="img" aria-labelledby="{id}-t {id}-d" viewBox="0 0 {w} {h}" width="100%" class="dashboard-chart">'
        '<title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>{bars}</svg>',
        id=_slug(title),
        w=WIDTH,
        h=height,
        title=title,
        desc=description,
        bars=bars,
    )


def _n(value: float) -> str:
    return f"{value:.1f}"


def _slug(text: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in text.lower())[:40]
