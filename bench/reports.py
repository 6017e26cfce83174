"""The Performance page on real volumes: 90 days x 100,000 orders (generated: three hubs, four
carriers with different reliability, three own fleets, failures with reasons, exceptions and
decisions), rolled up by the product's own roll-up, savings per closed day by the product's own
evaluator, then the page and its exports requested through Django as a user does.

    python -m bench.reports [--orders 100000] [--days 90] [--requests 40]

Needs PostgreSQL (BENCH_DATABASE_URL, default controltower_bench on this machine). Writes
bench/results/reports.json (p95 server time in ms) and reports.md."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/controltower_bench")

RELIABILITY = {"REX": (0.06, 0.04), "CITY": (0.12, 0.06), "GIG": (0.25, 0.12), "NAT": (0.04, 0.03)}  # p_late, p_fail
REASONS = ["not_home", "not_home", "not_home", "refused", "address_problem", "damaged", "other"]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def setup_env() -> None:
    env = {"DATABASE_URL": DB, "DJANGO_SETTINGS_MODULE": "controltower.settings", "CELERY_TASK_ALWAYS_EAGER": "true",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key-" + "b" * 40), "REDIS_URL": os.environ.get("REDIS_URL", "")}
    os.environ.update({k: v for k, v in env.items() if v})
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB.rsplit("/", 1)[1]], capture_output=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env={**os.environ}, check=True)
    import django

    django.setup()


def generate(n_orders: int, days: int, seed: int = 7):
    """Bulk-generate a tenant's history. Returns (organization, ops manager user)."""
    from django.utils import timezone

    from carriers.models import (
        BookingStatus,
        Carrier,
        CarrierBooking,
        CarrierZone,
        RateCard,
    )
    from dispatch.models import (
        Decision,
        Event,
        Fleet,
        Hub,
        Order,
        OrderException,
        Organization,
        User,
        Vehicle,
    )
    from dispatch.selectors import service_rules
    from dispatch.services.settlement import late_penalty, money
    from dispatch.simulation.city import CITIES, offset

    rng = random.Random(seed)
    stamp = int(time.time())
    city = CITIES["chicago"]
    org = Organization.objects.create(name="Reports bench", slug=f"bench-reports-{stamp}")
    rules = service_rules(org.id)
    hubs, vans = [], []
    for spec in city.hubs:
        hub = Hub.objects.create(organization=org, code=spec.code, name=spec.name, lat=spec.lat, lon=spec.lon)
        fleet = Fleet.objects.create(organization=org, name=f"{spec.name} vans", hub=hub)
        hubs.append(hub)
        for i in range(10):
            vans.append(Vehicle.objects.create(organization=org, fleet=fleet, code=f"{spec.code}-{i}", capacity_kg=600,
                                               cost_per_km=0.55, cost_per_hour=24.0))
    carriers = {}
    for spec in city.carriers:
        c = Carrier.objects.create(organization=org, code=spec.code, name=spec.name, service_levels=list(spec.service_levels),
                                   skills=list(spec.skills), lead_min=spec.lead_min, pickup_cutoff=spec.cutoff)
        zlat, zlon = offset(city.lat, city.lon, *spec.zone_offset_km)
        CarrierZone.objects.create(carrier=c, name="metro", lat=zlat, lon=zlon, radius_km=spec.radius_km)
        for level in spec.service_levels:
            RateCard.objects.create(carrier=c, service_level=level, base=spec.base, per_kg=spec.per_kg, per_km=spec.per_km)
        carriers[spec.code] = c
    today = timezone.localdate()
    vans_of = {h.id: [v for v in vans if v.fleet.hub_id == h.id] for h in hubs}
    tz = timezone.get_current_timezone()
    orders, meta = [], []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        for k in range(n_orders // days + (1 if back <= n_orders % days else 0)):
            hub = hubs[k % len(hubs)]
            r = city.radius_km * (rng.random() ** 0.5) / 111.0
            lat, lon = hub.lat + rng.uniform(-r, r), hub.lon + rng.uniform(-r, r) * 1.3
            level = rng.choices(["express", "same_day", "scheduled", "next_day"], [15, 50, 30, 5])[0]
            start = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=rng.randint(8, 17))
            end = start + timedelta(hours=2 if level == "express" else 4)
            by_carrier = rng.random() < 0.55
            able = [c for c, obj in carriers.items() if level in obj.service_levels]
            code = rng.choice(able) if by_carrier and able else None
            p_late, p_fail = RELIABILITY.get(code, (0.08, 0.05)) if code else (0.08, 0.05)
            failed = rng.random() < p_fail
            retried = failed and rng.random() < 0.6
            late = 0 if rng.random() >= p_late else int(rng.expovariate(1 / 25)) + 1
            delivered = (not failed) or retried
            price = Decimal(str(round(rng.uniform(5.5, 14.0), 2)))
            van = None if code else rng.choice(vans_of[hub.id])  # a van of the order's own hub
            attempts = (1 if delivered else 0) + (1 if failed else 0)
            cost = money(price * attempts) if code else money(Decimal(str(round(rng.uniform(3.0, 9.0), 2))) * attempts)
            rule = rules[level]
            status = "delivered" if delivered else ("returned" if rng.random() < 0.5 else "failed")
            o = Order(organization=org, external_ref=f"RB{stamp}-{back}-{k}", hub=hub, address="bench", lat=lat, lon=lon,
                      window_start=start, window_end=end, sla_deadline=end, service_level=level, weight_kg=round(rng.uniform(0.5, 25), 1),
                      customer_name="Bench", status=status, carrier=carriers[code] if code else None, vehicle=van,
                      failure_reason=rng.choice(REASONS) if failed else "", attempts=attempts, cost=cost,
                      late_min=late if delivered else None,
                      penalty=late_penalty(rule, late) if delivered else (money(rule.unserved) if status == "returned" else Decimal("0.00")),
                      delivered_at=end - timedelta(minutes=rng.randint(5, 90)) + timedelta(minutes=late + (90 if late else 0)) if delivered else None,
                      created_at=start - timedelta(hours=rng.randint(2, 20)))
            if delivered and late:
                o.delivered_at = end + timedelta(minutes=late)
            orders.append(o.derive(hub))
            meta.append((code, price))
    for i in range(0, len(orders), 5000):
        Order.objects.bulk_create(orders[i:i + 5000], batch_size=5000)
    bookings = [CarrierBooking(organization=org, carrier=carriers[code], order=o, idempotency_key=f"rb-{o.id}", status=BookingStatus.CONFIRMED,
                               price=price) for o, (code, price) in zip(orders, meta) if code]
    CarrierBooking.objects.bulk_create(bookings, batch_size=5000)
    excs, decisions = [], []
    kinds = ["carrier_outage", "failed_delivery", "sla_at_risk", "vehicle_breakdown", "driver_no_show", "demand_spike"]
    for back in range(days, 0, -1):
        day = datetime.combine(today - timedelta(days=back), datetime.min.time(), tzinfo=tz)
        for j in range(30):
            at = day + timedelta(hours=8, minutes=rng.randint(0, 600))
            kind = rng.choice(kinds)
            excs.append(OrderException(organization=org, kind=kind, cause_key=f"b:{back}:{j}", title=kind, detected_at=at,
                                       state="resolved", resolved_at=at + timedelta(minutes=rng.randint(2, 90)),
                                       carrier=rng.choice(list(carriers.values())) if kind == "carrier_outage" else None,
                                       vehicle=rng.choice(vans) if kind in ("vehicle_breakdown", "driver_no_show") else None))
    OrderException.objects.bulk_create(excs, batch_size=5000)
    for e in excs:
        outcome = rng.choices(["auto", "approved", "overridden", "rejected"], [50, 30, 10, 10])[0]
        decisions.append(Decision(organization=org, exception=e, state="rejected" if outcome == "rejected" else "applied",
                                  decided_at=e.resolved_at, decided_actor_type="system" if outcome == "auto" else "user",
                                  decided_by="planner" if outcome == "auto" else "dispatcher",
                                  reason_code="customer_request" if outcome == "overridden" else "",
                                  cost_delta=round(rng.uniform(-20, 15), 2)))
    Decision.objects.bulk_create(decisions, batch_size=5000)
    for code, c in carriers.items():
        for back in range(days, 0, -1):
            if rng.random() < 0.05:
                at = datetime.combine(today - timedelta(days=back), datetime.min.time(), tzinfo=tz) + timedelta(hours=12)
                Event.objects.create(organization=org, kind="carrier.health", carrier=c, actor_type="system", actor="bench",
                                     data={"from": "up", "to": "down"}, created_at=at)
    user = User.objects.create_user(username=f"ops-{stamp}", password="bench-pass-123", organization=org, role="ops_manager")
    return org, user, today


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--keep", action="store_true", help="Keep the generated tenant (for a look at the page)")
    args = ap.parse_args(argv)
    setup_env()
    from django.test import Client

    from dispatch.engine.savings import savings_for_day
    from dispatch.models import Order
    from dispatch.reporting.rollups import rollup_day

    t0 = time.monotonic()
    org, user, today = generate(args.orders, args.days)
    generated_s = time.monotonic() - t0
    days = [today - timedelta(days=b) for b in range(args.days, 0, -1)]
    t0 = time.monotonic()
    for d in days:
        rollup_day(organization_id=org.id, day=d)
    rollup_s = time.monotonic() - t0
    t0 = time.monotonic()
    for d in days:
        savings_for_day(organization_id=org.id, day=d)
    savings_s = time.monotonic() - t0

    client = Client()
    client.force_login(user)
    views = {
        "90 days": {"period": "90d"},
        "30 days, one hub": {"period": "30d", "hub": org.hubs.order_by("code").first().code},
        "90 days, one carrier": {"period": "90d", "resource": "carrier:GIG"},
        "7 days, express": {"period": "7d", "service_level": "express"},
    }
    timings: dict[str, list[float]] = {}
    for name, params in views.items():
        assert client.get("/performance/", params).status_code == 200  # warm
        timings[name] = []
        for _ in range(args.requests):
            t = time.perf_counter()
            response = client.get("/performance/", params)
            timings[name].append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
    scorecard = []
    for _ in range(args.requests):
        t = time.perf_counter()
        assert client.get("/performance/carrier/GIG/", {"period": "90d"}).status_code == 200
        scorecard.append((time.perf_counter() - t) * 1000)

    tracemalloc.start()
    t = time.perf_counter()
    response = client.get("/performance/export/orders.csv", {"period": "90d"})
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    export_s = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total_orders = Order.objects.filter(organization=org).count()

    summary = {
        "orders": total_orders, "days": args.days, "requests_per_view": args.requests,
        "page_p95_ms": round(max(_p95(v) for v in timings.values()), 1),
        "views": {k: {"p50_ms": round(statistics.median(v), 1), "p95_ms": round(_p95(v), 1)} for k, v in timings.items()},
        "scorecard_p95_ms": round(_p95(scorecard), 1),
        "export_rows": rows, "export_s": round(export_s, 2), "export_peak_mb": round(peak / 1e6, 1),
        "generate_s": round(generated_s, 1), "rollup_all_days_s": round(rollup_s, 1), "savings_all_days_s": round(savings_s, 1),
        "target_page_p95_ms": 1000,
        "machine": f"{os.cpu_count()} cores; PostgreSQL on this machine; the Django test client (whole request cycle, no network)",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reports.json").write_text(json.dumps(summary, indent=1))
    lines = [f"# Performance page on {total_orders:,} orders over {args.days} days", "",
             "| view | p50 | p95 |", "|---|---|---|"]
    lines += [f"| /performance/ {k} | {v['p50_ms']} ms | {v['p95_ms']} ms |" for k, v in summary["views"].items()]
    lines += [f"| carrier scorecard, 90 days | | {summary['scorecard_p95_ms']} ms |", "",
              f"Target: p95 <= 1000 ms server time. Worst view p95: **{summary['page_p95_ms']} ms**.", "",
              f"CSV export of every order of the 90 days: {rows:,} rows in {summary['export_s']} s, "
              f"peak Python memory {summary['export_peak_mb']} MB (streamed in chunks of 2,000).", "",
              f"Roll-up of all {args.days} days from the raw orders: {summary['rollup_all_days_s']} s; savings (static-rule "
              f"baseline and the day as run, both through the planner's evaluator) for all days: {summary['savings_all_days_s']} s.", "",
              f"{summary['machine']}. `python -m bench.reports` (part of `make bench`).", ""]
    (RESULTS / "reports.md").write_text("\n".join(lines))
    print(json.dumps(summary, indent=1))
    if not args.keep:
        from dispatch.simulation.seed import organization_delete

        organization_delete(org)
    return 0


if __name__ == "__main__":
    sys.exit(main())
