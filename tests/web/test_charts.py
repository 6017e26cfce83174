"""The Performance charts are pure functions of report rows: what they tell a reader."""

from datetime import date
from decimal import Decimal

from web.performance import charts


def test_a_one_day_trend_is_drawn_on_a_day_axis_not_at_a_time_of_day():
    rows = [{"name": "Van fleet", "day": date(2026, 12, 7), "on_time_rate": 0.9, "cost_per_order": Decimal("7.5")}]

    fig = charts.on_time_trend(rows)

    assert fig["data"][0]["x"] == ["2026-12-07"]
    assert fig["layout"]["xaxis"]["type"] == "date" and fig["layout"]["xaxis"]["tickformat"] == "%a %d %b"
    assert fig["layout"]["xaxis"]["dtick"] == charts.DAY_MS and "annotations" not in fig["layout"]


def test_savings_with_no_closed_day_say_why_the_chart_is_empty():
    fig = charts.savings([])

    [note] = fig["layout"]["annotations"]
    assert "No closed day in this period yet" in note["text"]


def test_bar_labels_get_the_room_they_need():
    fig = charts.failure_reasons([{"label": "Customer not home", "failed": 3}, {"label": "Refused by the customer", "failed": 1}])

    assert fig["layout"]["xaxis"]["automargin"] is True and fig["layout"]["xaxis"]["type"] == "category"
    assert fig["data"][0]["x"] == ["Customer not home", "Refused by the customer"]
