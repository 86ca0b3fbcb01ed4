"""Small charts drawn on the server as inline SVG, for admin pages.

No JavaScript and nothing fetched from elsewhere: each function returns a ``SafeString`` of
``<svg>`` markup whose text (labels, series names) is escaped. Every bar and point carries a
``<title>`` so that hovering shows its exact figure, and the chart has an ``aria-label``.

Bars and points are scaled to the largest value, rounded up to an axis of four whole-number
steps; a chart whose values are all zero draws an empty plot instead of dividing by zero.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0b8f4d", "#ff7a1a", "#1f5fbf", "#d7261e", "#8a5cd6", "#6b7785")

FONT = (
    "font-family=\"-apple-system, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', "
    'sans-serif"'
)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str | None = None


AXIS_STEPS = 4
_MANTISSAS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)


def axis_maximum(value: float) -> int:
    """The top of a value axis with four whole-number steps, the smallest that holds ``value``.

    >>> [axis_maximum(v) for v in (0, 3, 5, 7, 13, 24, 240)]
    [4, 4, 8, 8, 16, 24, 240]
    """
    if value <= 0:
        return AXIS_STEPS
    exponent = max(math.floor(math.log10(value / AXIS_STEPS)), 0)
    while True:
        for mantissa in _MANTISSAS:
            step = mantissa * 10**exponent
            if step == int(step) and step * AXIS_STEPS >= value:
                return int(step) * AXIS_STEPS
        exponent += 1


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg_open(width: int, height: int, label: str, css_class: str) -> str:
    return (
        f'<svg class="chart {css_class}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet" {FONT}>'
    )


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for index, item in enumerate(series):
        color = item.color or PALETTE[index % len(PALETTE)]
        parts.append(
            f'<g class="legend-item" transform="translate({_fmt(x)},{_fmt(y)})">'
            f'<rect width="12" height="12" rx="3" fill="{color}"/>'
            f'<text x="18" y="11" font-size="13" fill="#3b4754">{escape(item.name)}</text></g>'
        )
        x += 30 + 14 * len(item.name)
    return parts


def _y_axis(
    *, left: float, top: float, plot_w: float, plot_h: float, maximum: float, fmt
) -> list[str]:
    parts = []
    for step in range(AXIS_STEPS + 1):
        value = maximum * step // AXIS_STEPS
        y = top + plot_h - plot_h * step / AXIS_STEPS
        parts.append(
            f'<line x1="{_fmt(left)}" y1="{_fmt(y)}" x2="{_fmt(left + plot_w)}" y2="{_fmt(y)}" '
            f'stroke="{"#b9c4bd" if step == 0 else "#e6ebe8"}" stroke-width="1"/>'
            f'<text x="{_fmt(left - 8)}" y="{_fmt(y + 4)}" font-size="12" fill="#6b7785" '
            f'text-anchor="end">{escape(fmt(value))}</text>'
        )
    return parts


def _x_labels(labels: Sequence[str], *, left: float, slot: float, y: float) -> list[str]:
    # Thin out crowded labels: at most about 16 along the axis.
    every = max(1, math.ceil(len(labels) / 16))
    parts = []
    for index, label in enumerate(labels):
        if index % every and index != len(labels) - 1:
            continue
        x = left + slot * index + slot / 2
        parts.append(
            f'<text x="{_fmt(x)}" y="{_fmt(y)}" font-size="12" fill="#6b7785" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return parts


def bar_chart(
    *,
    labels: Sequence[str],
    series: Sequence[Series],
    title: str,
    width: int = 720,
    height: int = 260,
    value_format: Callable[[float], str] = _number,
) -> SafeString:
    """Vertical bars, one group per label and one bar per series in each group."""
    left, right, top, bottom = 56, 12, 34, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = axis_maximum(max((v for s in series for v in s.values), default=0))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(min(slot * 0.8 / max(len(series), 1), 40), 1.5)
    group_w = bar_w * len(series)

    parts = [_svg_open(width, height, title, "chart-bar")]
    parts += _y_axis(left=left, top=top, plot_w=plot_w, plot_h=plot_h, maximum=maximum,
                     fmt=value_format)  # fmt: skip
    for s_index, item in enumerate(series):
        color = item.color or PALETTE[s_index % len(PALETTE)]
        for index, value in enumerate(item.values):
            bar_h = plot_h * value / maximum
            x = left + slot * index + (slot - group_w) / 2 + bar_w * s_index
            y = top + plot_h - bar_h
            parts.append(
                f'<rect class="bar" x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(bar_w)}" '
                f'height="{_fmt(bar_h)}" rx="2" fill="{color}" data-value="{value}">'
                f"<title>{escape(labels[index])} {escape(item.name)}: "
                f"{escape(value_format(value))}</title></rect>"
            )
    parts += _x_labels(labels, left=left, slot=slot, y=height - 10)
    parts += _legend(series, left, 8)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def line_chart(
    *,
    labels: Sequence[str],
    series: Sequence[Series],
    title: str,
    width: int = 720,
    height: int = 260,
    value_format: Callable[[float], str] = _number,
) -> SafeString:
    """One line per series over the labels (days), with a dot on every point."""
    left, right, top, bottom = 56, 12, 34, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = axis_maximum(max((v for s in series for v in s.values), default=0))
    slot = plot_w / max(len(labels), 1)

    parts = [_svg_open(width, height, title, "chart-line")]
    parts += _y_axis(left=left, top=top, plot_w=plot_w, plot_h=plot_h, maximum=maximum,
                     fmt=value_format)  # fmt: skip
    for s_index, item in enumerate(series):
        color = item.color or PALETTE[s_index % len(PALETTE)]
        points = [
            (left + slot * index + slot / 2, top + plot_h - plot_h * value / maximum)
            for index, value in enumerate(item.values)
        ]
        if len(points) > 1:
            path = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
            parts.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{color}" '
                f'stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>'
            )
        for index, (x, y) in enumerate(points):
            parts.append(
                f'<circle class="point" cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.5" fill="#fff" '
                f'stroke="{color}" stroke-width="2" data-value="{item.values[index]}">'
                f"<title>{escape(labels[index])} {escape(item.name)}: "
                f"{escape(value_format(item.values[index]))}</title></circle>"
            )
    parts += _x_labels(labels, left=left, slot=slot, y=height - 10)
    parts += _legend(series, left, 8)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def horizontal_bar_chart(
    *,
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    width: int = 720,
    color: str = PALETTE[0],
    value_format: Callable[[float], str] = _number,
    row_height: int = 30,
) -> SafeString:
    """One horizontal bar per label, its figure written at the end of the bar."""
    label_w, right, top = 190, 90, 6
    plot_w = width - label_w - right
    height = top * 2 + row_height * max(len(labels), 1)
    maximum = axis_maximum(max(values, default=0))

    parts = [_svg_open(width, height, title, "chart-hbar")]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + row_height * index
        bar_w = plot_w * value / maximum
        parts.append(
            f'<text x="{label_w - 10}" y="{_fmt(y + row_height / 2 + 4)}" font-size="13" '
            f'fill="#17212b" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{_fmt(y + 5)}" width="{plot_w}" height="{row_height - 10}" '
            f'rx="4" fill="#f0f3f1"/>'
            f'<rect class="bar" x="{label_w}" y="{_fmt(y + 5)}" width="{_fmt(bar_w)}" '
            f'height="{row_height - 10}" rx="4" fill="{color}" data-value="{value}">'
            f"<title>{escape(label)}: {escape(value_format(value))}</title></rect>"
            f'<text x="{_fmt(label_w + bar_w + 8)}" y="{_fmt(y + row_height / 2 + 4)}" '
            f'font-size="13" font-weight="700" fill="#3b4754">{escape(value_format(value))}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)
