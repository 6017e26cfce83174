"""A driver on a phone (a phone's viewport, touch, under the product's content security policy):
signs in, lands on their stops, picks up and delivers one order with the customer's PIN, and
records the other as not delivered with a reason."""

import pytest

from tests.factories import DriverFactory, HubFactory, OrderFactory, ShiftFactory, UserFactory, VehicleFactory

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


def _photo() -> bytes:
    """A real photo file (what the phone's camera gives the page), 1600 px wide."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (180, 120, 60)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _label(code: str) -> bytes:
    """A photo of a parcel label: its Code 128 barcode on a sheet, as a phone's camera gives it."""
    import io

    import numpy as np
    import zxingcpp
    from PIL import Image

    barcode = Image.fromarray(np.array(zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.Code128).to_image(scale=4)))
    sheet = Image.new("RGB", (1600, 1200), (236, 230, 214))
    sheet.paste(barcode.convert("RGB"), (500, 500))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def test_a_driver_works_a_route_from_a_phone_with_each_kind_of_proof(daphne_server, browser):
    """Signs in, starts the shift with the van's check, loads the parcels by their labels (one not for
    this van refused), takes a break, and works the route: a PIN, a photo and a signature drawn on
    the screen, a date of birth for an age check, and a failed attempt with a reason and a photo;
    then ends the shift."""
    from dispatch.models import Order, ProofOfDelivery

    from dispatch.models import Event, Shift

    hub, van, user = _driver_day((("E-1", ["pin"]), ("E-2", ["photo", "signature"]), ("E-3", ["age_check"]), ("E-4", [])),
                                 started=False)
    page = browser.strict_page(**PHONE)
    _sign_in(page, daphne_server, user)
    assert page.url.endswith("/driver/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

    def stop(ref, kind="delivery"):
        return f'li[data-order="{ref}"][data-kind="{kind}"]'

    page.tap(stop("E-1", "pickup") + " button")  # before the van's check: refused, and said why
    page.wait_for_selector("#notice >> text=Start your shift first")
    for item in page.locator(".vehicle-check fieldset").all():
        item.locator("input[value=ok]").tap()
    page.locator(".vehicle-check fieldset").nth(2).locator("input[value=problem]").tap()  # the cold box: noted, not grounding
    page.fill(".vehicle-check input[name=note]", "cold box slow to cool")
    page.tap(".vehicle-check button[type=submit]")
    page.wait_for_selector("#notice >> text=Shift started. Noted for the fleet: load space clean")
    page.tap("#shift-card form[data-shift-action=break] button")
    page.wait_for_selector("#shift-card >> text=On a break since")
    page.tap("#shift-card form[data-shift-action=resume] button")
    page.wait_for_selector("#notice >> text=Back on the road.")

    # Loading at the hub: a photo of a label (read by the tower), typed codes, and a parcel that is not for this van.
    page.set_input_files("#scan-photo", files=[{"name": "label.jpg", "mimeType": "image/jpeg", "buffer": _label("E-2")}])
    page.wait_for_selector("#scan-result >> text=E-2 loaded.")
    page.wait_for_selector("#notice >> text=E-2 picked up.")
    page.fill("#scan-code", "X-99")
    page.press("#scan-code", "Enter")
    page.wait_for_selector("#scan-result >> text=X-99 is not for your van: leave it at the hub.")
    for ref in ("E-1", "E-3", "E-4"):
        page.fill("#scan-code", ref.lower())  # typed as it comes
        page.tap("#scan-typed button")
        page.wait_for_selector(f"#notice >> text={ref} picked up.")
        if ref == "E-1":  # scanned twice
            page.fill("#scan-code", "E-1")
            page.tap("#scan-typed button")
            page.wait_for_selector("#scan-result >> text=E-1 is on board already.")
    page.wait_for_selector("#scan", state="detached")  # everything loaded: the scanner goes
    page.fill(stop("E-1") + " input[name=pin]", "2468")
    page.tap(stop("E-1") + " form.deliver button[type=submit]")
    page.wait_for_selector("#notice >> text=E-1 delivered.")
    assert page.locator('li[data-order="E-1"]').count() == 0

    page.set_input_files(stop("E-2") + " form.deliver input[name=photo]",
                         files=[{"name": "parcel.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    page.tap(stop("E-2") + " form.deliver button[type=submit]")  # no signature yet: the app says so
    page.wait_for_selector("#notice >> text=Have the recipient sign")
    pad = page.locator(stop("E-2") + " .signature-pad").bounding_box()
    page.mouse.move(pad["x"] + 20, pad["y"] + 30)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(pad["x"] + 20 + i * 25, pad["y"] + 30 + (i % 3) * 20)
    page.mouse.up()
    page.tap(stop("E-2") + " form.deliver button[type=submit]")
    page.wait_for_selector("#notice >> text=E-2 delivered.")

    page.fill(stop("E-3") + " input[name=born_on]", "2012-05-01")
    page.tap(stop("E-3") + " form.deliver button[type=submit]")
    page.wait_for_selector("#notice >> text=under 18: don't hand it over")
    page.fill(stop("E-3") + " input[name=born_on]", "1990-05-01")
    page.tap(stop("E-3") + " form.deliver button[type=submit]")
    page.wait_for_selector("#notice >> text=E-3 delivered.")

    page.select_option(stop("E-4") + " form.fail select", "not_home")
    page.set_input_files(stop("E-4") + " form.fail input[name=photo]",
                         files=[{"name": "door.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    page.tap(stop("E-4") + " form.fail button")
    page.wait_for_selector("#notice >> text=not delivered (customer not home)")
    page.wait_for_selector("#stops >> text=No stops left on your van.")
    page.tap("#shift-card form[data-shift-action=end] button")
    page.wait_for_selector("#notice >> text=Shift ended. Thank you!")
    shift = Shift.objects.get(vehicle=van)
    assert shift.vehicle_check["note"] == "cold box slow to cool" and len(shift.breaks) == 1 and shift.ended_at
    assert list(Event.objects.filter(vehicle=van, kind__in=["shift.started", "driver.break", "shift.ended"])
                .order_by("id").values_list("kind", flat=True)) == ["shift.started", "driver.break", "driver.break", "shift.ended"]

    assert dict(Order.objects.filter(organization=hub.organization).values_list("external_ref", "status")) == {
        "E-1": "delivered", "E-2": "delivered", "E-3": "delivered", "E-4": "failed"}
    assert not Order.objects.filter(organization=hub.organization, proof_missing=True).exists()
    proofs = {(p.order.external_ref, p.kind): p for p in ProofOfDelivery.objects.select_related("order")}
    assert set(proofs) == {("E-1", "pin"), ("E-2", "photo"), ("E-2", "signature"), ("E-3", "age_check"), ("E-4", "photo")}
    photo = proofs[("E-2", "photo")]
    assert photo.content_type == "image/jpeg" and 1_000 < photo.size < 300_000  # shrunk on the phone (1280 px wide)
    assert proofs[("E-2", "signature")].content_type == "image/png" and proofs[("E-2", "signature")].size > 500
    assert proofs[("E-3", "age_check")].data["age"] >= 36 and not proofs[("E-4", "photo")].verified
    from dispatch.models import OrderException

    assert OrderException.objects.filter(kind="failed_delivery", orders__external_ref="E-4").exists()  # the tower re-plans it


def _driver_day(refs_proof, code="VAN-E", started=True):
    from django.utils import timezone

    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.status import Role

    hub = HubFactory(code="EAST", lat=41.88, lon=-87.60)
    van = VehicleFactory(fleet__hub=hub, code=code)
    me = DriverFactory(organization=hub.organization, name="Kim Driver")
    ShiftFactory(driver=me, vehicle=van, started_at=timezone.now() if started else None)
    for ref, proof in refs_proof:
        order = OrderFactory(hub=hub, external_ref=ref, proof_required=proof, delivery_pin="2468")
        assignment_to_vehicle(order=order, vehicle=van, actor=ActorRef.system("tests"))
    return hub, van, UserFactory(organization=hub.organization, role=Role.DRIVER, driver=me)


def _sign_in(page, base, user):
    page.goto(base + "/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_selector("#stops")


def _until(check, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.1)


def test_ten_minutes_without_network_mid_route_lose_nothing_and_apply_nothing_twice(daphne_server, browser):
    """The network goes at the hub: the driver picks up, drives (the phone's position moves along
    the route), delivers one order and fails another, and even reopens the app, all offline for ten
    minutes by the phone's clock. When the network returns, every action and position reaches the
    tower once and in order, timed when the driver tapped."""
    from dispatch.models import Event, Order, Stop, VehiclePosition

    hub, van, user = _driver_day((("W-1", ["pin"]), ("W-2", [])))
    page = browser.strict_page(**PHONE, geolocation={"latitude": 41.88, "longitude": -87.60}, permissions=["geolocation"])
    page.clock.install()
    _sign_in(page, daphne_server, user)
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()  # now under the service worker, which keeps this page for when there is no network
    page.wait_for_selector("#stops")
    assert page.evaluate("navigator.serviceWorker.controller !== null")

    context = page.context
    context.set_offline(True)
    page.tap('li[data-order="W-1"][data-kind="pickup"] button')
    page.wait_for_selector('li[data-order="W-1"][data-kind="pickup"] .pending >> text=kept on this phone')
    route = [(41.88 + i * 0.004, -87.60 + i * 0.003) for i in range(1, 9)]
    for lat, lon in route:  # a minute and a quarter between positions: ten minutes of driving
        context.set_geolocation({"latitude": lat, "longitude": lon})
        page.clock.run_for(75_000)
    page.fill('li[data-order="W-1"][data-kind="delivery"] input[name=pin]', "2468")
    page.tap('li[data-order="W-1"][data-kind="delivery"] form.deliver button')
    page.select_option('li[data-order="W-2"][data-kind="delivery"] form.fail select', "not_home")
    page.tap('li[data-order="W-2"][data-kind="pickup"] button')
    page.tap('li[data-order="W-2"][data-kind="delivery"] form.fail button')
    page.clock.run_for(20_000)  # the last positions' batch goes into the queue
    page.wait_for_selector("#connection >> text=No network")
    page.reload()  # the driver closes and reopens the app, still offline: the page comes from the phone
    page.wait_for_selector('li[data-order="W-1"][data-kind="delivery"] .pending >> text=kept on this phone')
    assert Order.objects.filter(external_ref__in=["W-1", "W-2"], status="assigned").count() == 2  # nothing arrived yet

    context.set_offline(False)
    page.clock.run_for(6_000)
    _until(lambda: dict(Order.objects.filter(external_ref__startswith="W-").values_list("external_ref", "status"))
           == {"W-1": "delivered", "W-2": "failed"})
    page.wait_for_selector("#connection", state="hidden")

    steps = list(Event.objects.filter(order__external_ref__startswith="W-", kind="order.status", data__reason="driver app")
                 .order_by("id").values_list("order__external_ref", "data__to"))
    assert steps == [("W-1", "picked_up"), ("W-1", "delivered"), ("W-2", "picked_up"), ("W-2", "failed")]
    picked_up = Stop.objects.get(order__external_ref="W-1", kind="pickup").completed_at
    delivered = Order.objects.get(external_ref="W-1").delivered_at
    assert delivered - picked_up > timedelta_min(9)  # when the driver tapped, ten minutes apart, not when they arrived
    stored = list(VehiclePosition.objects.filter(vehicle=van).order_by("recorded_at").values_list("lat", "lon"))
    assert len(stored) == len(set(stored)) >= len(route) - 1  # every position once
    assert stored[-1] == pytest.approx(route[-1])
    van.refresh_from_db()
    assert (van.lat, van.lon) == pytest.approx(route[-1])


def timedelta_min(minutes):
    from datetime import timedelta

    return timedelta(minutes=minutes)


def test_an_order_dispatch_moves_off_the_van_disappears_from_the_drivers_screen_with_a_notice(daphne_server, browser):
    import time

    from carriers.models import CarrierBooking
    from dispatch import clock
    from dispatch.models import Order
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_booking, assignment_to_vehicle
    from tests.factories import CarrierFactory

    hub, van, user = _driver_day((("M-1", ["pin"]), ("M-2", [])))
    page = browser.strict_page(**PHONE)
    _sign_in(page, daphne_server, user)
    page.wait_for_selector('li[data-order="M-2"][data-kind="delivery"]')
    page.fill('li[data-order="M-1"][data-kind="delivery"] input[name=pin]', "13")  # the driver is typing the PIN

    carrier = CarrierFactory(organization=hub.organization, name="Swift Couriers")
    order = Order.objects.get(external_ref="M-2")
    booking = CarrierBooking.objects.create(organization=hub.organization, carrier=carrier, order=order, idempotency_key="b-m2",
                                            promised_at=clock.now())
    started = time.monotonic()
    assignment_to_booking(order=order, booking=booking, actor=ActorRef.user(UserFactory(organization=hub.organization)))
    page.wait_for_selector("#notice >> text=M-2 was taken off your van by dispatch", timeout=5000)
    took = time.monotonic() - started
    assert page.locator('li[data-order="M-2"]').count() == 0 and page.locator('li[data-order="M-1"]').count() == 2
    assert page.input_value('li[data-order="M-1"][data-kind="delivery"] input[name=pin]') == "13"  # not lost to the change
    print(f"moved off the van -> gone from the phone in {took:.2f} s")

    added = OrderFactory(hub=hub, external_ref="M-3", proof_required=[])
    assignment_to_vehicle(order=added, vehicle=van, actor=ActorRef.system("tests"))
    page.wait_for_selector("#notice >> text=M-3 was added to your stops", timeout=5000)
    assert page.locator('li[data-order="M-3"]').count() == 2
