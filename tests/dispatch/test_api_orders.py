import json
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import Event, IdempotencyRecord, Order
from tests.factories import HubFactory, OrderFactory

pytestmark = pytest.mark.django_db


START = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)


def order_body(ref="A-1", hub="HUB1", **over):
    start = START
    body = {
        "external_ref": ref, "hub": hub, "address": "10 W Elm St", "lat": 41.9, "lon": -87.63,
        "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
        "service_level": "same_day", "weight_kg": 4.5, "customer": {"name": "Jo Doe", "email": "jo@example.com"},
    }
    body.update(over)
    return body


def test_creating_an_order_stores_it_and_logs_who_created_it(api, hub):
    response = api.post("/api/orders/", order_body(), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "created"
    order = Order.objects.get(external_ref="A-1")
    assert order.sla_deadline == order.window_end
    event = Event.objects.get(order=order, kind="order.created")
    assert event.actor_type == "api" and event.actor == "token:tests"


def test_same_idempotency_key_and_body_returns_the_original_response(api, hub):
    first = api.post("/api/orders/", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/orders/", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(api, hub):
    api.post("/api/orders/", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    response = api.post("/api/orders/", order_body(weight_kg=9), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_a_batch_creates_all_orders_in_one_request(api, hub):
    body = {"orders": [order_body(ref=f"B-{i}") for i in range(250)]}

    response = api.post("/api/orders/batch/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")

    assert response.status_code == 201, response.content
    assert response.json()["created"] == 250
    assert Order.objects.count() == 250
    assert IdempotencyRecord.objects.filter(key="batch-1").exists()


def test_a_batch_with_one_bad_order_writes_nothing_and_names_the_bad_field(api, hub):
    orders = [order_body(ref=f"B-{i}") for i in range(5)]
    orders[3]["lat"] = 123.0

    response = api.post("/api/orders/batch/", {"orders": orders}, format="json")

    assert response.status_code == 400
    assert "lat" in response.json()["error"]["fields"]["orders"]["3"]
    assert Order.objects.count() == 0


def test_a_batch_over_1000_orders_is_refused(api, hub):
    body = {"orders": [order_body(ref=f"B-{i}") for i in range(1001)]}

    response = api.post("/api/orders/batch/", body, format="json")

    assert response.status_code == 400
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"lat": "NaN"}, "lat"),
        ({"lon": "Infinity"}, "lon"),
        ({"lat": 91}, "lat"),
        ({"lon": -181}, "lon"),
        ({"weight_kg": -1}, "weight_kg"),
        ({"service_level": "whenever"}, "service_level"),
        ({"external_ref": "has spaces/and slashes"}, "external_ref"),
        ({"customer": {}}, "customer"),
    ],
)
def test_bad_fields_get_a_400_with_the_field_named_and_nothing_is_written(api, hub, change, field):
    response = api.post("/api/orders/", order_body(**change), format="json")

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_failed"
    assert field in body["fields"]
    assert Order.objects.count() == 0


def test_a_window_that_ends_before_it_starts_is_refused(api, hub):
    start = timezone.now() + timedelta(hours=3)
    body = order_body(window_start=start.isoformat(), window_end=(start - timedelta(hours=1)).isoformat())

    response = api.post("/api/orders/", body, format="json")

    assert response.status_code == 400
    assert "window_end" in response.json()["error"]["fields"]


def test_literal_nan_in_json_is_refused_as_malformed(api, hub):
    raw = json.dumps(order_body()).replace('"lat": 41.9', '"lat": NaN')

    response = api.post("/api/orders/", raw, content_type="application/json")

    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_malformed_json_gets_a_400_with_a_reason(api, hub):
    response = api.post("/api/orders/", '{"external_ref": "x", ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_an_oversized_body_gets_a_413(api, hub, settings):
    settings.API_MAX_BODY_BYTES = 10_000
    body = {"orders": [order_body(ref=f"B-{i}") for i in range(100)]}

    response = api.post("/api/orders/batch/", body, format="json")

    assert response.status_code == 413
    assert Order.objects.count() == 0


def test_an_unknown_hub_is_refused(api, hub):
    response = api.post("/api/orders/", order_body(hub="NOPE"), format="json")

    assert response.status_code == 400
    assert "hub" in response.json()["error"]["fields"]


def test_a_repeated_external_ref_is_refused(api, hub):
    api.post("/api/orders/", order_body(), format="json")

    response = api.post("/api/orders/", order_body(), format="json")

    assert response.status_code == 400
    assert "external_ref" in response.json()["error"]["fields"]


def test_requests_without_a_token_are_refused(client, hub):
    response = client.post("/api/orders/", order_body(), content_type="application/json")

    assert response.status_code in (401, 403)
    assert Order.objects.count() == 0


def test_another_tenants_order_is_not_found(api, other_org):
    theirs = OrderFactory(hub=HubFactory(organization=other_org))

    assert api.get(f"/api/orders/{theirs.external_ref}/").status_code == 404
    assert api.post(f"/api/orders/{theirs.external_ref}/cancel/", {}, format="json").status_code == 404
    listed = api.get("/api/orders/").json()
    assert listed["count"] == 0


def test_listing_filters_by_status_service_level_hub_and_window(api, hub, org):
    other_hub = HubFactory(organization=org, code="HUB2")
    soon = OrderFactory(hub=hub, service_level="express")
    OrderFactory(hub=other_hub, service_level="same_day")
    later = OrderFactory(hub=hub, window_start=timezone.now() + timedelta(days=1))

    by_level = api.get("/api/orders/", {"service_level": "express"}).json()
    by_hub = api.get("/api/orders/", {"hub": "HUB1"}).json()
    by_window = api.get("/api/orders/", {"window_to": (timezone.now() + timedelta(hours=5)).isoformat(), "hub": "HUB1"}).json()
    bad_status = api.get("/api/orders/", {"status": "lost"})

    assert [o["external_ref"] for o in by_level["results"]] == [soon.external_ref]
    assert {o["external_ref"] for o in by_hub["results"]} == {soon.external_ref, later.external_ref}
    assert [o["external_ref"] for o in by_window["results"]] == [soon.external_ref]
    assert bad_status.status_code == 400


def test_cancelling_an_order_records_it_and_a_delivered_order_cannot_be_cancelled(api, hub):
    open_order = OrderFactory(hub=hub)
    done = OrderFactory(hub=hub, status="delivered")

    ok = api.post(f"/api/orders/{open_order.external_ref}/cancel/", {"reason": "customer asked"}, format="json")
    refused = api.post(f"/api/orders/{done.external_ref}/cancel/", {}, format="json")

    assert ok.status_code == 200 and ok.json()["status"] == "cancelled"
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_transition"
    assert Event.objects.filter(order=open_order, kind="order.status", data__to="cancelled").exists()


def test_openapi_schema_and_docs_are_served(api, client):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/orders/batch/" in schema.json()["paths"]
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
