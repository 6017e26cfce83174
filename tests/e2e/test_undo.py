"""A dispatcher undoes an applied decision from the activity feed, in a browser against a real daphne:
the queue says it was undone, the feed says "Undid decision N", and nothing errs in the page."""

import pytest
from django.utils import timezone

from tests.factories import CarrierFactory, HubFactory, OrderFactory, UserFactory, VehicleFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_undo_from_the_feed_is_confirmed_in_the_queue_and_told_as_an_undo_in_the_feed(daphne_server, browser):
    from carriers.services import booking_record_confirmed, carrier_set_health
    from dispatch.engine.decisions import decision_approve
    from dispatch.models import Decision, Order, Policy
    from dispatch.services import ActorRef

    hub = HubFactory(code="UNDO", lat=41.88, lon=-87.63)
    org = hub.organization
    Policy.objects.create(organization=org, auto_apply=False)
    user = UserFactory(organization=org)
    VehicleFactory(fleet__hub=hub, code="VANU", position_at=timezone.now())
    down = CarrierFactory(organization=org, code="GONE", name="Gone Couriers")
    CarrierFactory(organization=org, code="OTHER", name="Other Couriers")
    actor = ActorRef.system("test")
    for i in range(3):
        o = OrderFactory(hub=hub, lat=41.86 + 0.01 * i, lon=-87.65, external_ref=f"U-{i}")
        booking_record_confirmed(order=o, carrier=down, external_id=o.external_ref, price=9, promised_at=o.window_start,
                                 idempotency_key=f"u-{o.id}", actor=actor)
    carrier_set_health(carrier_id=down.id, health="down", reason="API timeouts", actor=actor)
    decision = Decision.objects.get(organization=org, state="proposed")
    decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.user(user))
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, daphne_server, user.username)
    page.evaluate("""() => { window.__htmxErrors = [];
        ['htmx:oobErrorNoTarget', 'htmx:targetError', 'htmx:responseError', 'htmx:swapError']
          .forEach(n => document.body.addEventListener(n, e => window.__htmxErrors.push(n))); }""")

    page.click(f'#activity li[data-decision="{decision.id}"] button.undo')

    page.wait_for_selector(f"#action-status >> text=Decision {decision.id} undone: 3 orders back where they were", timeout=15000)
    page.wait_for_selector(f"#activity >> text=Undid decision {decision.id}: 3 orders back where they were", timeout=15000)
    reverse = Decision.objects.get(reverses=decision)
    assert page.locator(f'#activity li[data-decision="{reverse.id}"] button.undo').count() == 0
    assert page.evaluate("window.__htmxErrors") == [] and errors == []
    assert Order.objects.filter(organization=org, carrier=down, status="booked").count() == 3
