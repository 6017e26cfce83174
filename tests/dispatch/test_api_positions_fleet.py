from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import Event, VehiclePosition
from tests.factories import DriverFactory, HubFactory, ShiftFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def ping(code="VAN1", lat=41.90, lon=-87.65, at=None, **extra):
    return {"vehicle": code, "lat": lat, "lon": lon, "timestamp": (at or timezone.now()).isoformat(), **extra}


def test_a_ping_moves_the_vehicle(api, vehicle):
    response = api.post("/api/vehicle-positions/", {"pings": [ping(speed=31.5, heading=90)]}, format="json")

    assert response.status_code == 202
    vehicle.refresh_from_db()
    assert (vehicle.lat, vehicle.lon, vehicle.speed_kmh, vehicle.heading) == (41.90, -87.65, 31.5, 90)


def test_a_late_out_of_order_ping_is_stored_but_never_moves_the_vehicle_backwards(api, vehicle):
    now = timezone.now()
    api.post("/api/vehicle-positions/", {"pings": [ping(lat=41.95, at=now)]}, format="json")

    response = api.post("/api/vehicle-positions/", {"pings": [ping(lat=41.80, at=now - timedelta(minutes=2))]}, format="json")

    assert response.status_code == 202 and response.json()["stale"] == 1
    vehicle.refresh_from_db()
    assert vehicle.lat == 41.95
    assert VehiclePosition.objects.filter(vehicle=vehicle).count() == 2


def test_pings_within_one_batch_apply_in_time_order(api, vehicle):
    now = timezone.now()
    pings = [ping(lat=41.97, at=now), ping(lat=41.91, at=now - timedelta(seconds=30))]

    api.post("/api/vehicle-positions/", {"pings": pings}, format="json")

    vehicle.refresh_from_db()
    assert vehicle.lat == 41.97


def test_an_unknown_vehicle_rejects_the_batch_and_writes_nothing(api, vehicle):
    response = api.post("/api/vehicle-positions/", {"pings": [ping(), ping(code="GHOST")]}, format="json")

    assert response.status_code == 400
    assert "vehicle" in response.json()["error"]["fields"]
    assert VehiclePosition.objects.count() == 0


def test_another_tenants_vehicle_is_unknown_here(api, other_org):
    theirs = VehicleFactory(fleet__hub=HubFactory(organization=other_org), code="THEIRS")

    response = api.post("/api/vehicle-positions/", {"pings": [ping(code=theirs.code)]}, format="json")

    assert response.status_code == 400
    theirs.refresh_from_db()
    assert theirs.lat == 41.88


@pytest.mark.parametrize("bad", [{"lat": "nan"}, {"lon": 200}, {"speed": -3}, {"timestamp": "yesterday"}])
def test_bad_pings_are_refused(api, vehicle, bad):
    response = api.post("/api/vehicle-positions/", {"pings": [{**ping(), **bad}]}, format="json")

    assert response.status_code == 400
    assert VehiclePosition.objects.count() == 0


def test_a_ping_far_in_the_future_is_refused(api, vehicle):
    response = api.post("/api/vehicle-positions/", {"pings": [ping(at=timezone.now() + timedelta(hours=2))]}, format="json")

    assert response.status_code == 400
    assert "timestamp" in str(response.json()["error"]["fields"])


def test_vehicle_status_changes_are_logged(api, vehicle):
    response = api.post("/api/vehicles/VAN1/status/", {"status": "unavailable", "reason": "flat tyre"}, format="json")

    assert response.status_code == 200 and response.json()["status"] == "unavailable"
    event = Event.objects.get(vehicle=vehicle, kind="vehicle.status")
    assert event.data == {"from": "on_duty", "to": "unavailable", "reason": "flat tyre"}


def test_driver_status_changes_are_logged_against_the_shift_vehicle(api, org, vehicle):
    shift = ShiftFactory(driver=DriverFactory(organization=org, code="DRV1"), vehicle=vehicle)

    response = api.post("/api/drivers/DRV1/status/", {"status": "on_duty"}, format="json")

    assert response.status_code == 200
    assert Event.objects.get(kind="driver.status").vehicle == shift.vehicle


def test_an_unknown_duty_status_is_refused(api, vehicle):
    response = api.post("/api/vehicles/VAN1/status/", {"status": "napping"}, format="json")

    assert response.status_code == 400


def test_the_manifest_lists_remaining_stops_in_order(api, vehicle, hub):
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from tests.factories import OrderFactory

    first, second = OrderFactory(hub=hub), OrderFactory(hub=hub)
    for order in (first, second):
        assignment_to_vehicle(order=order, vehicle=vehicle, actor=ActorRef.system())

    stops = api.get("/api/vehicles/VAN1/manifest/").json()["stops"]

    assert [(s["order"], s["kind"]) for s in stops] == [
        (first.external_ref, "pickup"), (first.external_ref, "delivery"),
        (second.external_ref, "pickup"), (second.external_ref, "delivery"),
    ]
