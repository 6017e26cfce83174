"""Admins change the organization's rules under the control tower's own pages: validated,
previewed with the production planner, versioned (who, when, what), scheduled, rolled back, and
read by the planner and the risk flags the moment they are in force."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from dispatch import clock
from dispatch.engine.bridge import replan_network
from dispatch.models import (
    Decision,
    OrderException,
    Policy,
    ScheduledChange,
    ServiceLevelRule,
    User,
)
from dispatch.selectors import service_rules
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.routes import route_recompute_etas
from dispatch.configuration import apply_due_changes, version_of
from dispatch.status import Role
from tests.dispatch.test_customer_messages import smtp  # noqa: F401  (fixture)
from tests.factories import CarrierFactory, OrderFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db

RULE = {"late_fixed": "12.00", "late_per_min": "0.15", "unserved": "70.00", "reattempt_cost": "8.00", "at_risk_margin_min": "15"}


def as_role(org, role):
    c = Client()
    user = UserFactory(organization=org, role=role)
    c.force_login(user)
    return c, user


def can_log_in(username: str, password: str) -> bool:
    response = Client().post("/login/", {"username": username, "password": password})
    return response.status_code == 302


def post_rule(c, level="same_day", version=0, action="save", **changes):
    return c.post(f"/settings/service-levels/{level}/", {**RULE, **changes, "version": version, "action": action})


def test_admin_previews_then_saves_and_the_history_says_who_and_what(org, hub):
    c, admin = as_role(org, Role.ADMIN)
    assert c.get("/settings/service-levels/same_day/").status_code == 200
    preview = post_rule(c, action="preview", late_fixed="40.00")
    assert preview.status_code == 200 and 'id="preview"' in preview.content.decode()
    assert 'action="#preview"' in preview.content.decode()  # the page opens at the result, not above it
    assert 'data-preview="stamp"' in preview.content.decode() and " s. Nothing is saved yet." in preview.content.decode()
    assert not ServiceLevelRule.objects.filter(organization=org).exists()  # a preview saves nothing
    saved = post_rule(c, late_fixed="40.00")
    assert saved.status_code == 302
    assert service_rules(org.id)["same_day"].late_fixed == Decimal("40.00")
    default, record = ServiceLevelRule.history.filter(organization=org).order_by("history_id")
    assert record.history_user == admin and default.history_user is None and default.late_fixed == Decimal("12")
    history = c.get("/settings/service-levels/same_day/history/").content.decode()
    assert admin.username in history and "first version" in history and "the product&#x27;s default" in history


def test_bad_values_get_field_errors_and_change_nothing(org):
    c, _ = as_role(org, Role.ADMIN)
    for changes, field, text in (({"late_fixed": "-1"}, "late_fixed", "cannot be negative"),
                                 ({"late_per_min": "abc"}, "late_per_min", "Enter a number"),
                                 ({"late_fixed": "12.345"}, "late_fixed", "two decimals"),
                                 ({"unserved": "5", "late_fixed": "20"}, "unserved", "cannot cost less than delivering late")):
        response = post_rule(c, **changes)
        body = response.content.decode()
        assert response.status_code == 400 and f'data-error="{field}"' in body and text in body, changes
    assert post_rule(c, effective_at="next tuesday").status_code == 400
    assert not ServiceLevelRule.objects.filter(organization=org).exists()


def test_a_scheduled_change_takes_effect_then_and_not_before(org):
    c, admin = as_role(org, Role.ADMIN)
    at = timezone.localtime(clock.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    response = post_rule(c, late_fixed="30.00", effective_at=at.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 302
    assert service_rules(org.id)["same_day"].late_fixed == Decimal("12")  # not before
    assert apply_due_changes() == 0
    clock.anchor(sim_at=at + timedelta(seconds=1), speed=1.0)
    assert service_rules(org.id)["same_day"].late_fixed == Decimal("30.00")  # in force from its moment
    assert apply_due_changes() == 1 and apply_due_changes() == 0  # written once, by the beat
    change = ScheduledChange.objects.get()
    assert change.applied_at is not None
    record = ServiceLevelRule.history.filter(organization=org).order_by("history_id").last()
    assert record.history_user == admin and "scheduled change" in record.history_change_reason


def test_cancel_a_scheduled_change(org):
    c, _ = as_role(org, Role.ADMIN)
    at = timezone.localtime(clock.now() + timedelta(days=1))
    post_rule(c, late_fixed="30.00", effective_at=at.strftime("%Y-%m-%dT%H:%M"))
    change = ScheduledChange.objects.get()
    assert c.post(f"/settings/scheduled/{change.id}/cancel/").status_code == 302
    clock.anchor(sim_at=at + timedelta(minutes=1), speed=1.0)
    assert service_rules(org.id)["same_day"].late_fixed == Decimal("12")


def test_roll_back_to_an_earlier_version(org):
    c, _ = as_role(org, Role.ADMIN)
    post_rule(c, late_fixed="20.00", version=0)
    v1 = ServiceLevelRule.history.order_by("-history_id").first().history_id
    post_rule(c, late_fixed="50.00", version=v1)
    v2 = ServiceLevelRule.history.order_by("-history_id").first().history_id
    response = c.post("/settings/service-levels/same_day/history/", {"history_id": v1, "version": v2})
    assert response.status_code == 302
    assert service_rules(org.id)["same_day"].late_fixed == Decimal("20.00")
    assert ServiceLevelRule.history.count() == 4  # the product's default, both edits and the roll back: nothing is lost


def test_the_first_edit_can_be_rolled_back_to_the_value_in_force_before_it(org):
    c, _ = as_role(org, Role.ADMIN)
    assert service_rules(org.id)["express"].late_fixed == Decimal("25")
    assert post_rule(c, level="express", late_fixed="80.00", unserved="200", version=0).status_code == 302
    assert service_rules(org.id)["express"].late_fixed == Decimal("80.00")
    first = ServiceLevelRule.history.order_by("history_id").first()
    latest = ServiceLevelRule.history.order_by("-history_id").first()

    response = c.post("/settings/service-levels/express/history/", {"history_id": first.history_id, "version": latest.history_id})

    assert response.status_code == 302
    assert service_rules(org.id)["express"].late_fixed == Decimal("25")


def test_the_first_wording_can_be_rolled_back_to_the_products_own(org):
    from dispatch.configuration import DEFAULTS
    from dispatch.models import MessageTemplate

    c, _ = as_role(org, Role.ADMIN)
    url = "/settings/templates/booked/email/"
    assert c.post(url, {"subject": "{{ ref }} booked", "body": "Hi {{ name }}.", "action": "save", "version": "0"}).status_code == 302
    template = MessageTemplate.objects.get(organization=org, kind="booked", channel="email")
    first = template.history.order_by("history_id").first()

    response = c.post(f"{url}history/", {"history_id": first.history_id, "version": c.get(url).context["version"]})

    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.subject, template.body) == DEFAULTS["booked"]


def test_two_admins_editing_at_once_one_wins_the_other_gets_409(org):
    a, _ = as_role(org, Role.ADMIN)
    b, _ = as_role(org, Role.ADMIN)
    assert post_rule(a, late_fixed="20.00", version=0).status_code == 302
    late = post_rule(b, late_fixed="30.00", version=0)
    assert late.status_code == 409 and "Reload to see their change" in late.content.decode()
    assert service_rules(org.id)["same_day"].late_fixed == Decimal("20.00")


def test_every_settings_url_refuses_other_roles_with_a_reason(org):
    urls = ["/settings/", "/settings/service-levels/same_day/", "/settings/service-levels/same_day/history/", "/settings/policy/",
            "/settings/policy/history/", "/settings/users/"]
    for role in (Role.DISPATCHER, Role.OPS_MANAGER):
        c, _ = as_role(org, role)
        for url in urls:
            for method in ("get", "post"):
                response = getattr(c, method)(url)
                assert response.status_code == 403 and "admins" in response.content.decode(), (role, url, method)


def test_the_at_risk_margin_is_read_when_etas_are_recomputed(org, hub):
    van = VehicleFactory(fleet__hub=hub, code="RISK", lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    now = timezone.now()
    o = OrderFactory(hub=hub, external_ref="M1", lat=hub.lat + 0.001, lon=hub.lon, window_start=now - timedelta(hours=2),
                     window_end=now + timedelta(minutes=12))
    assignment_to_vehicle(order=o, vehicle=van, actor=ActorRef.system("t"))
    route_recompute_etas(vehicle=van, now=now)
    o.refresh_from_db()
    assert o.risk == "at_risk"  # ETA within the default 15-minute margin
    c, _ = as_role(org, Role.ADMIN)
    assert post_rule(c, at_risk_margin_min="5").status_code == 302
    route_recompute_etas(vehicle=van, now=now + timedelta(seconds=1))
    o.refresh_from_db()
    assert o.risk == "on_time"


def test_the_preview_names_the_moves_the_planner_then_proposes(org, hub):
    """A booked order its carrier will deliver 30 minutes late; a van nearby could make it on time
    at a higher price. At a small late penalty the plan stays; at a large one the planner moves it
    to the van, and the preview said so before the change was saved."""
    now = timezone.now()
    carrier = CarrierFactory(organization=org, code="LATE", lead_min=150)
    van = VehicleFactory(fleet__hub=hub, code="ONTIME", lat=hub.lat, lon=hub.lon, position_at=now, cost_per_km=5.0, cost_per_hour=200.0)
    o = OrderFactory(hub=hub, external_ref="MV1", lat=hub.lat + 0.01, lon=hub.lon, window_start=now, window_end=now + timedelta(hours=2))
    from carriers.services import booking_record_confirmed

    booking_record_confirmed(order=o, carrier=carrier, external_id="x", price=8, promised_at=now + timedelta(hours=2, minutes=30),
                             idempotency_key="mv1", actor=ActorRef.system("t"))
    c, _ = as_role(org, Role.ADMIN)
    assert replan_network(organization_id=org.id, time_limit=1.0) is None  # 12 + 0.15 x ~30: not worth a van's trip
    preview = post_rule(c, action="preview", late_fixed="200.00", late_per_min="5.00", unserved="400.00")
    assert 'data-preview="moves">1<' in preview.content.decode() and "MV1 → van ONTIME" in preview.content.decode()
    assert post_rule(c, late_fixed="200.00", late_per_min="5.00", unserved="400.00").status_code == 302
    decision = replan_network(organization_id=org.id, time_limit=1.0)
    assert decision is not None and [(m["order"], m["to"]["code"]) for m in decision.moves] == [("MV1", van.code)]


def test_the_auto_apply_preview_counts_last_months_decisions(org, hub):
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="k", title="t", detected_at=timezone.now())
    moves = [{"order": "X", "to": {"kind": "van", "code": "V"}}]
    for delta in (5.0, 20.0, 40.0, 60.0):
        Decision.objects.create(organization=org, exception=exc, moves=moves, cost_delta=delta, state="applied")
    Policy.objects.create(organization=org, max_cost_increase=25.0)
    c, _ = as_role(org, Role.ADMIN)
    values = {"auto_apply": "on", "max_cost_increase": "50", "require_no_sla_worse": "on", "max_orders_moved": "50",
              "eta_tolerance_min": "15", "no_show_grace_min": "20", "carrier_silence_min": "30", "vehicle_silence_min": "10",
              "spike_factor": "1.5", "van_orders_per_hour": "6", "health_degraded_error_rate": "0.2", "health_down_error_rate": "0.5",
              "health_slow_ms": "3000", "carrier_timeout_s": "5", "breaker_failures": "5", "spike_min_orders": "5",
              "replan_min_saving": "5", "version": Policy.history.get().history_id}
    body = c.post("/settings/policy/", {**values, "action": "preview"}).content.decode()
    assert 'data-preview="auto">2 → 3<' in body and 'data-preview="newly_auto">1 (cost 40.0)' in body
    assert c.post("/settings/policy/", {**values, "action": "save"}).status_code == 302
    assert Policy.objects.get(organization=org).max_cost_increase == 50.0


def test_people_and_tokens(org, api):
    c, admin = as_role(org, Role.ADMIN)
    invited = c.post("/settings/users/", {"action": "invite", "username": "new.dispatcher", "email": "n@example.com", "role": "dispatcher"})
    body = invited.content.decode()
    assert invited.status_code == 200 and "data-secret" in body
    password = body.split("<code data-secret>")[1].split("</code>")[0]
    assert can_log_in("new.dispatcher", password)
    new = User.objects.get(username="new.dispatcher")
    assert c.post("/settings/users/", {"action": "role", "user": new.id, "role": "ops_manager"}).status_code == 200
    assert User.objects.get(pk=new.id).role == "ops_manager"
    assert c.post("/settings/users/", {"action": "deactivate", "user": new.id}).status_code == 200
    assert not can_log_in("new.dispatcher", password)
    last = c.post("/settings/users/", {"action": "role", "user": admin.id, "role": "dispatcher"})
    assert last.status_code == 409 and "last active admin" in last.content.decode()
    created = c.post("/settings/users/", {"action": "token", "name": "order import"}).content.decode()
    secret = created.split("<code data-secret>")[1].split("</code>")[0]
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get("/api/orders/").status_code == 200
    token_id = org.tokens.get(name="order import").id
    assert c.post("/settings/users/", {"action": "revoke", "token": token_id}).status_code == 200
    assert client.get("/api/orders/").status_code == 401
    other = as_role(org.__class__.objects.create(name="Other", slug="other-x"), Role.ADMIN)[1]
    assert c.post("/settings/users/", {"action": "deactivate", "user": other.id}).status_code == 400  # not ours


def test_carrier_health_thresholds_are_the_organizations(org):
    """An admin lowers the degraded error rate: the same call record now degrades the carrier."""
    from carriers.health import assess
    from carriers.models import CarrierCall

    carrier = CarrierFactory(organization=org, code="HT")
    for ok in (True, True, False, True, True, True, True, True, True, True):
        CarrierCall.objects.create(carrier=carrier, operation="book", ok=ok, latency_ms=100)
    CarrierCall.objects.create(carrier=carrier, operation="book", ok=False, latency_ms=100)
    assert assess(carrier)[0] == "up"  # 2 of 11 failed: under the default 20 %
    Policy.objects.update_or_create(organization=org, defaults={"health_degraded_error_rate": 0.1})
    assert assess(carrier)[0] == "degraded"


def test_message_templates_are_validated_previewed_test_sent_and_used(org, hub):
    from dispatch.models import MessageTemplate

    c, _ = as_role(org, Role.ADMIN)
    url = "/settings/templates/booked/email/"
    assert c.get(url).status_code == 200 and c.get("/settings/templates/").status_code == 200
    bad = c.post(url, {"subject": "Hi {{ customer }}", "body": "{% load static %}{{ ref|safe }}", "action": "preview"})
    body = bad.content.decode()
    assert bad.status_code == 400
    assert "Unknown placeholder {{ customer }}" in body and "is not available in messages" in body and "Filter &#x27;safe&#x27;" in body
    OrderFactory(hub=hub, external_ref="TPL-9", customer_name="Robin Doe")
    good = {"subject": "{{ ref }} is coming", "body": "Hi {{ name }}{% if eta %}, around {{ eta }}{% endif %}. {{ tracking_url }}"}
    preview = c.post(url, {**good, "action": "preview"}).content.decode()
    assert "TPL-9 is coming" in preview and "Hi Robin" in preview
    assert c.post(url, {**good, "action": "save", "version": "0"}).status_code == 302
    template = MessageTemplate.objects.get(organization=org, kind="booked", channel="email")
    assert template.history.count() == 2  # the product's wording in force until then, and the admin's
    assert c.post("/settings/templates/parcel/pigeon/").status_code == 404


def test_a_test_send_goes_over_smtp(org, hub, smtp):
    c, _ = as_role(org, Role.ADMIN)
    response = c.post("/settings/templates/delivered/email/", {"subject": "Delivered: {{ ref }}", "body": "Done, {{ name }}.",
                                                                "test_to": "admin@example.com", "action": "test"})
    assert response.status_code == 200 and "Test sent to admin@example.com" in response.content.decode()
    [(rcpt, content)] = smtp.messages
    assert rcpt == ["admin@example.com"] and "[test] Delivered:" in content


def test_cost_rules_surcharges_reach_the_planners_price(org, hub):
    """An admin sets a fuel surcharge, a weight break and an after-hours fee on a rate card, and a
    zone surcharge: the planner's price of that carrier option is exactly the rate card's formula."""
    from carriers.models import RateCard
    from dispatch.engine.bridge import problem_from_db
    from planner.pricing import carrier_price

    carrier = CarrierFactory(organization=org, code="SUR")
    rate = RateCard.objects.get(carrier=carrier, service_level="same_day")
    zone = carrier.zones.get()
    van = VehicleFactory(fleet__hub=hub, code="COSTV")
    c, admin = as_role(org, Role.ADMIN)
    assert c.get("/settings/costs/").status_code == 200
    bad = c.post("/settings/costs/", {"action": "rate", "id": rate.id, "base": "8", "per_kg": "0.1", "per_km": "0.4", "fuel_pct": "150",
                                      "weight_breaks": "heavy", "after_hours_from": "25:00", "after_hours_fee": "3"})
    assert bad.status_code == 400 and {"fuel_pct", "weight_breaks", "after_hours_from"} <= set(bad.context["errors"])
    ok = c.post("/settings/costs/", {"action": "rate", "id": rate.id, "base": "8", "per_kg": "0.1", "per_km": "0.4", "fuel_pct": "10",
                                     "weight_breaks": "20:4, 5:1", "after_hours_from": "00:00", "after_hours_fee": "3",
                                     "version": version_of(rate)})
    assert ok.status_code == 200
    assert c.post("/settings/costs/", {"action": "zone", "id": zone.id, "surcharge": "2.5", "version": version_of(zone)}).status_code == 200
    assert c.post("/settings/costs/", {"action": "fleet", "id": van.fleet_id, "cost_per_km": "0.9", "cost_per_hour": "30",
                                       "fixed_cost": "0"}).status_code == 200
    van.refresh_from_db()
    assert (van.cost_per_km, van.cost_per_hour) == (0.9, 30.0)
    rate.refresh_from_db()
    assert rate.weight_breaks == [[5.0, 1.0], [20.0, 4.0]] and rate.history.first().history_user == admin

    order = OrderFactory(hub=hub, external_ref="SUR-1", weight_kg=10)
    db = problem_from_db(organization_id=org.id, extra_orders=[order])
    p = db.problem
    option = next(x for x in p.carriers if x.id == "SUR|same_day")
    km = p.km(p.hubs[hub.code].at, p.orders["SUR-1"].at)
    expected = (8 + 0.1 * 10 + 0.4 * km + 1.0 + 2.5 + 3.0) * 1.10  # weight break 5 kg passed (1.00), zone 2.50, after hours 3.00
    assert carrier_price(p, option, p.orders["SUR-1"]) == pytest.approx(expected + p.late_cost(p.orders["SUR-1"], max(
        p.orders["SUR-1"].window[0], p.now_min + option.lead_min + p.drive_min(p.hubs[hub.code].at, p.orders["SUR-1"].at))))
    other = as_role(org.__class__.objects.create(name="O", slug="o-costs"), Role.ADMIN)[0]
    assert other.post("/settings/costs/", {"action": "zone", "id": zone.id, "surcharge": "9"}).status_code == 400  # not theirs


def test_a_rate_card_preview_shows_what_the_planner_would_move_and_saves_nothing(org, hub):
    """A booked order with carrier CHEAP; raising CHEAP's base by 100 makes the van the better home:
    the preview names that move, the plan's cost goes up by the rise, and the rate card is unchanged."""
    from carriers.models import RateCard
    from carriers.services import booking_record_confirmed

    now = timezone.now()
    carrier = CarrierFactory(organization=org, code="CHEAP", lead_min=30)
    CarrierFactory(organization=org, code="BOOKED")
    VehicleFactory(fleet__hub=hub, code="ALT", lat=hub.lat, lon=hub.lon, position_at=now)
    o = OrderFactory(hub=hub, external_ref="RC-1", lat=hub.lat + 0.01, lon=hub.lon, window_start=now, window_end=now + timedelta(hours=3))
    booking_record_confirmed(order=o, carrier=carrier, external_id="x", price=8, promised_at=now + timedelta(hours=1),
                             idempotency_key="rc1", actor=ActorRef.system("t"))
    rate = RateCard.objects.get(carrier=carrier, service_level="same_day")
    c, _ = as_role(org, Role.ADMIN)
    values = {"action": "rate", "id": rate.id, "base": "108", "per_kg": "0.1", "per_km": "0.4", "fuel_pct": "0", "weight_breaks": "",
              "after_hours_from": "", "after_hours_fee": "0", "preview": "1"}
    body = c.post("/settings/costs/", values).content.decode()
    assert 'id="preview"' in body and "RC-1 → van ALT" in body
    rate.refresh_from_db()
    assert rate.base == 8.0  # a preview saves nothing


def test_a_promise_that_cannot_be_met_is_refused_and_new_orders_keep_to_the_rules(org, hub, api):
    c, _ = as_role(org, Role.ADMIN)
    impossible = post_rule(c, cutoff="22:00", lead_min="180")
    assert impossible.status_code == 400 and "could not start before midnight" in impossible.content.decode()
    assert post_rule(c, cutoff="", lead_min="60", max_window_min="120", priority="1", handling=["fragile"]).status_code == 302
    now = clock.now()
    order = {"external_ref": "PR-1", "hub": hub.code, "address": "1 Main St", "lat": 41.9, "lon": -87.65,
             "service_level": "same_day", "weight_kg": 2, "customer": {"name": "Pat"},
             "window_start": (now + timedelta(minutes=30)).isoformat(), "window_end": (now + timedelta(hours=4)).isoformat()}
    refused = api.post("/api/orders/", order, format="json")
    fields = refused.json()["error"]["fields"]
    assert refused.status_code == 400
    assert "needs 60 minutes" in fields["window_start"][0] and "at most 120 minutes" in fields["window_end"][0]
    ok = api.post("/api/orders/", {**order, "window_start": (now + timedelta(hours=2)).isoformat(),
                                   "window_end": (now + timedelta(hours=3)).isoformat()}, format="json")
    assert ok.status_code == 201 and ok.json()["requires"] == ["fragile"]


def test_versioned_settings_created_while_serving_an_api_token_record_no_user(org):
    """An API token is the organization's integration, not a person: a settings row first created
    while serving it (the policy, read by the planner) is versioned with no user. (The demo hit this:
    with tasks in-process, every auto-planned order failed on 'history_user must be a User'.)"""
    from django.test import RequestFactory
    from simple_history.models import HistoricalRecords

    from dispatch.api.auth import ApiClient, token_issue
    from dispatch.selectors import policy_for

    token, _ = token_issue(organization_id=org.id, name="shop")
    request = RequestFactory().post("/api/orders/")
    request.user = ApiClient(token)
    HistoricalRecords.context.request = request
    try:
        policy = policy_for(org.id)
    finally:
        del HistoricalRecords.context.request
    [record] = Policy.history.filter(organization=org)
    assert policy.pk and record.history_user is None


def test_costs_and_wording_are_scheduled_versioned_rolled_back_and_edited_by_one_at_a_time(org, hub):
    """Rate cards, zone surcharges, van costs and message wording, like the rules: a change can wait
    for its moment (nothing changes before it, the beat writes it then), every version is listed with
    who and what, any earlier one can be restored, and two admins saving the same version: one 409."""
    from carriers.models import RateCard
    from dispatch.models import Event, MessageTemplate

    carrier = CarrierFactory(organization=org, code="VER")
    rate = RateCard.objects.get(carrier=carrier, service_level="same_day")
    zone = carrier.zones.get()
    van = VehicleFactory(fleet__hub=hub, code="VERV", cost_per_km=0.5)
    c, admin = as_role(org, Role.ADMIN)
    c2, _ = as_role(org, Role.ADMIN)
    later = timezone.localtime(clock.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    card = {"action": "rate", "id": rate.id, "base": "9.5", "per_kg": "0.1", "per_km": "0.4", "fuel_pct": "5", "weight_breaks": "20:4",
            "after_hours_from": "", "after_hours_fee": "0"}
    original_base = rate.base

    # scheduled: nothing changes now; listed on Settings
    seen = version_of(rate)
    page = c.post("/settings/costs/", {**card, "version": seen, "effective_at": later}).content.decode()
    assert "Carrier rate card scheduled for" in page
    rate.refresh_from_db()
    assert rate.base == original_base
    change = ScheduledChange.objects.get(target="rate_card")
    assert f'data-scheduled="{change.id}"' in c.get("/settings/").content.decode()
    # scheduling leaves the rate card's version as it was; two admins saving now from the same version: one wins
    assert c.post("/settings/costs/", {**card, "base": "9", "version": seen}).status_code == 200
    clash = c2.post("/settings/costs/", {**card, "base": "11", "version": seen})
    assert clash.status_code == 409 and "Someone saved" in clash.content.decode()
    rate.refresh_from_db()
    assert rate.base == 9.0
    # the moment comes: the beat writes it, in the rate card's history as the admin's scheduled change
    assert apply_due_changes(now=change.effective_at + timedelta(minutes=1)) == 1
    rate.refresh_from_db()
    assert (rate.base, rate.fuel_pct, rate.weight_breaks) == (9.5, 5.0, [[20.0, 4.0]])
    latest = rate.history.first()
    assert latest.history_user == admin and latest.history_change_reason == f"scheduled change {change.id}"
    # versions and rollback to the first one
    history_url = f"/settings/costs/rates/{rate.id}/history/"
    listing = c.get(history_url).content.decode()
    first = rate.history.order_by("history_id").first()
    assert "base</b> 9.0 → 9.5" in listing and f'data-version="{first.history_id}"' in listing
    assert c.post(history_url, {"history_id": first.history_id, "version": version_of(rate)}).status_code == 302
    rate.refresh_from_db()
    assert rate.base == original_base and rate.weight_breaks == []

    # zone surcharge: scheduled, then the zone is deleted before its moment: the change fails visibly
    c.post("/settings/costs/", {"action": "zone", "id": zone.id, "surcharge": "4", "version": version_of(zone), "effective_at": later})
    zone_change = ScheduledChange.objects.get(target="zone_surcharge")
    zone.delete()
    assert apply_due_changes(now=zone_change.effective_at + timedelta(minutes=1)) == 0
    zone_change.refresh_from_db()
    assert zone_change.cancelled_at and "Could not take effect" in zone_change.note
    assert Event.objects.filter(kind="settings.failed", data__change=zone_change.id).exists()

    # van costs: versioned like every setting; the costs the van was created with are its first version
    created_with = van.cost_per_km
    seen_van = version_of(van)
    assert c.post("/settings/costs/", {"action": "van", "id": van.id, "cost_per_km": "0.8", "cost_per_hour": "25",
                                       "fixed_cost": "0", "version": seen_van}).status_code == 200
    assert c.post("/settings/costs/", {"action": "van", "id": van.id, "cost_per_km": "1.2", "cost_per_hour": "25",
                                       "fixed_cost": "0", "version": version_of(van)}).status_code == 200
    van_clash = c2.post("/settings/costs/", {"action": "van", "id": van.id, "cost_per_km": "2", "cost_per_hour": "25",
                                             "fixed_cost": "0", "version": seen_van})
    assert van_clash.status_code == 409 and "Someone saved the costs of van" in van_clash.content.decode()
    van.refresh_from_db()
    assert van.cost_per_km == 1.2
    van_history = f"/settings/costs/vans/{van.id}/history/"
    assert "cost_per_km</b> 0.8 → 1.2" in c.get(van_history).content.decode()
    first_version = van.history.order_by("history_id").first()
    assert c.post(van_history, {"history_id": first_version.history_id, "version": version_of(van)}).status_code == 302
    van.refresh_from_db()
    assert van.cost_per_km == created_with
    assert van.history.first().history_change_reason == f"rolled back to version {first_version.history_id}"

    # wording: scheduled, shown as pending, written at its moment, rolled back
    url = "/settings/templates/booked/email/"
    v1 = {"subject": "{{ ref }} booked", "body": "Hi {{ name }}.", "action": "save", "version": "0"}
    assert c.post(url, v1).status_code == 302
    template = MessageTemplate.objects.get(organization=org, kind="booked", channel="email")
    seen = c.get(url).context["version"]
    assert c.post(url, {**v1, "body": "Hello {{ name }}.", "version": seen, "effective_at": later}).status_code == 302
    assert "New wording scheduled for" in c.get(url).content.decode()
    template.refresh_from_db()
    assert template.body == "Hi {{ name }}."
    pending = ScheduledChange.objects.get(target="template")
    assert apply_due_changes(now=pending.effective_at + timedelta(minutes=1)) == 1
    template.refresh_from_db()
    assert template.body == "Hello {{ name }}."
    stale = c2.post(url, {**v1, "body": "Mine.", "version": seen})
    assert stale.status_code == 409
    first_wording = template.history.order_by("history_id")[1]  # [0] is the product's wording, in force before
    history = "/settings/templates/booked/email/history/"
    assert c.post(history, {"history_id": first_wording.history_id, "version": c.get(url).context["version"]}).status_code == 302
    template.refresh_from_db()
    assert template.body == "Hi {{ name }}."
    # another organization's admin cannot see or restore any of it
    other, _ = as_role(org.__class__.objects.create(name="Other", slug="o-ver"), Role.ADMIN)
    assert other.get(history_url).status_code == 404 and other.get(van_history).status_code == 404
    assert "Hi {{ name }}" not in other.get(history).content.decode()


def test_the_organizations_time_zone_is_where_its_people_and_customers_read_times(org, hub):
    from datetime import datetime, timezone as dt_timezone
    from zoneinfo import ZoneInfo

    from dispatch.configuration import render_template
    from tests.factories import OrderFactory

    c, _ = as_role(org, Role.ADMIN)
    refused = c.post("/settings/", {"name": org.name, "time_zone": "Mars/Olympus_Mons"})
    assert refused.status_code == 400 and "is not a time zone" in refused.content.decode()
    assert c.post("/settings/", {"name": org.name, "time_zone": "Europe/Berlin"}).status_code == 302
    noon_utc = datetime.now(dt_timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
    order = OrderFactory(hub=hub, window_start=noon_utc, window_end=noon_utc + timedelta(hours=2))
    berlin = noon_utc.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
    assert berlin != noon_utc.astimezone(ZoneInfo("America/Chicago")).strftime("%H:%M")

    tracking = Client().get(f"/track/{order.tracking_token}/").content.decode()
    staff = c.get(f"/orders/{order.external_ref}/").content.decode()
    _, body = render_template("", "{{ window }}", type(order).objects.get(pk=order.pk))

    assert f", {berlin} –" in tracking
    assert f", {berlin} –" in staff
    assert body.startswith(berlin)
    assert "Europe/Berlin" in c.get("/settings/").content.decode()
    assert '"timeZone": "Europe/Berlin"' in c.get("/").content.decode()  # the live dashboard's script writes times there too


def test_the_shops_colour_is_on_its_customers_page(org, hub):
    from tests.factories import OrderFactory

    c, _ = as_role(org, Role.ADMIN)
    assert c.post("/settings/", {"name": "Corner Shop", "brand_colour": "teal"}).status_code == 400
    assert c.post("/settings/", {"name": "Corner Shop", "brand_colour": "#0F766E"}).status_code == 302
    order = OrderFactory(hub=hub)

    page = Client().get(f"/track/{order.tracking_token}/").content.decode()

    assert 'style="--brand:#0f766e">Corner Shop<' in page and "Control Tower" not in page
