"""The performance charts: pure functions from report rows to Plotly figure JSON (plain dicts the
page hands to plotly.min.js, which comes from the plotly package). No database, no request."""

from __future__ import annotations

from collections import defaultdict

PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"]


def _layout(title: str, y_title: str, **extra) -> dict:
    grid = {"gridcolor": "#334155", "zerolinecolor": "#475569"}
    return {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 50, "r": 10, "t": 36, "b": 40}, "height": 280,
            "font": {"color": "#cbd5e1"}, "xaxis": grid, "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", **grid},
            "legend": {"orientation": "h", "y": -0.2}, "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", **extra}


def _series(rows: list[dict], value: str, scale: float = 1.0) -> list[dict]:
    by_name: dict[str, list] = defaultdict(list)
    for r in rows:
        if r[value] is not None:
            by_name[r["name"]].append((r["day"].isoformat(), round(float(r[value]) * scale, 2)))
    return [{"type": "scatter", "mode": "lines+markers", "name": name, "x": [p[0] for p in pts], "y": [p[1] for p in pts],
             "line": {"color": PALETTE[i % len(PALETTE)]}}
            for i, (name, pts) in enumerate(sorted(by_name.items()))]


def on_time_trend(rows: list[dict]) -> dict:
    return {"data": _series(rows, "on_time_rate", 100.0), "layout": _layout("On-time rate per carrier and fleet", "% on time")}


def cost_trend(rows: list[dict]) -> dict:
    return {"data": _series(rows, "cost_per_order"), "layout": _layout("Cost per order", "per order")}


def _bars(x: list, y: list, title: str, y_title: str, colour: str) -> dict:
    return {"data": [{"type": "bar", "x": x, "y": y, "marker": {"color": colour}}], "layout": _layout(title, y_title)}


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
    ], "layout": _layout("Cost against the static-rule baseline", "cost", barmode="group")}
