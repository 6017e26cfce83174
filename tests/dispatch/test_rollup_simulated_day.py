"""A simulated city day through the real web process (deliveries, failures and carrier events over
the API), then the roll-up: every figure the reports read equals the sum over the raw orders."""

from datetime import time as dtime
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum

from dispatch.engine.placement import plan_new_orders
from dispatch.models import DailyRollup, Order
from dispatch.reporting.rollups import rollups_refresh
from dispatch.simulation.city import CITIES
from dispatch.simulation.seed import seed_city
from dispatch.simulation.simulator import ApiClient, Simulator

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_rollup_agrees_with_the_orders_after_a_simulated_day(daphne_server):
    result = seed_city(city=CITIES["chicago"], seed=5, vans_per_hub=3, orders=90, start=dtime(9, 0), speed=1200,
                       password="pw-for-tests", slug="rollup-day")
    org = result["organization"]
    plan_new_orders(organization_id=org.id)
    sim = Simulator(client=ApiClient(daphne_server, result["token"]), city=CITIES["chicago"], seed=5, orders_per_hour=20,
                    verbose=False, tick_seconds=0.25)
    # Play the day on until 30 orders have reached an outcome and carriers have reported (a loaded machine plays
    # fewer per tick), at most 15 hours.
    for _ in range(5):
        sim.run(duration_min=3 * 60)
        if (Order.objects.filter(organization=org, status__in=["delivered", "failed", "returned"]).count() >= 30
                and sim.stats["carrier_events"] > 0):
            break
    assert sim.stats["carrier_events"] > 0

    rollups_refresh()
    raw = Order.objects.filter(organization=org, status__in=["delivered", "failed", "returned"])
    rolled = DailyRollup.objects.filter(organization=org)
    expected = raw.aggregate(n=Count("id"), delivered=Count("id", filter=Q(status="delivered")),
                             on_time=Count("id", filter=Q(status="delivered", late_min=0)),
                             cost=Sum("cost"), penalty=Sum("penalty"), weight=Sum("weight_kg"))
    got = rolled.aggregate(n=Sum("orders"), delivered=Sum("delivered"), on_time=Sum("on_time"), cost=Sum("cost"),
                           penalty=Sum("penalty"), weight=Sum("weight_kg"))
    assert expected["n"] >= 30
    for key in ("n", "delivered", "on_time"):
        assert got[key] == expected[key], key
    assert Decimal(got["cost"]) == Decimal(expected["cost"]) and Decimal(got["penalty"]) == Decimal(expected["penalty"])
    assert got["weight"] == pytest.approx(expected["weight"])
    assert Decimal(expected["cost"]) > 0  # vans and carriers were paid for
    for code in {o.carrier.code for o in raw.filter(carrier__isnull=False).select_related("carrier")}:
        per = raw.filter(carrier__code=code)
        assert rolled.filter(carrier__code=code).aggregate(c=Sum("cost"))["c"] == per.aggregate(c=Sum("cost"))["c"]
