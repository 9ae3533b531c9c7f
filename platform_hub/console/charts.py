"""Charts for the console's pages, drawn on the server as inline SVG.

No script draws them and nothing comes from outside the hub. The Content-Security-Policy allows no
inline style, so a chart carries only SVG geometry; its colours and type are console.css's, by class
(``series-KEY`` for a series' bars). Each chart has a ``<title>`` and a ``<desc>`` as its accessible
name (``role="img"``), and every bar a ``<title>`` with its number. A page shows the same numbers as a
table beside the chart, for whoever cannot see it. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_LEFT, _TOP, _PLOT, _BOTTOM = 48, 32, 180, 40  # the y axis' labels, the legend, the bars, the x labels
_LABEL_WIDTH, _BAR_HEIGHT, _BAR_GAP, _BAR_LENGTH = 300, 22, 8, 360  # horizontal bars
_LABEL_CHARS = 24  # a horizontal bar's label beyond this is cut (whole in its title)


@dataclass(frozen=True)
class Series:
    """One series of a chart: ``key`` names its class (``series-KEY``), ``label`` its legend, and
    ``values`` its number for each of the chart's labels, in their order."""

    key: str
    label: str
    values: Sequence[int]


def scale_of(largest: int) -> tuple[int, list[int]]:
    """The axis' top — the first 1, 2 or 5 times a power of ten not below ``largest`` — and its
    ticks, all whole numbers (counts)."""
    magnitude = 1
    while (top := next((m * magnitude for m in (1, 2, 5) if m * magnitude >= largest), None)) is None:
        magnitude *= 10
    parts = next(p for p in (5, 4, 2, 1) if top % p == 0)
    return top, [top * i // parts for i in range(parts + 1)]


def stacked_columns(
    ident: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series]
) -> Markup:
    """A column per label, its series stacked in their order (the first at the bottom); a rect per
    series and label whose number is not zero, with ``data-label``, ``data-series`` and
    ``data-value``. ``ident``: unique on the page (the ids of the chart's title and description)."""
    count = len(labels)
    step = max(14, min(40, 720 // max(count, 1)))
    width, height = _LEFT + count * step + 16, _TOP + _PLOT + _BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top, ticks = scale_of(max(totals, default=0))
    parts = [_open(ident, title, description, width, height), _legend(series, _LEFT, 14)]
    for tick in ticks:
        y = _TOP + _PLOT - _PLOT * tick / top
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    every = -(-count // 16)  # at most 16 labels under the axis: more would overlap
    for i, label in enumerate(labels):
        x, below = _LEFT + i * step + step * 0.15, float(_TOP + _PLOT)
        for one in series:
            value = one.values[i]
            if not value:
                continue
            tall = _PLOT * value / top
            below -= tall
            parts.append(
                f'<rect class="bar series-{escape(one.key)}" x="{x:.1f}" y="{below:.1f}" '
                f'width="{step * 0.7:.1f}" height="{tall:.1f}" data-label="{escape(label)}" '
                f'data-series="{escape(one.key)}" data-value="{value}">'
                f"<title>{escape(label)} {escape(one.label)}: {value}件</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text class="label" x="{x + step * 0.35:.1f}" y="{_TOP + _PLOT + 16}" '
                f'text-anchor="middle">{escape(_short_day(label))}</text>'
            )
    base = _TOP + _PLOT
    parts.append(f'<line class="axis" x1="{_LEFT}" y1="{base}" x2="{width - 8}" y2="{base}"/>')
    return Markup("".join(parts) + "</svg>")  # noqa: S704 - every text above is escaped


def bars(ident: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """A horizontal bar per label, its series end to end in their order, the total at its end; a
    long label cut, with its whole text in each bar's title; ``data-label``, ``data-series`` and
    ``data-value`` on each bar whose number is not zero."""
    totals = [sum(one.values[i] for one in series) for i in range(len(labels))]
    top, ticks = scale_of(max(totals, default=0))
    width = _LABEL_WIDTH + _BAR_LENGTH + 48
    height = _TOP + max(len(labels), 1) * (_BAR_HEIGHT + _BAR_GAP) + 24
    parts = [_open(ident, title, description, width, height), _legend(series, _LABEL_WIDTH, 14)]
    bottom = height - 20
    for tick in ticks:
        x = _LABEL_WIDTH + _BAR_LENGTH * tick / top
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{bottom}"/>'
            f'<text class="tick" x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{tick}</text>'
        )
    for i, label in enumerate(labels):
        y = _TOP + i * (_BAR_HEIGHT + _BAR_GAP)
        shown = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text class="label" x="{_LABEL_WIDTH - 8}" y="{y + _BAR_HEIGHT * 0.7:.1f}" '
            f'text-anchor="end">{escape(shown)}</text>'
        )
        x = float(_LABEL_WIDTH)
        for one in series:
            value = one.values[i]
            if not value:
                continue
            long = _BAR_LENGTH * value / top
            parts.append(
                f'<rect class="bar series-{escape(one.key)}" x="{x:.1f}" y="{y}" width="{long:.1f}" '
                f'height="{_BAR_HEIGHT}" data-label="{escape(label)}" data-series="{escape(one.key)}" '
                f'data-value="{value}"><title>{escape(label)} {escape(one.label)}: {value}件</title></rect>'
            )
            x += long
        parts.append(
            f'<text class="value" x="{x + 6:.1f}" y="{y + _BAR_HEIGHT * 0.7:.1f}">{totals[i]}</text>'
        )
    if not labels:
        parts.append(
            f'<text class="label" x="{_LABEL_WIDTH}" y="{_TOP + _BAR_HEIGHT * 0.7:.1f}">該当なし</text>'
        )
    base = _LABEL_WIDTH
    parts.append(f'<line class="axis" x1="{base}" y1="{_TOP - 6}" x2="{base}" y2="{bottom}"/>')
    return Markup("".join(parts) + "</svg>")  # noqa: S704 - every text above is escaped


def _open(ident: str, title: str, description: str, width: int, height: int) -> str:
    name = escape(ident)
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{name}-title {name}-desc">'
        f'<title id="{name}-title">{escape(title)}</title><desc id="{name}-desc">{escape(description)}</desc>'
    )


def _legend(series: Sequence[Series], x: int, y: int) -> str:
    parts = []
    for one in series:
        parts.append(
            f'<rect class="swatch series-{escape(one.key)}" x="{x}" y="{y - 10}" width="12" height="12"/>'
            f'<text class="legend" x="{x + 16}" y="{y}">{escape(one.label)}</text>'
        )
        x += 16 + 13 * len(one.label) + 20  # the console's fonts: a CJK character is about 13 units
    return "".join(parts)


def _short_day(label: str) -> str:
    """``2026-12-03`` → ``12/3`` under a day's column; any other label as it is."""
    year, _, rest = label.partition("-")
    month, _, day = rest.partition("-")
    if label.isascii() and year.isdigit() and month.isdigit() and day.isdigit():
        return f"{int(month)}/{int(day)}"
    return label
