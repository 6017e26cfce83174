"""The product learns travel from its own vans: driven by what drivers report (pickups and
deliveries, with their times) on a road where every leg takes half as long again as the travel
model says during one hour, the learned factor for that hub and hour converges on the planted 1.5,
an hour with no legs of its own leans on the hub's, and the ETA of the next order on a van at that
hour grows with it."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from dispatch import clock
from dispatch.models import Order, TravelFactor
from dispatch.selectors.travel import ANY_HOUR
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.orders import order_set_status
from dispatch.services.routes import route_recompute_etas
from dispatch.services.travel import travel_learn
from dispatch.engine.bridge import problem_from_db
from planner.travel import SPEED_KMH, road_km, travel_minutes
from tests.factories import OrderFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = ActorRef.system("tests")
PLANTED = 1.5


def drive(org, van, orders, start, slow: float) -> None:
    """The van, at its hub, picks the orders up at `start` and delivers them in turn, each leg (the
    drive and the stop) taking `slow` times what the travel model says, as its driver reports."""
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
        order_set_status(organization_id=org.id, order_id=o.id, status="picked_up", actor=SYSTEM, at=start)
    at, lat, lon = start, van.fleet.hub.lat, van.fleet.hub.lon
    for o in orders:
        at += timedelta(minutes=slow * (travel_minutes(road_km(lat, lon, o.lat, o.lon)) + o.service_min))
        order_set_status(organization_id=org.id, order_id=o.id, status="delivered", actor=SYSTEM, at=at)
        lat, lon = o.lat, o.lon


def test_learning_from_reported_deliveries_converges_on_the_planted_slowdown_and_the_eta_follows(org, hub):
    zone = ZoneInfo("America/Chicago")
    org.time_zone = "America/Chicago"
    org.save()
    start = datetime.now(zone).replace(hour=17, minute=0, second=0, microsecond=0) - timedelta(days=1)
    clock.anchor(sim_at=start, speed=0.0)
    van = VehicleFactory(fleet__hub=hub, code="L1", lat=hub.lat, lon=hub.lon, position_at=start)
    orders = [OrderFactory(hub=hub, external_ref=f"T{i}", lat=hub.lat + 0.002 * (i + 1), lon=hub.lon + 0.001 * (i % 2),
                           window_start=start - timedelta(hours=1), window_end=start + timedelta(hours=6), service_min=0.8)
              for i in range(20)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
    for o in orders:
        order_set_status(organization_id=org.id, order_id=o.id, status="picked_up", actor=SYSTEM, at=start)
    at, lat, lon = start, hub.lat, hub.lon
    for o in orders:  # each leg takes 1.5 times what the model says (drive and stop), all within 17:00-17:59
        at += timedelta(minutes=PLANTED * (travel_minutes(road_km(lat, lon, o.lat, o.lon)) + o.service_min))
        order_set_status(organization_id=org.id, order_id=o.id, status="delivered", actor=SYSTEM, at=at)
        lat, lon = o.lat, o.lon
    assert at < start + timedelta(hours=1)

    clock.anchor(sim_at=at + timedelta(minutes=1), speed=0.0)
    from dispatch.models import AreaFactor
    from dispatch.selectors.travel import area_of

    versions = travel_learn(organization_id=org.id)
    assert versions == 2 + AreaFactor.objects.filter(organization=org).count()  # the hour, the day, and the areas
    assert travel_learn(organization_id=org.id) == 0  # learning twice from the same legs changes nothing

    rush = TravelFactor.objects.get(organization=org, hub=hub, hour=17)
    overall = TravelFactor.objects.get(organization=org, hub=hub, hour=ANY_HOUR)
    assert rush.legs == 20 and rush.observed == pytest.approx(PLANTED, rel=0.01)
    assert 1.35 < rush.factor < PLANTED and 1.0 < overall.factor < rush.factor  # shrunk: the more legs, the nearer
    assert rush.history.count() == 1 and "learned from 20 legs" in rush.history.first().history_change_reason

    # the next order on a van at 17:xx: its ETA is the model's leg times the learned factor
    later = OrderFactory(hub=hub, external_ref="NEXT", lat=hub.lat + 0.03, lon=hub.lon, window_start=start,
                         window_end=start + timedelta(hours=6), service_min=3)
    fresh = VehicleFactory(fleet__hub=hub, code="L2", lat=hub.lat, lon=hub.lon, position_at=clock.now())
    assignment_to_vehicle(order=later, vehicle=fresh, actor=SYSTEM, on_board=True)
    route_recompute_etas(vehicle=fresh)
    model = travel_minutes(road_km(hub.lat, hub.lon, later.lat, later.lon))
    eta = Order.objects.get(pk=later.pk).eta
    there = AreaFactor.objects.filter(organization=org, hub=hub, area=area_of(hub.lat, hub.lon, later.lat, later.lon)).first()
    learned = rush.factor * (there.factor if there else 1.0)  # the hour's, times the area's where the leg ends
    assert (eta - clock.now()).total_seconds() / 60 == pytest.approx(model * learned, rel=0.02)
    # and says why, in minutes, where a dispatcher reads the order
    why = Order.objects.get(pk=later.pk).eta_why
    assert why == (f"Rush hour around hub {hub.code} at 17:00: +{model * (learned - 1):.0f} min on the way here "
                   f"({learned:.2f}x the model).")
    client = Client()
    client.force_login(UserFactory(organization=org))
    assert why in client.get("/orders/NEXT/").content.decode()
    # and the planner plans this hour at the learned pace, its stops at their learned length
    problem = problem_from_db(organization_id=org.id, extra_orders=[later]).problem
    assert problem.speed_kmh == pytest.approx(SPEED_KMH / rush.factor, rel=0.001)
    assert problem.orders["NEXT"].service_min == pytest.approx(3 * rush.factor)


def test_admins_see_what_was_learned_and_its_versions_and_others_do_not(org, hub):
    from django.test import Client

    from dispatch.status import Role
    from tests.factories import UserFactory

    row = TravelFactor.objects.create(organization=org, hub=hub, hour=17, factor=1.42, legs=20, observed=1.5)
    TravelFactor.objects.create(organization=org, hub=hub, hour=ANY_HOUR, factor=1.21, legs=20, observed=1.5)
    from dispatch.models import AreaFactor

    AreaFactor.objects.create(organization=org, hub=hub, area="N2 E-1", factor=1.33, legs=15, observed=1.4)
    admin, dispatcher = Client(), Client()
    admin.force_login(UserFactory(organization=org, role=Role.ADMIN))
    dispatcher.force_login(UserFactory(organization=org, role=Role.DISPATCHER))

    page = admin.get("/settings/travel/").content.decode()
    history = admin.get(f"/settings/travel/{row.pk}/history/")

    assert "All day: <b>×1.21</b> from 20 legs" in page and "17:00-17:59" in page and "×1.42" in page
    area = page[page.index('data-area="N2 E-1"'):].split("</tr>")[0]
    assert "×1.33" in area and "<td>15</td>" in area
    assert history.status_code == 200 and "×1.42" in history.content.decode()
    assert dispatcher.get("/settings/travel/").status_code == 403


def test_a_slower_driver_s_eta_follows_his_own_pace_today(org, hub):
    """Two vans on the same streets at the same hour: one drives as the model says, the other takes
    1.5 times as long on every leg. What is learned for the hub sits between them; each van's own
    pace today (its last legs against that) moves its next ETA."""
    from dispatch.selectors.travel import learned_factor, travel_factors, van_pace

    zone = ZoneInfo("America/Chicago")
    org.time_zone = "America/Chicago"
    org.save()
    start = datetime.now(zone).replace(hour=11, minute=0, second=0, microsecond=0) - timedelta(days=1)
    clock.anchor(sim_at=start, speed=0.0)
    vans = {}
    for code, slow in (("QUICK", 1.0), ("SLOW", 1.5)):
        van = vans[code] = VehicleFactory(fleet__hub=hub, code=code, lat=hub.lat, lon=hub.lon, position_at=start)
        orders = [OrderFactory(hub=hub, external_ref=f"{code}{i}", lat=hub.lat + 0.002 * (i + 1), lon=hub.lon - 0.001 * (i % 3),
                               window_start=start - timedelta(hours=1), window_end=start + timedelta(hours=6), service_min=1.0)
                  for i in range(10)]
        drive(org, van, orders, start, slow)
    clock.anchor(sim_at=start + timedelta(minutes=59), speed=0.0)

    travel_learn(organization_id=org.id)

    pace = van_pace(organization_id=org.id)
    hub_factor = learned_factor(travel_factors(organization_id=org.id), hub.id, 11)
    assert 1.0 < hub_factor < 1.5
    assert pace[vans["QUICK"].id] < 1.0 < pace[vans["SLOW"].id]
    assert hub_factor * pace[vans["SLOW"].id] == pytest.approx(1.5, rel=0.12)  # shrunk towards the hub's
    etas = {}
    for code, van in vans.items():
        later = OrderFactory(hub=hub, external_ref=f"NEXT-{code}", lat=hub.lat + 0.03, lon=hub.lon, window_start=start,
                             window_end=start + timedelta(hours=6), service_min=3)
        van.lat, van.lon, van.position_at = hub.lat, hub.lon, clock.now()
        van.save()
        assignment_to_vehicle(order=later, vehicle=van, actor=SYSTEM, on_board=True)
        route_recompute_etas(vehicle=van)
        etas[code] = (Order.objects.get(pk=later.pk).eta - clock.now()).total_seconds() / 60
    model = travel_minutes(road_km(hub.lat, hub.lon, hub.lat + 0.03, hub.lon))
    assert etas["SLOW"] == pytest.approx(model * hub_factor * pace[vans["SLOW"].id], rel=0.02)
    assert etas["QUICK"] < model * hub_factor < etas["SLOW"]
    # the admins see each van's pace today, and from how many legs
    from dispatch.status import Role

    admin = Client()
    admin.force_login(UserFactory(organization=org, role=Role.ADMIN))
    page = admin.get("/settings/travel/").content.decode()
    slow_row = page[page.index('data-van="SLOW"'):].split("</tr>")[0]
    assert f"×{pace[vans['SLOW'].id]:.2f}" in slow_row and "<td>8</td>" in slow_row
    assert 'data-van="QUICK"' in page


def test_an_area_with_slow_streets_is_learned_apart_from_the_rest_of_the_hub(org, hub):
    """At the same hour, legs ending north of the hub take 1.6 times the model and legs ending
    south take what it says: the hour's figure is their mix, and each area's figure takes it apart,
    so the next ETA into the north is slower than one as long into the south."""
    from dispatch.models import AreaFactor
    from dispatch.selectors.travel import AREA_KM, area_of

    zone = ZoneInfo("America/Chicago")
    org.time_zone = "America/Chicago"
    org.save()
    start = datetime.now(zone).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    clock.anchor(sim_at=start, speed=0.0)
    step = AREA_KM / 111.32
    north, south = (hub.lat + 1.5 * step, hub.lon), (hub.lat - 0.5 * step, hub.lon)
    van = VehicleFactory(fleet__hub=hub, code="A1", lat=hub.lat, lon=hub.lon, position_at=start)
    orders = [OrderFactory(hub=hub, external_ref=f"A{i}", lat=(north if i % 2 else south)[0] + 0.0004 * (i % 5),
                           lon=hub.lon + 0.0005 * (i % 3), window_start=start - timedelta(hours=1),
                           window_end=start + timedelta(hours=6), service_min=1.0) for i in range(24)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
        order_set_status(organization_id=org.id, order_id=o.id, status="picked_up", actor=SYSTEM, at=start)
    at, lat, lon = start, hub.lat, hub.lon
    for o in orders:
        slow = 1.6 if o.lat > hub.lat else 1.0
        at += timedelta(minutes=slow * (travel_minutes(road_km(lat, lon, o.lat, o.lon)) + o.service_min))
        order_set_status(organization_id=org.id, order_id=o.id, status="delivered", actor=SYSTEM, at=at)
        lat, lon = o.lat, o.lon
    clock.anchor(sim_at=at + timedelta(minutes=1), speed=0.0)

    travel_learn(organization_id=org.id)

    north_area = AreaFactor.objects.get(organization=org, hub=hub, area=area_of(hub.lat, hub.lon, *north))
    south_area = AreaFactor.objects.get(organization=org, hub=hub, area=area_of(hub.lat, hub.lon, *south))
    hour = TravelFactor.objects.get(organization=org, hub=hub, hour=10)  # every hour mixes north and south alike
    assert north_area.legs == 12 and south_area.legs == 12
    assert north_area.factor > 1.1 > 0.95 > south_area.factor
    assert hour.factor * north_area.factor == pytest.approx(1.6, rel=0.15)  # the two multiply back to what was planted
    etas = {}
    for name, (lat, lon) in (("N", north), ("S", south)):
        later = OrderFactory(hub=hub, external_ref=f"NEXT-{name}", lat=lat, lon=lon, window_start=start,
                             window_end=start + timedelta(hours=6), service_min=0)
        van = VehicleFactory(fleet__hub=hub, code=f"E{name}", lat=hub.lat, lon=hub.lon, position_at=clock.now())
        assignment_to_vehicle(order=later, vehicle=van, actor=SYSTEM, on_board=True)
        route_recompute_etas(vehicle=van)
        model = travel_minutes(road_km(hub.lat, hub.lon, lat, lon))
        etas[name] = (Order.objects.get(pk=later.pk).eta - clock.now()).total_seconds() / 60 / model
    assert etas["N"] > 1.3 * etas["S"]


def test_a_hub_with_few_legs_leans_on_the_whole_fleets_pace_and_one_with_none_is_given_it(org, hub):
    """Every leg around one hub takes 1.5 times the model; another hub has two legs, at 1.5 too, and
    a third none. Learned within the hour from every van, the organization's level puts the second
    hub near 1.5 (on its two legs alone it would stay near the model), and the third hub's vans are
    planned and told at the fleet's pace, from no leg of its own; the admins read where it came from."""
    from dispatch.status import Role
    from tests.factories import HubFactory

    zone = ZoneInfo("America/Chicago")
    org.time_zone = "America/Chicago"
    org.save()
    start = datetime.now(zone).replace(hour=14, minute=0, second=0, microsecond=0) - timedelta(days=1)
    clock.anchor(sim_at=start, speed=0.0)
    few, none = (HubFactory(organization=org, code=code, lat=hub.lat + 0.1 * n, lon=hub.lon) for n, code in ((1, "FEW"), (2, "NONE")))
    for place, count in ((hub, 24), (few, 2)):
        van = VehicleFactory(fleet__hub=place, code=f"V-{place.code}", lat=place.lat, lon=place.lon, position_at=start)
        orders = [OrderFactory(hub=place, external_ref=f"{place.code}-{i}", lat=place.lat + 0.002 * (i + 1), lon=place.lon,
                               window_start=start - timedelta(hours=1), window_end=start + timedelta(hours=6), service_min=1.0)
                  for i in range(count)]
        drive(org, van, orders, start, PLANTED)
    clock.anchor(sim_at=start + timedelta(minutes=59), speed=0.0)

    travel_learn(organization_id=org.id)

    overall = {f.hub.code: f for f in TravelFactor.objects.filter(organization=org, hour=ANY_HOUR).select_related("hub")}
    assert overall["FEW"].legs == 2 and overall["FEW"].factor > 1.35  # its two legs alone, shrunk to the model: 1.10
    assert overall["NONE"].legs == 0 and overall["NONE"].observed is None and 1.35 < overall["NONE"].factor < PLANTED
    assert not TravelFactor.objects.filter(organization=org, hub=none).exclude(hour=ANY_HOUR).exists()
    assert "the organization's" in overall["NONE"].history.first().history_change_reason
    # a van of the hub with no legs: its next ETA is at the fleet's pace
    van = VehicleFactory(fleet__hub=none, code="V-NONE", lat=none.lat, lon=none.lon, position_at=clock.now())
    later = OrderFactory(hub=none, external_ref="NEXT-NONE", lat=none.lat + 0.03, lon=none.lon, window_start=start,
                         window_end=start + timedelta(hours=6), service_min=0)
    assignment_to_vehicle(order=later, vehicle=van, actor=SYSTEM, on_board=True)
    route_recompute_etas(vehicle=van)
    model = travel_minutes(road_km(none.lat, none.lon, later.lat, later.lon))
    assert (Order.objects.get(pk=later.pk).eta - clock.now()).total_seconds() / 60 == pytest.approx(model * overall["NONE"].factor, rel=0.02)
    admin = Client()
    admin.force_login(UserFactory(organization=org, role=Role.ADMIN))
    page = admin.get("/settings/travel/").content.decode()
    section = page[page.index('data-hub="NONE"'):].split("</section>")[0]
    assert "this hub has no legs of its own yet" in section
