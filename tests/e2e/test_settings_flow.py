"""An admin raises the late penalty in Chromium: sees the preview, saves, and the dispatcher's next
proposal reflects the new rule (a van on time instead of a cheaper carrier that would be late)."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from carriers.services import booking_record_confirmed
from dispatch.models import Decision, Policy
from dispatch.services import ActorRef
from dispatch.status import Role
from tests.factories import (
    CarrierFactory,
    HubFactory,
    OrderFactory,
    UserFactory,
    VehicleFactory,
    api_token,
)

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def _outage(base: str, token: str, code: str) -> Decision:
    answer = httpx.post(f"{base}/api/carriers/{code}/availability/", headers={"Authorization": f"Token {token}"},
                        json={"health": "down", "reason": "no answer"}, timeout=120)
    assert answer.status_code == 200
    return Decision.objects.get(state="proposed", exception__carrier__code=code)


def book(org, hub, now, i: int, code: str) -> None:
    carrier = CarrierFactory(organization=org, code=code)
    o = OrderFactory(hub=hub, external_ref=f"R-{i}", lat=hub.lat + 0.01, lon=hub.lon, window_start=now, window_end=now + timedelta(hours=2))
    booking_record_confirmed(order=o, carrier=carrier, external_id=o.external_ref, price=8, promised_at=now + timedelta(hours=1),
                             idempotency_key=f"r-{i}", actor=ActorRef.system("t"))


def test_admin_changes_the_late_penalty_and_the_next_proposal_follows_it(daphne_server, browser):
    now = timezone.now()
    hub = HubFactory(code="RULES", lat=41.88, lon=-87.63)
    org = hub.organization
    Policy.objects.create(organization=org, auto_apply=False)
    admin = UserFactory(organization=org, role=Role.ADMIN, username="rules-admin")
    dispatcher = UserFactory(organization=org, role=Role.DISPATCHER, username="rules-dispatcher")
    VehicleFactory(fleet__hub=hub, code="PRICEY", lat=hub.lat, lon=hub.lon, position_at=now, cost_per_km=5.0, cost_per_hour=200.0)
    CarrierFactory(organization=org, code="SLOW", lead_min=150)
    token = api_token(org)
    book(org, hub, now, 0, "DOWN1")
    before = _outage(daphne_server, token, "DOWN1")
    assert before.moves[0]["to"] == {"kind": "carrier", "code": "SLOW"}  # 30 min late costs less than the van

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(daphne_server + "/login/?next=/settings/service-levels/same_day/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.fill("input[name=late_fixed]", "200.00")
    page.fill("input[name=late_per_min]", "5.00")
    page.fill("input[name=unserved]", "400.00")
    page.click("button[value=preview]")
    page.wait_for_selector("#preview")
    assert "R-0 → van PRICEY" in page.inner_text("#preview")  # the order still waiting on the carrier that is down
    page.click("button[value=save]")
    page.wait_for_selector("text=Same day rule saved")
    assert page.inner_text('[data-level="same_day"]').split("\t")[1].strip() == "200.00"

    book(org, hub, now, 1, "DOWN2")
    after = _outage(daphne_server, token, "DOWN2")
    assert after.moves[0]["to"] == {"kind": "van", "code": "PRICEY"}
    watcher = browser.new_page(viewport={"width": 1366, "height": 900})
    login(watcher, daphne_server, dispatcher.username)
    row = watcher.wait_for_selector(f'[data-decision="{after.id}"] tr[data-order="R-1"]', timeout=15000)
    assert "van PRICEY" in row.inner_text()
