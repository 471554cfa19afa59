"""Small inline-SVG charts for the HTML report: grouped bars and histograms, no JavaScript.

Hand-written rather than a plotting library: the report must open offline from one file, and
these two chart shapes are all it needs. Every chart is a `<figure class="chart chart-KIND">`
holding one `<svg>`, with a legend and a caption; colours come from the page's CSS classes
(`s-real`, `s-synthetic`, ...), so the charts follow the page's palette.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

FONT = 11  # px; labels are truncated to fit, the full text is in a <title> tooltip


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    css: str  # "s-real", "s-synthetic", "s-baseline"


def grouped_bars(kind: str, title: str, labels: Sequence[str], series: Sequence[Series], *,
                 percent: bool = True, width: int = 460, label_width: int = 150) -> str:
    """Horizontal bars, one group per label (real and synthetic side by side): long category
    names stay readable on the left."""
    bar, gap = 7, 6
    group = bar * len(series) + gap
    top, bottom = 6, 22
    height = top + group * len(labels) + bottom
    plot = width - label_width - 40
    vmax = nice_max(max((v for s in series for v in s.values), default=0.0))
    parts = []
    for i, label in enumerate(labels):
        y0 = top + i * group
        parts.append(f'<text class="lbl" x="{label_width - 6}" y="{y0 + group / 2:.1f}" text-anchor="end" '
                     f'dominant-baseline="middle">{_esc(_fit(label, label_width))}<title>{_esc(label)}</title></text>')
        for k, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else 0.0
            w = max(plot * v / vmax, 0.0)
            parts.append(f'<rect class="bar {s.css}" x="{label_width}" y="{y0 + k * bar}" width="{w:.1f}" '
                         f'height="{bar - 1}"><title>{_esc(s.name)} · {_esc(label)}: {_value(v, percent)}</title></rect>')
    parts.append(_x_axis(label_width, top + group * len(labels), plot, vmax, percent))
    return _figure(kind, title, width, height, parts, series)


def columns(kind: str, title: str, labels: Sequence[str], series: Sequence[Series], *,
            percent: bool = True, width: int = 460) -> str:
    """Vertical grouped bars over few ordered categories (degree buckets)."""
    left, top, bottom = 44, 8, 34
    height = 190
    plot_w, plot_h = width - left - 10, height - top - bottom
    vmax = nice_max(max((v for s in series for v in s.values), default=0.0))
    slot = plot_w / max(len(labels), 1)
    bar = max(min(slot * 0.8 / max(len(series), 1), 18), 1.5)
    # Every k-th tick label, so that labels never overlap (10 px text, ~6 px a character).
    every = max(1, math.ceil((max((len(x) for x in labels), default=1) * 6 + 6) / slot))
    parts = [_y_axis(left, top, plot_h, plot_w, vmax, percent)]
    for i, label in enumerate(labels):
        x0 = left + i * slot + (slot - bar * len(series)) / 2
        for k, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else 0.0
            h = plot_h * v / vmax
            parts.append(f'<rect class="bar {s.css}" x="{x0 + k * bar:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{bar - 0.5:.1f}" height="{h:.1f}"><title>{_esc(s.name)} · {_esc(label)}: '
                         f'{_value(v, percent)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="tick" x="{left + (i + 0.5) * slot:.1f}" y="{top + plot_h + 13}" '
                         f'text-anchor="middle">{_esc(_fit(label, slot * every))}</text>')
    return _figure(kind, title, width, height, parts, series)


def histogram(kind: str, title: str, series: Sequence[Series], *, bins: int = 20,
              upper: float | None = None, markers: Sequence[tuple[float, str]] = (), x_label: str = "",
              width: int = 460) -> str:
    """Shares of each series' values per equal-width bin on [0, upper], with labelled marker lines."""
    values = [v for s in series for v in s.values if math.isfinite(v)]
    hi = upper if upper is not None else (max(values, default=1.0) or 1.0)
    edges = [hi * i / bins for i in range(bins + 1)]
    shares = []
    for s in series:
        counts = [0] * bins
        finite = [v for v in s.values if math.isfinite(v)]
        for v in finite:
            counts[min(int(v / hi * bins) if hi > 0 else 0, bins - 1)] += 1
        shares.append(Series(s.name, [c / len(finite) if finite else 0.0 for c in counts], s.css))
    labels = [f"{edges[i]:.3g}" for i in range(bins)]  # each bar starts at its label
    body = columns(kind, title, labels, shares, width=width)
    if not markers and not x_label:
        return body
    left, top, plot_h, plot_w = 44, 8, 190 - 8 - 34, width - 44 - 10
    extra = []
    for value, label in markers:
        if value is None or not math.isfinite(value):
            continue
        x = left + plot_w * min(value / hi, 1.0) if hi > 0 else left
        # The label goes left of a line near the right edge, and a second label one line lower.
        anchor, dx = ("end", -3) if x > left + plot_w * 0.8 else ("start", 3)
        y = top + 10 + 11 * len(extra)
        extra.append(f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}"/>'
                     f'<text class="marker-label" x="{x + dx:.1f}" y="{y}" text-anchor="{anchor}">{_esc(label)}</text>')
    if x_label:
        extra.append(f'<text class="tick" x="{left + plot_w / 2:.1f}" y="{top + plot_h + 28}" '
                     f'text-anchor="middle">{_esc(x_label)}</text>')
    return body.replace("</svg>", "".join(extra) + "</svg>", 1)


def nice_max(v: float) -> float:
    """The axis end: the smallest 1, 2, 2.5 or 5 × 10^k step times 4 that covers v (4 even ticks)."""
    if not v > 0 or not math.isfinite(v):
        return 1.0
    raw = v / 4
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)
    return step * 4


def _figure(kind: str, title: str, width: int, height: int, parts: list[str], series: Sequence[Series]) -> str:
    legend = "".join(f'<span class="key"><i class="{s.css}"></i>{_esc(s.name)}</span>' for s in series)
    return (f'<figure class="chart chart-{kind}"><figcaption>{_esc(title)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{_esc(title)}">{"".join(parts)}</svg>'
            f'<div class="legend">{legend}</div></figure>')


def _x_axis(x0: float, y: float, plot: float, vmax: float, percent: bool) -> str:
    out = [f'<line class="axis" x1="{x0}" x2="{x0 + plot}" y1="{y}" y2="{y}"/>']
    for i in range(5):
        v = vmax * i / 4
        x = x0 + plot * i / 4
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{y}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{y + 14}" text-anchor="middle">{_value(v, percent)}</text>')
    return "".join(out)


def _y_axis(x0: float, top: float, plot_h: float, plot_w: float, vmax: float, percent: bool) -> str:
    out = [f'<line class="axis" x1="{x0}" x2="{x0 + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>']
    for i in range(5):
        v = vmax * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{x0}" x2="{x0 + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{x0 - 4}" y="{y + 3:.1f}" text-anchor="end">{_value(v, percent)}</text>')
    return "".join(out)


def _value(v: float, percent: bool) -> str:
    if percent:
        return f"{v:.0%}" if round(v * 100, 6).is_integer() or v >= 0.1 else f"{v:.1%}"
    return f"{v:.3g}"


def _fit(text: str, width: float) -> str:
    chars = max(int(width / (FONT * 0.62)), 3)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)
