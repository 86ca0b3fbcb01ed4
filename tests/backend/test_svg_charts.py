"""The inline SVG charts of the admin dashboard."""

import re

import pytest

from backend.svg_charts import Series, axis_maximum, bar_chart, horizontal_bar_chart, line_chart


def _bars(svg: str) -> list[dict]:
    return [
        {name: float(value) for name, value in re.findall(r'(\w+)="([\d.]+)"', attrs)}
        for attrs in re.findall(r'<rect class="bar" ([^>]*)>', svg)
    ]


@pytest.mark.parametrize(
    ("value", "maximum"),
    [(0, 4), (-3, 4), (0.3, 4), (4, 4), (5, 8), (7, 8), (13, 16), (24, 24), (41, 60), (240, 240)],
)
def test_axis_maximum_rounds_up_to_four_whole_steps(value, maximum):
    assert axis_maximum(value) == maximum
    assert maximum % 4 == 0


def test_bar_chart_draws_one_bar_per_value_scaled_to_the_axis():
    # given two series over three days, the largest value exactly an axis maximum
    svg = bar_chart(
        labels=["12/1", "12/2", "12/3"],
        series=[Series("sent", [8, 4, 0]), Series("skipped", [2, 0, 1])],
        title="Notifications",
        height=260,
    )

    bars = _bars(svg)
    assert len(bars) == 6
    plot_height = 260 - 34 - 30
    heights = [bar["height"] for bar in bars]
    assert heights[0] == pytest.approx(plot_height)  # 8 of an axis up to 8
    assert heights[1] == pytest.approx(plot_height / 2)
    assert heights[2] == 0
    assert [bar["value"] for bar in bars] == [8, 4, 0, 2, 0, 1]
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'aria-label="Notifications"' in svg


def test_charts_with_no_data_draw_an_empty_plot():
    assert _bars(bar_chart(labels=["a"], series=[Series("x", [0])], title="t"))[0]["height"] == 0
    assert "<svg" in line_chart(labels=[], series=[Series("x", [])], title="t")
    assert "<svg" in horizontal_bar_chart(labels=[], values=[], title="t")


def test_chart_text_is_escaped():
    svg = bar_chart(labels=["<b>"], series=[Series("<script>", [1])], title='"quoted"')

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;b&gt;" in svg
    assert 'aria-label="&quot;quoted&quot;"' in svg


def test_line_chart_draws_a_point_per_value_and_one_line_per_series():
    svg = line_chart(
        labels=["1", "2", "3", "4"],
        series=[Series("claimed", [1, 2, 3, 4]), Series("redeemed", [0, 1, 1, 2])],
        title="Coupons",
    )

    assert svg.count('<circle class="point"') == 8
    assert svg.count('<polyline class="line"') == 2
    assert re.findall(r'data-value="(\d+)"', svg) == ["1", "2", "3", "4", "0", "1", "1", "2"]


def test_horizontal_bars_are_proportional_and_labelled_with_their_figure():
    svg = horizontal_bar_chart(
        labels=["S001", "S002"], values=[50, 25], title="Stores", value_format=lambda v: f"{v}笔"
    )

    first, second = _bars(svg)
    assert first["width"] == pytest.approx(2 * second["width"], abs=0.2)
    assert "50笔" in svg and "25笔" in svg
