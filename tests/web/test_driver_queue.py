"""The driver app's queued calls, as a phone makes them: an action or a batch of positions with an
Idempotency-Key, sent again when its answer was lost (applied once), sent late after the network
came back (timed when the driver tapped, not when it arrived), and refused when dispatch moved the
order meanwhile, with the reason in the driver's words and a line in the dispatcher's feed. The
driver's socket hears when its van's stops change, and nothing of other vans."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from controltower.asgi import application
from dispatch import clock
from dispatch.models import Event, Order, VehiclePosition
from dispatch.selectors import activity_for
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_booking, assignment_to_vehicle
from dispatch.status import Role
from carriers.models import CarrierBooking
from tests.factories import CarrierFactory, DriverFactory, OrderFactory, ShiftFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db
SYSTEM = ActorRef.system("tests")
HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


@pytest.fixture
def van(org, hub):
    mine, theirs = VehicleFactory(fleet__hub=hub, code="VAN-A"), VehicleFactory(fleet__hub=hub, code="VAN-B")
    me = DriverFactory(organization=org, name="Sam Driver")
    ShiftFactory(driver=me, vehicle=mine, started_at=timezone.now())
    ShiftFactory(driver=DriverFactory(organization=org), vehicle=theirs)
    for ref, vehicle in (("A-1", mine), ("A-2", mine), ("B-1", theirs)):
        assignment_to_vehicle(order=OrderFactory(hub=hub, external_ref=ref, proof_required=[]), vehicle=vehicle, actor=SYSTEM)
    user = UserFactory(organization=org, role=Role.DRIVER, driver=me)
    client = Client()
    client.force_login(user)
    return {"client": client, "mine": mine, "theirs": theirs, "user": user}


def post(client, url, body, key, sent_ms=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key}
    if sent_ms is not None:
        headers["HTTP_X_SENT_AT"] = str(sent_ms)
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def act(client, key, **body):
    return post(client, "/driver/api/actions/", body, key)


def test_an_action_sent_twice_with_its_key_is_applied_once_and_answered_alike(van):
    first = act(van["client"], "k-1", ref="A-1", action="picked_up")
    again = act(van["client"], "k-1", ref="A-1", action="picked_up")

    assert first.status_code == again.status_code == 200
    # its delivery is the van's next stop: loaded, it goes out for delivery
    assert first.json() == again.json() == {"ok": True, "ref": "A-1", "status": "out_for_delivery", "message": "A-1 picked up."}
    assert again["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(order__external_ref="A-1", kind="order.status", data__to="picked_up").count() == 1
    reused = act(van["client"], "k-1", ref="A-2", action="picked_up")
    assert reused.status_code == 409 and Order.objects.get(external_ref="A-2").status == "assigned"


def test_an_action_replayed_after_the_network_returned_is_timed_when_the_driver_tapped(van):
    import time

    now_ms = time.time() * 1000
    act(van["client"], "k-p", ref="A-1", action="picked_up")
    sent = post(van["client"], "/driver/api/actions/", {"ref": "A-1", "action": "delivered", "tapped_at": now_ms - 10 * 60_000},
                "k-d", sent_ms=now_ms)

    assert sent.status_code == 200
    delivered_at = Order.objects.get(external_ref="A-1").delivered_at
    assert timedelta(minutes=9) < clock.now() - delivered_at < timedelta(minutes=11)


def test_a_queued_action_on_an_order_dispatch_moved_meanwhile_is_refused_in_words_and_the_dispatcher_sees_it(van, org):
    carrier = CarrierFactory(organization=org, name="Swift Couriers")
    order = Order.objects.get(external_ref="A-2")
    booking = CarrierBooking.objects.create(organization=org, carrier=carrier, order=order, idempotency_key="b-1",
                                            promised_at=clock.now() + timedelta(hours=2))
    assignment_to_booking(order=order, booking=booking, actor=SYSTEM)

    refused = act(van["client"], "k-2", ref="A-2", action="delivered")

    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "A-2 was moved to Swift Couriers by dispatch at" in message and "don't deliver it" in message
    assert Order.objects.get(external_ref="A-2").status == "booked"
    assert act(van["client"], "k-2", ref="A-2", action="delivered").json() == refused.json()  # a replay: one refusal
    feed = [e["text"] for e in activity_for(organization_id=org.id)]
    assert sum("Sam Driver's app: delivered refused: A-2 was moved to Swift Couriers" in t for t in feed) == 1


def test_another_vans_order_and_bad_calls_are_refused_with_a_reason(van, org):
    client = van["client"]
    assert act(client, "k-3", ref="B-1", action="delivered").status_code == 404  # never on my van: nothing told about it
    assert Order.objects.get(external_ref="B-1").status == "assigned"
    for body, status in (({"ref": "A-1", "action": "teleported"}, 400), ({"ref": "A-1", "action": "failed"}, 400),
                         ({"action": "picked_up"}, 400), ({"ref": "A-1", "action": "picked_up", "tapped_at": "soon"}, 400)):
        answer = act(client, f"bad-{status}-{len(json.dumps(body))}", **body)
        assert answer.status_code == status and answer.json()["error"]["message"], body
    assert client.post("/driver/api/actions/", "not json", content_type="application/json",
                       HTTP_IDEMPOTENCY_KEY="x").status_code == 400
    no_key = client.post("/driver/api/actions/", json.dumps({"ref": "A-1", "action": "picked_up"}), content_type="application/json")
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()["error"]["message"]
    assert Client().post("/driver/api/actions/", "{}", content_type="application/json").status_code == 401
    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=org, role=Role.DISPATCHER))
    assert act(dispatcher, "k-4", ref="A-1", action="picked_up").status_code == 403


def test_positions_from_the_phone_go_through_the_ingest_once_and_move_the_van(van):
    import time

    now_ms = time.time() * 1000
    points = [{"lat": 41.88 + i / 1000, "lon": -87.63, "t": now_ms - (5 - i) * 60_000, "speed": 8.0, "heading": 90} for i in range(5)]
    for _ in range(2):  # the answer was lost: the phone sends the batch again
        answer = post(van["client"], "/driver/api/positions/", {"points": points}, "pos-1", sent_ms=now_ms)
        assert answer.status_code == 202
    stored = list(VehiclePosition.objects.filter(vehicle=van["mine"]).order_by("recorded_at"))
    assert len(stored) == 5 and stored[-1].lat == pytest.approx(41.884)
    assert stored[0].speed_kmh == pytest.approx(28.8)
    assert timedelta(minutes=4) < stored[-1].recorded_at - stored[0].recorded_at < timedelta(minutes=5)
    van["mine"].refresh_from_db()
    assert van["mine"].lat == pytest.approx(41.884)
    bad = post(van["client"], "/driver/api/positions/", {"points": [{"lat": 123, "lon": 0, "t": now_ms}]}, "pos-2")
    assert bad.status_code == 400 and "lat" in bad.json()["error"]["message"]
    too_many = post(van["client"], "/driver/api/positions/", {"points": [points[0]] * 601}, "pos-3")
    assert too_many.status_code == 413


@pytest.mark.django_db(transaction=True)
def test_the_drivers_socket_hears_when_dispatch_changes_their_vans_stops_and_not_other_vans(org, hub):
    mine, theirs = VehicleFactory(fleet__hub=hub, code="VAN-A"), VehicleFactory(fleet__hub=hub, code="VAN-B")
    me = DriverFactory(organization=org)
    ShiftFactory(driver=me, vehicle=mine, started_at=timezone.now())
    order = OrderFactory(hub=hub, external_ref="A-1")
    assignment_to_vehicle(order=order, vehicle=mine, actor=SYSTEM)
    other = OrderFactory(hub=hub, external_ref="B-1")
    user = UserFactory(organization=org, role=Role.DRIVER, driver=me)
    cookie = _session_cookie(user)

    async def scenario():
        from channels.db import database_sync_to_async

        socket = WebsocketCommunicator(application, "/ws/driver/", headers=HEADERS + [(b"cookie", cookie)])
        connected, _ = await socket.connect()
        assert connected
        await database_sync_to_async(lambda: assignment_to_vehicle(order=other, vehicle=theirs, actor=SYSTEM))()
        assert await socket.receive_nothing(timeout=0.3)  # another van's stops: nothing
        moved = await database_sync_to_async(lambda: Order.objects.get(pk=order.pk))()
        await database_sync_to_async(lambda: assignment_to_vehicle(order=moved, vehicle=theirs, actor=SYSTEM))()
        assert await socket.receive_json_from(timeout=2) == {"type": "stops"}
        await socket.disconnect()

        dispatcher = await database_sync_to_async(lambda: _session_cookie(UserFactory(organization=org, role=Role.DISPATCHER)))()
        refused = WebsocketCommunicator(application, "/ws/driver/", headers=HEADERS + [(b"cookie", dispatcher)])
        connected, code = await refused.connect()
        assert not connected and code == 4401

    async_to_sync(scenario)()


def _session_cookie(user) -> bytes:
    c = Client()
    c.force_login(user)
    return f"sessionid={c.cookies['sessionid'].value}".encode()


PNG = "data:image/png;base64," + __import__("base64").b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
JPEG = "data:image/jpeg;base64," + __import__("base64").b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 256).decode()


def test_a_delivery_carries_the_proof_its_order_needs_photo_signature_and_a_date_of_birth_of_age(van, hub):
    from dispatch.models import ProofOfDelivery

    order = OrderFactory(hub=hub, external_ref="P-1", proof_required=["photo", "signature", "age_check"])
    assignment_to_vehicle(order=order, vehicle=van["mine"], actor=SYSTEM)
    client = van["client"]
    act(client, "p-0", ref="P-1", action="picked_up")
    adult = (clock.now() - timedelta(days=365 * 30)).date().isoformat()
    minor = (clock.now() - timedelta(days=365 * 16)).date().isoformat()

    no_photo = act(client, "p-1", ref="P-1", action="delivered", signature=PNG, born_on=adult)
    assert no_photo.status_code == 400 and "needs a photo" in no_photo.json()["error"]["message"]
    no_signature = act(client, "p-2", ref="P-1", action="delivered", photo=JPEG, born_on=adult)
    assert no_signature.status_code == 400 and "signature" in no_signature.json()["error"]["message"]
    under_age = act(client, "p-3", ref="P-1", action="delivered", photo=JPEG, signature=PNG, born_on=minor)
    assert under_age.status_code == 400
    assert "is 15, under 18: don't hand it over" in under_age.json()["error"]["message"]
    not_an_image = act(client, "p-4", ref="P-1", action="delivered", photo="data:text/html;base64,PGI+", signature=PNG, born_on=adult)
    assert not_an_image.status_code == 400
    assert Order.objects.get(external_ref="P-1").status == "picked_up" and not ProofOfDelivery.objects.filter(order=order).exists()

    done = act(client, "p-5", ref="P-1", action="delivered", photo=JPEG, signature=PNG, born_on=adult)

    assert done.status_code == 200
    order.refresh_from_db()
    assert order.status == "delivered" and not order.proof_missing
    proofs = {p.kind: p for p in ProofOfDelivery.objects.filter(order=order)}
    assert set(proofs) == {"photo", "signature", "age_check"}
    assert proofs["photo"].content_type == "image/jpeg" and proofs["photo"].file.read().startswith(b"\xff\xd8\xff")
    assert proofs["age_check"].verified and proofs["age_check"].data == {"age": 29, "minimum": 18}
    assert adult not in json.dumps(proofs["age_check"].data)  # the date of birth itself is not kept
    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=order.organization, role=Role.DISPATCHER))
    page = dispatcher.get("/orders/P-1/").content.decode()
    assert "with age check, photo, signature" in page and "no photo, signature or PIN recorded" not in page


def test_a_failed_attempt_keeps_its_photo_which_proves_no_delivery_and_raises_the_failed_delivery(
        van, hub, django_capture_on_commit_callbacks):
    from dispatch.models import ProofOfDelivery

    order = OrderFactory(hub=hub, external_ref="F-1", proof_required=["photo"])
    assignment_to_vehicle(order=order, vehicle=van["mine"], actor=SYSTEM)
    act(van["client"], "f-0", ref="F-1", action="picked_up")

    with django_capture_on_commit_callbacks(execute=True):
        failed = act(van["client"], "f-1", ref="F-1", action="failed", reason="no_access", photo=JPEG)

    assert failed.status_code == 200 and failed.json()["message"] == "F-1 not delivered (no access (gate, door code))."
    order.refresh_from_db()
    assert order.failure_reason == "no_access"
    photo = ProofOfDelivery.objects.get(order=order)
    assert photo.kind == "photo" and not photo.verified and photo.data["attempt"] == "failed"
    assert Event.objects.filter(order=order, kind="order.status", data__to="failed").exists()
    from dispatch.models import OrderException

    raised = OrderException.objects.get(kind="failed_delivery", orders=order)  # the tower re-plans it from here
    assert raised.title == "Delivery of F-1 failed (no access (gate, door code))"


def shift_call(client, key, **body):
    return post(client, "/driver/api/shift/", body, key)


ALL_OK = {"lights_tyres": True, "brakes_steering": True, "load_space": True, "fuel": True, "damage": True}


@pytest.fixture
def unstarted(org, hub):
    van = VehicleFactory(fleet__hub=hub, code="VAN-S", status="off_duty")
    me = DriverFactory(organization=org, name="Ana Driver")
    ShiftFactory(driver=me, vehicle=van)
    order = OrderFactory(hub=hub, external_ref="S-1", proof_required=[])
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    client = Client()
    client.force_login(UserFactory(organization=org, role=Role.DRIVER, driver=me))
    return {"client": client, "van": van, "driver": me, "order": order}


def test_a_shift_starts_with_the_vans_check_and_stops_wait_for_it(unstarted):
    client = unstarted["client"]
    early = act(client, "s-0", ref="S-1", action="picked_up")
    assert early.status_code == 409 and "Start your shift first" in early.json()["error"]["message"]
    half = shift_call(client, "s-1", action="start", checks={"lights_tyres": True})
    assert half.status_code == 400 and "Answer: Brakes and steering." in half.json()["error"]["message"]

    started = shift_call(client, "s-2", action="start", checks={**ALL_OK, "fuel": False}, note="half a tank")

    assert started.status_code == 200 and started.json()["message"] == "Shift started. Noted for the fleet: fuel or charge for the route."
    unstarted["van"].refresh_from_db()
    unstarted["driver"].refresh_from_db()
    assert unstarted["van"].status == "on_duty" and unstarted["driver"].status == "on_duty"
    assert Event.objects.filter(kind="shift.started", vehicle=unstarted["van"], data__note="half a tank").exists()
    assert act(client, "s-3", ref="S-1", action="picked_up").status_code == 200


def test_a_failed_safety_check_keeps_the_van_off_the_road_and_dispatch_gets_its_orders_back(unstarted, django_capture_on_commit_callbacks):
    from dispatch.models import OrderException

    with django_capture_on_commit_callbacks(execute=True):
        answer = shift_call(unstarted["client"], "u-1", action="start", checks={**ALL_OK, "brakes_steering": False})

    assert answer.status_code == 200 and "The van may not drive (brakes and steering)" in answer.json()["message"]
    unstarted["van"].refresh_from_db()
    assert unstarted["van"].status == "unavailable"
    raised = OrderException.objects.get(kind="vehicle_breakdown", vehicle=unstarted["van"])
    assert list(raised.orders.values_list("external_ref", flat=True)) == ["S-1"]
    assert Event.objects.get(kind="vehicle.status", vehicle=unstarted["van"], data__to="unavailable").data["reason"] == \
        "vehicle check failed: brakes and steering"


def test_a_break_moves_the_vans_etas_past_it_and_a_shift_ends_only_with_no_stop_left(unstarted, settings):
    from dispatch.models import Shift
    from dispatch.services.routes import route_recompute_etas

    client, van = unstarted["client"], unstarted["van"]
    shift_call(client, "b-0", action="start", checks=ALL_OK)
    Order.objects.filter(external_ref="S-1").update(window_start=clock.now() - timedelta(hours=1), window_end=clock.now() + timedelta(hours=3))
    van.refresh_from_db()
    van.lat, van.lon, van.position_at = 41.88, -87.63, clock.now()
    van.save()
    route_recompute_etas(vehicle=van)
    before = Order.objects.get(external_ref="S-1").eta

    assert shift_call(client, "b-1", action="break").json()["message"] == f"On a break: your customers' times allow {settings.BREAK_MIN} minutes."
    van.refresh_from_db()
    route_recompute_etas(vehicle=van)
    during = Order.objects.get(external_ref="S-1").eta
    assert during - before > timedelta(minutes=settings.BREAK_MIN - 5)

    assert shift_call(client, "b-2", action="resume").status_code == 200
    van.refresh_from_db()
    assert van.resumes_at is None and len(Shift.objects.get(vehicle=van).breaks) == 1
    refused = shift_call(client, "b-3", action="end")
    assert refused.status_code == 409 and "You still have 2 stops on the van" in refused.json()["error"]["message"]
    act(client, "b-4", ref="S-1", action="picked_up")
    act(client, "b-5", ref="S-1", action="delivered")
    assert shift_call(client, "b-6", action="end").json()["message"] == "Shift ended. Thank you!"
    van.refresh_from_db()
    assert van.status == "off_duty" and Shift.objects.get(vehicle=van).ended_at is not None


def test_a_photo_of_a_parcel_label_is_read_by_the_tower(van):
    import base64
    import io

    import numpy as np
    import zxingcpp
    from PIL import Image

    barcode = Image.fromarray(np.array(zxingcpp.create_barcode("A-1", zxingcpp.BarcodeFormat.Code128).to_image(scale=4)))
    sheet = Image.new("RGB", (1200, 900), (240, 236, 220))
    sheet.paste(barcode.convert("RGB"), (300, 350))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=85)
    photo = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    client = van["client"]

    read = client.post("/driver/api/scan/", json.dumps({"image": photo}), content_type="application/json")
    assert read.status_code == 200 and read.json() == {"codes": ["A-1"]}
    blank = client.post("/driver/api/scan/", json.dumps({"image": JPEG}), content_type="application/json")
    assert blank.status_code in (400, 422) and blank.json()["error"]["message"]
    assert client.post("/driver/api/scan/", "{}", content_type="application/json").status_code == 400
    assert Order.objects.get(external_ref="A-1").status == "assigned"  # reading a label records nothing


def test_a_driver_and_dispatch_write_to_each_other_in_the_shifts_thread(van, org):
    from dispatch.models import ShiftMessage

    client = van["client"]
    for _ in range(2):  # sent again after a lost answer: one message
        sent = post(client, "/driver/api/messages/", {"text": "Gate code at A-2 is wrong"}, "m-1")
        assert sent.status_code == 200 and sent.json()["message"] == "Sent to dispatch."
    assert ShiftMessage.objects.filter(from_driver=True).count() == 1
    assert post(client, "/driver/api/messages/", {"text": "   "}, "m-2").status_code == 400
    feed = [e["text"] for e in activity_for(organization_id=org.id)]
    assert "Sam Driver (VAN-A) writes: “Gate code at A-2 is wrong”" in feed

    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=org, role=Role.DISPATCHER))
    page = dispatcher.get("/vehicles/VAN-A/").content.decode()
    assert "Messages with Sam Driver" in page and "Gate code at A-2 is wrong" in page and "under way" in page
    assert dispatcher.post("/vehicles/VAN-A/messages/", {"text": "Try 4411, then call the customer"}).status_code == 302
    assert "Try 4411, then call the customer" in client.get("/driver/").content.decode()
    ops = Client()
    ops.force_login(UserFactory(organization=org, role=Role.OPS_MANAGER))
    assert ops.post("/vehicles/VAN-A/messages/", {"text": "hello"}).status_code == 403
    assert list(ShiftMessage.objects.order_by("id").values_list("from_driver", "text")) == [
        (True, "Gate code at A-2 is wrong"), (False, "Try 4411, then call the customer")]


def test_a_van_whose_driver_app_went_to_the_background_is_not_taken_for_broken_down(van, org, settings):
    from dispatch.selectors.availability import vans_unavailable

    mine = van["mine"]
    mine.status, mine.lat, mine.lon, mine.position_at = "on_duty", 41.88, -87.63, clock.now() - timedelta(minutes=20)
    mine.save()
    assert vans_unavailable(organization_id=org.id)[mine.id].kind == "silent"  # no word from the app: silent

    assert van["client"].post("/driver/api/away/", {"away": "1"}).status_code == 200  # the page hides: navigating
    assert mine.id not in vans_unavailable(organization_id=org.id)
    mine.position_at = clock.now() - timedelta(minutes=settings.APP_AWAY_MAX_MIN + 5)
    mine.save(update_fields=["position_at"])
    assert mine.id in vans_unavailable(organization_id=org.id)  # away far too long: silent after all
    mine.position_at = clock.now() - timedelta(minutes=20)
    mine.save(update_fields=["position_at"])
    assert van["client"].post("/driver/api/away/", {"away": "0"}).status_code == 200  # back, and no position since: silent
    assert mine.id in vans_unavailable(organization_id=org.id)
    assert van["client"].post("/driver/api/away/", {"away": "maybe"}).status_code == 400


def test_a_hand_over_shows_both_drivers_whom_to_meet_and_where(van, org):
    from dispatch.models import Shift
    from dispatch.services.assignments import assignment_handover

    act(van["client"], "h-0", ref="A-1", action="picked_up")
    theirs = Shift.objects.get(vehicle=van["theirs"]).driver
    theirs.name, theirs.phone = "Lee Colleague", "+1 312 555 0101"
    theirs.save()
    Shift.objects.filter(vehicle=van["theirs"]).update(started_at=clock.now())
    order = Order.objects.get(external_ref="A-1")
    assignment_handover(order=order, vehicle=van["theirs"], at=(41.9, -87.65), actor=SYSTEM)
    colleague = Client()
    colleague.force_login(UserFactory(organization=org, role=Role.DRIVER, driver=theirs))

    mine = van["client"].get("/driver/").content.decode()
    assert "Van <b>VAN-B</b> (Lee Colleague, <a href=\"tel:+1 312 555 0101\">+1 312 555 0101</a>) comes to you for" in mine
    assert "A-1: stay where you are." in mine
    their_page = colleague.get("/driver/").content.decode()
    assert "From van <b>VAN-A</b> (Sam Driver): meet it where it stands." in their_page
    assert 'geo:41.9,-87.65' in their_page
