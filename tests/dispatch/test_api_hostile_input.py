"""What a hostile or broken client sends gets a clear 4xx with a reason, and nothing is written."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import Order, VehiclePosition
from tests.dispatch.test_api_orders import order_body
from tests.dispatch.test_api_positions_fleet import ping
from tests.factories import HubFactory, VehicleFactory

pytestmark = pytest.mark.django_db

LIST_ENDPOINTS = ["/api/orders/", "/api/vehicles/", "/api/webhook-deliveries/"]


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
@pytest.mark.parametrize("limit", ["9223372036854775808", "1000000000", "0", "-1", "ten", "1e3"])
def test_a_limit_out_of_range_is_a_400_that_names_the_range(api, path, limit):
    response = api.get(path, {"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()["error"]["fields"]
    assert "1000" in str(response.json()["error"]["fields"]["limit"])


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_an_offset_past_the_64_bit_range_is_a_400(api, path):
    response = api.get(path, {"offset": "9223372036854775808"})

    assert response.status_code == 400
    assert "offset" in response.json()["error"]["fields"]


def test_the_largest_page_is_served(api, hub):
    response = api.get("/api/orders/", {"limit": 1000})

    assert response.status_code == 200


@pytest.mark.parametrize("bad, field", [
    ({"lat": 200}, "lat"),
    ({"lat": "NaN"}, "lat"),
    ({"lon": "-Infinity"}, "lon"),
    ({"lat": 0, "lon": 0}, "lat"),
    ({"timestamp": (timezone.now() - timedelta(days=1)).isoformat()}, "timestamp"),
    ({"timestamp": (timezone.now() + timedelta(days=1)).isoformat()}, "timestamp"),
    ({"timestamp": timezone.now().replace(tzinfo=None).isoformat()}, "timestamp"),
    ({"vehicle": "NOPE"}, "vehicle"),
    ({"vehicle": ""}, "vehicle"),
    ({"vehicle": "VAN1\x00"}, "vehicle"),
    ({"vehicle": "V" * 41}, "vehicle"),
    ({"timestamp": "9999-01-01T00:00:00Z"}, "timestamp"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"speed": 301}, "speed"),
    ({"heading": -1}, "heading"),
    ({"speed": "fast"}, "speed"),
])
def test_a_bad_ping_is_refused_with_its_field_and_nothing_is_stored(api, vehicle, bad, field):
    response = api.post("/api/vehicle-positions/", {"pings": [ping(), {**ping(), **bad}]}, format="json")

    assert response.status_code == 400, response.content
    assert field in str(response.json()["error"]), response.json()
    assert VehiclePosition.objects.count() == 0
    vehicle.refresh_from_db()
    assert vehicle.lat == 41.88


def test_a_ping_for_another_organizations_vehicle_is_refused_and_moves_nothing(api, vehicle, other_org):
    theirs = VehicleFactory(fleet__hub=HubFactory(organization=other_org), code="THEIRS")

    response = api.post("/api/vehicle-positions/", {"pings": [ping(code="THEIRS")]}, format="json")

    assert response.status_code == 400
    theirs.refresh_from_db()
    assert (theirs.lat, VehiclePosition.objects.count()) == (41.88, 0)


def test_a_5_mb_body_is_a_413_before_it_is_read(api, vehicle):
    body = b'{"pings": [' + b",".join([b'{"vehicle": "VAN1", "lat": 41.9, "lon": -87.6, "timestamp": "2026-01-01T00:00:00Z"}'] * 60000) + b"]}"
    assert len(body) > 5_000_000

    response = api.generic("POST", "/api/vehicle-positions/", body, content_type="application/json")

    assert response.status_code == 413
    assert "at most" in response.json()["error"]["message"]
    assert VehiclePosition.objects.count() == 0


@pytest.mark.parametrize("over, field", [
    ({"window_start": "9999-01-01T10:00:00Z", "window_end": "9999-01-01T12:00:00Z"}, "window_start"),
    ({"window_start": (timezone.now() + timedelta(days=400)).isoformat(),
      "window_end": (timezone.now() + timedelta(days=400, hours=2)).isoformat()}, "window_start"),
    ({"window_start": (timezone.now() + timedelta(hours=3)).replace(tzinfo=None).isoformat()}, "window_start"),
    ({"window_end": (timezone.now() + timedelta(days=30)).isoformat()}, "window_end"),
    ({"window_start": (timezone.now() - timedelta(days=3)).isoformat(),
      "window_end": (timezone.now() - timedelta(days=3) + timedelta(hours=2)).isoformat()}, "window_end"),
    ({"lat": 0, "lon": 0}, "lat"),
])
def test_an_order_with_an_impossible_window_or_place_is_refused(api, hub, over, field):
    response = api.post("/api/orders/", order_body(**over), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert Order.objects.count() == 0


def test_finite_checks_hold_for_every_float_the_api_reads(api, hub):
    response = api.post("/api/orders/", order_body(weight_kg="Infinity"), format="json")

    assert response.status_code == 400
