"""Small charts drawn on the server as SVG: no JavaScript, no third-party code.

Each function returns one ``<svg>`` element as text, built with ElementTree, so every label
(a team's name is whatever an administrator typed) is escaped as XML text or attribute and
never becomes markup. The charts are images for screen readers (``role="img"``) named by
their ``aria-label``, which carries the title and every number (also in ``<title>`` and
``<desc>`` for tools that read those); pages show
the same numbers in a table as well (the chart is the picture, the table the data).

The SVG scales to its container (``viewBox``, no fixed width); colours come from classes
that lemur.css sets, with presentation attributes as the fallback for an SVG viewed alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

SVG_NS = "http://www.w3.org/2000/svg"
BAR_COLOUR = (
    "#2346a8"  # 7.9:1 against white, lemur.css's --accent; (WCAG 1.4.11 asks 3:1 for graphics)
)
TEXT_COLOUR = "#1b1b1b"
AXIS_COLOUR = "#6b6b6b"
MAX_LABEL_CHARS = 24
FONT_SIZE = 13


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int


def _label(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """A label that fits its column: long ones end in an ellipsis (the table has them whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


Units = tuple[str, str]  # singular, plural
CERTIFICATES: Units = ("certificate", "certificates")


def _amount(value: int, units: Units) -> str:
    return f"{value:,} {units[0] if value == 1 else units[1]}"


def _described(title: str, bars: Sequence[Bar], units: Units) -> str:
    if not bars:
        return f"{title}: none"
    return f"{title}: " + "; ".join(f"{b.label} {_amount(b.value, units)}" for b in bars)


def _svg(chart_id: str, title: str, label: str, width: int, height: int) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {width} {height}",
            "role": "img",
            "aria-label": label,
            "class": "chart",
            "id": chart_id,
            "font-size": str(FONT_SIZE),
            "font-family": "system-ui, sans-serif",
            "preserveAspectRatio": "xMinYMin meet",
        },
    )
    ET.SubElement(svg, "title", {"id": f"{chart_id}-title"}).text = title
    ET.SubElement(svg, "desc", {"id": f"{chart_id}-desc"}).text = label
    return svg


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> ET.Element:
    node = ET.SubElement(
        parent, "text", {"x": f"{x:g}", "y": f"{y:g}", "fill": TEXT_COLOUR, **attrs}
    )
    node.text = text
    return node


def _serialize(svg: ET.Element) -> str:
    return ET.tostring(svg, encoding="unicode", short_empty_elements=True)


def bar_chart(
    bars: Sequence[Bar], *, chart_id: str, title: str, units: Units = CERTIFICATES
) -> str:
    """Horizontal bars, one row per (label, value), in the order given: the label on the
    left, the bar scaled to the largest value, the value after the bar."""
    row, label_width, value_width, width = 26, 190, 70, 560
    height = max(1, len(bars)) * row + 8
    svg = _svg(chart_id, title, _described(title, bars, units), width, height)
    largest = max((b.value for b in bars), default=0)
    span = width - label_width - value_width
    for index, bar in enumerate(bars):
        y = 4 + index * row
        group = ET.SubElement(svg, "g", {"class": "chart-row"})
        ET.SubElement(group, "title").text = f"{bar.label}: {_amount(bar.value, units)}"
        _text(group, label_width - 8, y + row / 2 + 4, _label(bar.label), **{"text-anchor": "end"})
        length = 0.0 if largest == 0 else span * bar.value / largest
        if bar.value and length < 2:
            length = 2.0  # a non-zero value stays visible
        ET.SubElement(
            group,
            "rect",
            {
                "class": "chart-bar",
                "x": str(label_width),
                "y": f"{y + 4:g}",
                "width": f"{length:.1f}",
                "height": str(row - 8),
                "fill": BAR_COLOUR,
            },
        )
        _text(
            group,
            label_width + length + 6,
            y + row / 2 + 4,
            f"{bar.value:,}",
            **{"class": "chart-value"},
        )
    if not bars:
        _text(svg, 8, row / 2 + 4, "none")
    return _serialize(svg)


def expiry_histogram(
    buckets: Sequence[Bar], *, chart_id: str, title: str, units: Units = CERTIFICATES
) -> str:
    """Vertical columns, one per bucket in the order given (soonest first), each labelled
    below with its period and above with its count, over a base line."""
    width, height, top, bottom, gap = 560, 220, 24, 40, 16
    count = max(1, len(buckets))
    column = (width - gap * (count + 1)) / count
    svg = _svg(chart_id, title, _described(title, buckets, units), width, height)
    largest = max((b.value for b in buckets), default=0)
    base = height - bottom
    span = base - top
    for index, bucket in enumerate(buckets):
        x = gap + index * (column + gap)
        group = ET.SubElement(svg, "g", {"class": "chart-column"})
        ET.SubElement(group, "title").text = f"{bucket.label}: {_amount(bucket.value, units)}"
        size = 0.0 if largest == 0 else span * bucket.value / largest
        if bucket.value and size < 2:
            size = 2.0
        ET.SubElement(
            group,
            "rect",
            {
                "class": "chart-bar",
                "x": f"{x:.1f}",
                "y": f"{base - size:.1f}",
                "width": f"{column:.1f}",
                "height": f"{size:.1f}",
                "fill": BAR_COLOUR,
            },
        )
        middle = x + column / 2
        _text(
            group,
            middle,
            base - size - 6,
            f"{bucket.value:,}",
            **{"text-anchor": "middle", "class": "chart-value"},
        )
        _text(group, middle, base + 20, _label(bucket.label, 20), **{"text-anchor": "middle"})
    ET.SubElement(
        svg,
        "line",
        {
            "class": "chart-axis",
            "x1": "0",
            "x2": str(width),
            "y1": str(base),
            "y2": str(base),
            "stroke": AXIS_COLOUR,
        },
    )
    return _serialize(svg)
