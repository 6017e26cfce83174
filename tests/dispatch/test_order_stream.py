"""The streamed order file: its fast row validator gives the API serializer's verdict on every kind
of row (valid or not, and which columns), and a file is imported whole or not at all, in batches,
with the orders told to integrators one by one and to live screens once."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import clock
from dispatch.api.order_files import _order_of
from dispatch.api.order_stream import row_order, stream_import
from dispatch.api.serializers import OrderCreateSerializer
from dispatch.models import Event, Order
from dispatch.services import ActorRef
from tests.factories import OrderFactory

from .test_order_import import COLUMNS, csv_of, row

pytestmark = pytest.mark.django_db
NOW = timezone.now()
START = (NOW + timedelta(hours=4)).replace(microsecond=0)

CASES = {
    "valid": {}, "ref-spaces": {"external_ref": "A B"}, "ref-long": {"external_ref": "R" * 101}, "no-hub": {"hub": ""},
    "address-long": {"address": "x" * 301}, "lat-text": {"lat": "north"}, "lat-high": {"lat": "90.5"}, "lon-low": {"lon": "-181"},
    "lat-nan": {"lat": "nan"}, "lon-inf": {"lon": "inf"}, "origin": {"lat": "0", "lon": "0"}, "naive": {"window_start": "2026-12-08T10:00:00"},
    "bad-time": {"window_end": "tomorrow"}, "year": {"window_start": "1999-01-01T10:00:00Z"}, "reversed": {"window_end": START.isoformat()},
    "too-long": {"window_end": (START + timedelta(days=15)).isoformat()},
    "far": {"window_start": (NOW + timedelta(days=400)).isoformat(), "window_end": (NOW + timedelta(days=400, hours=2)).isoformat()},
    "past": {"window_start": (NOW - timedelta(days=3)).isoformat(), "window_end": (NOW - timedelta(days=3) + timedelta(hours=2)).isoformat()},
    "sla-early": {"sla_deadline": (START - timedelta(hours=1)).isoformat()}, "sla-ok": {"sla_deadline": (START + timedelta(hours=3)).isoformat()},
    "level": {"service_level": "overnight"}, "no-level": {"service_level": ""}, "weight-neg": {"weight_kg": "-1"},
    "weight-big": {"weight_kg": "5001"}, "volume": {"volume_m3": "101"}, "service": {"service_min": "241"},
    "requires-bad": {"requires": "cold;frozen"}, "requires-ok": {"requires": "cold;fragile"},
    "requires-many": {"requires": "cold;fragile;bulky;regulated;cold"}, "proof-bad": {"proof_required": "selfie"},
    "proof-ok": {"proof_required": "photo;signature"}, "no-name": {"customer_name": ""}, "name-long": {"customer_name": "n" * 201},
    "email-bad": {"customer_email": "not-an-address"}, "phone-long": {"customer_phone": "1" * 41}, "many": {"lat": "x", "weight_kg": "y"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fast_validator_gives_the_serializers_verdict(case):
    cells = {k: v.strip() for k, v in row("R-1", **CASES[case]).items()}

    fast, fast_errors = row_order(cells, clock.now())
    serializer = OrderCreateSerializer(data=_order_of(dict(cells)))
    slow_ok = serializer.is_valid()

    assert (fast is not None) == slow_ok, (fast_errors, serializer.errors)
    if slow_ok:
        expected = dict(serializer.validated_data)
        assert {k: fast[k] for k in expected} == expected
    else:
        slow_columns = {("customer_" + k if f == "customer" else f) for f, v in serializer.errors.items()
                        for k in (v if isinstance(v, dict) else [None])}
        slow_columns = {c.removesuffix("_None") if c else c for c in slow_columns}
        assert {c for c, _ in fast_errors} == {c.replace("non_field_errors", "") for c in slow_columns}


def stream(rows, columns=COLUMNS):
    return io.StringIO(csv_of(rows, columns).decode())


def test_a_file_is_imported_whole_in_batches_and_told_once_to_live_screens(org, hub, monkeypatch, django_capture_on_commit_callbacks):
    import dispatch.api.order_stream as module
    from infra import bus

    published = []
    monkeypatch.setattr(module, "BATCH", 7)
    monkeypatch.setattr(bus, "publish", lambda org_id, kind, data: published.append((kind, data)))
    rows = [row(f"S-{i}") for i in range(25)]

    with django_capture_on_commit_callbacks(execute=True):
        report = stream_import(organization_id=org.id, stream=stream(rows), actor=ActorRef.system("tests"), apply=True)

    assert (report["rows"], report["valid"], report["created"], report["error_count"]) == (25, 25, 25, 0)
    assert Order.objects.filter(organization=org).count() == 25
    assert Event.objects.filter(organization=org, kind="order.created").count() == 25
    assert published == [("orders.imported", {"count": 25, "hubs": ["HUB1"]})]


def test_one_bad_row_anywhere_leaves_nothing_imported_and_names_every_error(org, hub, monkeypatch):
    import dispatch.api.order_stream as module

    monkeypatch.setattr(module, "BATCH", 5)
    OrderFactory(hub=hub, external_ref="TAKEN")
    rows = [row(f"S-{i}") for i in range(20)] + [row("S-3"), row("TAKEN"), row("S-99", hub="NOPE"), row("S-98", lat="95")]

    report = stream_import(organization_id=org.id, stream=stream(rows), actor=ActorRef.system("tests"), apply=True)

    assert report["created"] == 0 and report["error_count"] == 4
    assert {(e["row"], e["column"]) for e in report["errors"]} == {(22, "external_ref"), (23, "external_ref"), (24, "hub"), (25, "lat")}
    assert Order.objects.filter(organization=org).count() == 1  # only the one that was there


def test_errors_beyond_the_first_thousand_are_counted_not_listed(org, hub):
    rows = [row(f"S-{i}", weight_kg="heavy") for i in range(1200)]

    report = stream_import(organization_id=org.id, stream=stream(rows), actor=ActorRef.system("tests"), apply=False)

    assert report["error_count"] == 1200 and len(report["errors"]) == 1000 and report["valid"] == 0


def test_a_file_that_stops_being_utf8_is_refused_with_nothing_imported(org, hub):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from tests.factories import UserFactory

    body = csv_of([row(f"S-{i}") for i in range(30)]) + b"S-99,HUB1,Caf\xe9 Stra\xdfe,41.9,-87.6\n"
    c = Client()
    c.force_login(UserFactory(organization=org))

    r = c.post("/orders/import/", {"action": "import", "file": SimpleUploadedFile("latin1.csv", body)})

    assert r.status_code == 400 and "not UTF-8" in r.content.decode()
    assert not Order.objects.filter(organization=org).exists()
