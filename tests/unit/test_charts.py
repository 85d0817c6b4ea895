"""The dashboard's SVG charts (lemur.ui.charts), parsed back as XML: what is drawn, what a
screen reader is told, and hostile labels kept as text."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from lemur.ui.charts import Bar, bar_chart, expiry_histogram

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def rows(root: ET.Element, kind: str = "chart-row") -> list[ET.Element]:
    return [g for g in root.findall("svg:g", NS) if g.get("class") == kind]


def texts(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.findall("svg:text", NS)]


def bar_width(group: ET.Element) -> float:
    rect = group.find("svg:rect", NS)
    assert rect is not None
    return float(rect.get("width", "nan"))


def test_bar_chart_draws_one_scaled_bar_per_label_in_order() -> None:
    bars = [Bar("payments", 40), Bar("web", 10), Bar("data", 20), Bar("idle", 0)]
    root = parse(bar_chart(bars, chart_id="by-team", title="Certificates by team"))

    drawn = rows(root)
    assert [texts(g) for g in drawn] == [
        ["payments", "40"],
        ["web", "10"],
        ["data", "20"],
        ["idle", "0"],
    ]
    widths = [bar_width(g) for g in drawn]
    # Bars are proportional to the values: the largest is the full span.
    assert widths[0] == pytest.approx(4 * widths[1], rel=0.01)
    assert widths[2] == pytest.approx(2 * widths[1], rel=0.01)
    assert widths[3] == 0
    # Each bar's tooltip names it with its value.
    assert (
        next(g.findtext("svg:title", namespaces=NS) for g in drawn) == "payments: 40 certificates"
    )


def test_a_small_value_stays_visible() -> None:
    root = parse(bar_chart([Bar("big", 100_000), Bar("tiny", 1)], chart_id="c", title="t"))
    assert bar_width(rows(root)[1]) >= 2


def test_the_chart_is_an_image_with_a_name_that_carries_every_number() -> None:
    bars = [Bar("payments", 3), Bar("web", 1)]
    root = parse(bar_chart(bars, chart_id="by-team", title="Certificates by team"))
    assert root.get("role") == "img"
    assert root.get("id") == "by-team"
    label = "Certificates by team: payments 3 certificates; web 1 certificate"
    assert root.get("aria-label") == label
    assert root.findtext("svg:title", namespaces=NS) == "Certificates by team"
    assert root.findtext("svg:desc", namespaces=NS) == label
    assert root.get("viewBox", "").startswith("0 0 ")
    assert root.get("width") is None, "the chart scales to its container"


def test_an_empty_chart_says_none() -> None:
    root = parse(bar_chart([], chart_id="empty", title="By authority"))
    assert rows(root) == []
    assert root.get("aria-label") == "By authority: none"
    assert [t.text for t in root.findall("svg:text", NS)] == ["none"]


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '"><script>alert(1)</script>',
        "team & friends",
        "]]><x/>",
        "' onload='alert(1)",
    ],
)
def test_hostile_labels_stay_text(hostile: str) -> None:
    svg = bar_chart([Bar(hostile, 2)], chart_id="x", title=f"by {hostile}")
    assert "<script" not in svg
    root = parse(svg)
    # Nothing but the chart's own elements exist: the label did not become markup.
    tags = {e.tag.split("}")[1] for e in root.iter()}
    assert tags <= {"svg", "title", "desc", "g", "text", "rect"}
    [group] = rows(root)
    shown = texts(group)[0]
    assert hostile.startswith(shown.rstrip("…")), shown
    assert group.findtext("svg:title", namespaces=NS) == f"{hostile}: 2 certificates"
    assert root.get("aria-label") == f"by {hostile}: {hostile} 2 certificates"
    assert all(not name.startswith("on") for e in root.iter() for name in e.attrib)


def test_long_labels_are_shortened_in_the_picture_only() -> None:
    name = "platform-infrastructure-and-operations-emea"
    root = parse(bar_chart([Bar(name, 5)], chart_id="x", title="t"))
    [group] = rows(root)
    shown = texts(group)[0]
    assert len(shown) == 24
    assert shown.endswith("…")
    assert group.findtext("svg:title", namespaces=NS) == f"{name}: 5 certificates"
    assert name in (root.get("aria-label") or "")


def test_expiry_histogram_columns_over_a_base_line() -> None:
    buckets = [Bar("0-7 days", 6), Bar("8-30 days", 12), Bar("31-90 days", 3)]
    root = parse(expiry_histogram(buckets, chart_id="expiry", title="Expiring"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == (
        "Expiring: 0-7 days 6 certificates; 8-30 days 12 certificates; 31-90 days 3 certificates"
    )
    columns = rows(root, "chart-column")
    assert [texts(g) for g in columns] == [
        ["6", "0-7 days"],
        ["12", "8-30 days"],
        ["3", "31-90 days"],
    ]
    rects = [g.find("svg:rect", NS) for g in columns]
    heights = [float(r.get("height", "nan")) for r in rects if r is not None]
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.01)
    assert heights[1] == pytest.approx(4 * heights[2], rel=0.01)
    # Columns stand on the base line, left to right, without overlapping.
    line = root.find("svg:line", NS)
    assert line is not None
    base = float(line.get("y1", "nan"))
    xs = []
    for r in rects:
        assert r is not None
        assert float(r.get("y", "nan")) + float(r.get("height", "nan")) == pytest.approx(base)
        xs.append((float(r.get("x", "nan")), float(r.get("width", "nan"))))
    assert all(a[0] + a[1] < b[0] for a, b in itertools.pairwise(xs))


def test_an_all_zero_histogram_draws_no_column() -> None:
    buckets = [Bar("0-7 days", 0), Bar("8-30 days", 0)]
    root = parse(expiry_histogram(buckets, chart_id="e", title="Expiring"))
    heights = [float(r.get("height", "nan")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert heights == [0, 0]
