"""The performance charts: pure functions from report rows to Plotly figure JSON (plain dicts the
page hands to plotly.min.js, which comes from the plotly package). No database, no request."""

from __future__ import annotations

from collections import defaultdict

PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"]


DAY_MS = 86_400_000
# Days on a date axis: one tick a day, the day's name and date, never a time of day (a period of
# one day otherwise showed "23:59:59.9995" with every point stacked on it).
DAYS = {"type": "date", "tickformat": "%a %d %b", "dtick": DAY_MS, "automargin": True}
# Category labels (reasons, kinds, lateness) are kept whole: the axis makes room for them.
CATEGORIES = {"type": "category", "automargin": True, "tickangle": -30}


def _layout(title: str, y_title: str, *, xaxis: dict, empty: str = "", **extra) -> dict:
    grid = {"gridcolor": "#334155", "zerolinecolor": "#475569"}
    layout = {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 50, "r": 10, "t": 36, "b": 40}, "height": 300,
              "font": {"color": "#cbd5e1"}, "xaxis": {**grid, **xaxis},
              "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", "automargin": True, **grid},
              "legend": {"orientation": "h", "y": -0.3}, "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", **extra}
    if empty:  # a chart with nothing to draw says why, instead of an empty frame
        layout["annotations"] = [{"text": empty, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                  "font": {"size": 13}}]
        layout["xaxis"] = {**layout["xaxis"], "visible": False}
        layout["yaxis"] = {**layout["yaxis"], "visible": False}
    return layout


NOTHING = "Nothing in this period yet."


def _series(rows: list[dict], value: str, scale: float = 1.0) -> list[dict]:
    by_name: dict[str, list] = defaultdict(list)
    for r in rows:
        if r[value] is not None:
            by_name[r["name"]].append((r["day"].isoformat(), round(float(r[value]) * scale, 2)))
    return [{"type": "scatter", "mode": "lines+markers", "name": name, "x": [p[0] for p in pts], "y": [p[1] for p in pts],
             "line": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (name, pts) in enumerate(sorted(by_name.items()))]


def on_time_trend(rows: list[dict]) -> dict:
    data = _series(rows, "on_time_rate", 100.0)
    return {"data": data, "layout": _layout("On-time rate per carrier and fleet", "% on time", xaxis=DAYS,
                                            empty="" if data else NOTHING)}


def cost_trend(rows: list[dict]) -> dict:
    data = _series(rows, "cost_per_order")
    return {"data": data, "layout": _layout("Cost per order", "per order", xaxis=DAYS, empty="" if data else NOTHING)}


def _bars(x: list, y: list, title: str, y_title: str, colour: str) -> dict:
    return {"data": [{"type": "bar", "x": x, "y": y, "marker": {"color": colour}}],
            "layout": _layout(title, y_title, xaxis=CATEGORIES, empty="" if x else NOTHING)}


def failure_reasons(rows: list[dict]) -> dict:
    return _bars([r["label"] for r in rows], [r["failed"] for r in rows], "Failed attempts by reason", "attempts", "#dc2626")


def lateness(rows: list[dict]) -> dict:
    return _bars([r["label"] for r in rows], [r["late"] for r in rows], "Late deliveries by minutes late", "deliveries", "#ea580c")


def exceptions_by_kind(rows: list[dict]) -> dict:
    return _bars([r["label"] for r in rows], [r["exceptions"] for r in rows], "Exceptions by kind", "exceptions", "#9333ea")


def savings(rows: list[dict]) -> dict:
    days = [r["day"].isoformat() for r in rows]
    return {"data": [
        {"type": "bar", "name": "Static-rule baseline", "x": days, "y": [float(r["baseline"]) for r in rows], "marker": {"color": "#94a3b8"}},
        {"type": "bar", "name": "As run", "x": days, "y": [float(r["actual"]) for r in rows], "marker": {"color": "#16a34a"}},
    ], "layout": _layout("Cost against the static-rule baseline", "cost", xaxis=DAYS, barmode="group",
                         empty="" if rows else "No closed day in this period yet: a day's savings are computed once it is over.")}
