"""Admins' settings, under the control tower's own pages: service level rules, the auto-apply
policy and detection thresholds (each with a preview of its effect, an effective date, versions
and rollback), scheduled changes, users and API tokens. Admins of the organization only."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from carriers.models import Carrier, CarrierZone, RateCard
from dispatch import clock
from dispatch import configuration as svc
from dispatch.api.auth import token_issue
from dispatch.configuration import PLACEHOLDERS, render_template, template_errors, template_for, template_reset
from dispatch.engine.messages import template_test_send
from dispatch.engine.preview import (
    preview_cost_change,
    preview_policy_change,
    preview_rule_change,
)
from dispatch.errors import Conflict, DomainError, ValidationFailed
from dispatch.models import (
    ApiToken,
    Driver,
    Fleet,
    Hub,
    MessageTemplate,
    Order,
    Organization,
    Policy,
    ScheduledChange,
    ServiceLevelRule,
    User,
    Vehicle,
)
from dispatch.selectors import policy_for, service_rules
from dispatch.selectors.travel import (
    ANY_HOUR,
    AREA_KM,
    area_factor_rows,
    travel_factor_rows,
    travel_factor_versions,
    van_pace_detail,
)
from dispatch.services import users as people
from dispatch.status import (
    HANDLING,
    ExceptionKind,
    MessageKind,
    ProofKind,
    Role,
    ServiceLevel,
)
from integrations.onfleet.service import account as onfleet_account
from web.access import org_for

MAX_AHEAD = timedelta(days=366)


def _effective_at(raw: str) -> datetime | None:
    """A local date and time from the form (blank: now). Raises ValidationFailed."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("Check the effective date", errors={"effective_at": ["Enter a date and time, e.g. 2026-12-01 06:00."]}) from None
    if value.tzinfo is None:
        value = timezone.make_aware(value)
    if value - clock.now() > MAX_AHEAD:
        raise ValidationFailed("Check the effective date", errors={"effective_at": ["At most a year ahead."]})
    return value if value > clock.now() else None


def _pending(org: int, target: str, key: str = "") -> list[ScheduledChange]:
    return list(ScheduledChange.objects.filter(organization_id=org, target=target, key=key, applied_at__isnull=True,
                                               cancelled_at__isnull=True, effective_at__gt=clock.now()).order_by("effective_at"))


@login_required
def settings_home(request):
    org = org_for(request, "configure")
    errors, status = {}, 200
    if request.method == "POST":  # the organization's name and time zone
        try:
            svc.organization_set(organization_id=org, name=request.POST.get("name", ""),
                                 time_zone=request.POST.get("time_zone", ""), brand_colour=request.POST.get("brand_colour", ""),
                                 user=request.user)
            return redirect(f"{reverse('settings')}?saved=Organization+saved.")
        except ValidationFailed as e:
            errors, status = e.errors, 400
    rules = service_rules(org)
    return render(request, "controltower/settings/home.html", {
        "organization": Organization.objects.get(pk=org), "errors": errors,
        "installation_zone": settings.TIME_ZONE, "now_there": timezone.localtime(clock.now()),
        "rules": [rules[level] for level in ServiceLevel.values], "policy": policy_for(org),
        "scheduled": ScheduledChange.objects.filter(organization_id=org, applied_at__isnull=True, cancelled_at__isnull=True,
                                                    effective_at__gt=clock.now()).order_by("effective_at"),
        "message": request.GET.get("saved", ""),
    }, status=status)


def _rows(labels, values: dict, errors: dict) -> list[dict]:
    return [{"name": n, "title": t, "help": h, "value": values.get(n, ""), "errors": errors.get(n, []),
             "kind": "bool" if n in ("auto_apply", "require_no_sla_worse") else "text"} for n, t, h in labels]


def _render(request, template: str, context: dict, status: int = 200):
    context["rows"] = _rows(context["fields"], context["values"], context["errors"])
    return render(request, template, context, status=status)


def _rule_form(rule) -> dict:
    values = {f: getattr(rule, f) for f in svc.RULE_FIELDS}
    values["cutoff"] = rule.cutoff.strftime("%H:%M") if rule.cutoff else ""
    values["max_window_min"] = rule.max_window_min or ""
    return values


@login_required
def rule_edit(request, level: str):
    org = org_for(request, "configure")
    if level not in ServiceLevel.values:
        raise Http404("No such service level.")
    rule = service_rules(org)[level]
    stored = ServiceLevelRule.objects.filter(organization_id=org, service_level=level).first()
    version = svc.version_of(stored)
    context = {"level": level, "label": ServiceLevel(level).label, "values": _rule_form(rule), "version": version,
               "errors": {}, "preview": None, "pending": _pending(org, ScheduledChange.Target.SERVICE_RULE, level),
               "fields": RULE_LABELS, "effective_at": "", "proof_kinds": ProofKind.choices, "handling": HANDLING}
    if request.method == "POST":
        current = _rule_form(rule)  # a field the form did not send keeps its value
        values = {f: request.POST.get(f, current.get(f, "")) for f in (*svc.RULE_NUMBERS, "lead_min", "max_window_min", "cutoff", "priority")}
        values["proof_required"] = request.POST.getlist("proof_required")
        values["handling"] = request.POST.getlist("handling")
        label = ServiceLevel(level).label
        return _preview_or_save(
            request, context, "controltower/settings/rule.html", values, clean=svc.clean_rule, what=f"{label} rule",
            preview=lambda clean: preview_rule_change(organization_id=org, level=level, values=clean),
            save=lambda clean, **kw: svc.rule_change(organization_id=org, level=level, values=clean, **kw))
    return _render(request, "controltower/settings/rule.html", context)


RULE_LABELS = [
    ("late_fixed", "Late penalty (fixed)", "Charged once when a delivery is late"),
    ("late_per_min", "Late penalty per minute", "Added for every minute after the window"),
    ("unserved", "Unserved penalty", "An order not delivered (returned, or left without a van or carrier)"),
    ("reattempt_cost", "Re-attempt cost", "What one failed attempt costs to try again (prices carriers' failure rates)"),
    ("at_risk_margin_min", "At-risk margin (minutes)", "An ETA this close to the window's end flags the order at risk"),
    ("lead_min", "Lead time (minutes)", "Least time from ordering to the window's start; a new order with less is refused"),
    ("max_window_min", "Longest window (minutes)", "Blank: any"),
    ("cutoff", "Cut-off for today (HH:MM)", "Orders for today's windows are taken until then; blank: no cut-off"),
    ("priority", "Priority (1 first)", "Orders of a lower number are planned first"),
]
POLICY_LABELS = [
    ("auto_apply", "Apply decisions automatically", "Within the limits below; the rest wait for a dispatcher"),
    ("max_cost_increase", "Largest cost increase applied automatically", "Per decision, in money"),
    ("require_no_sla_worse", "Only when no order's SLA gets worse", ""),
    ("max_orders_moved", "Largest number of orders one decision may move automatically", ""),
    ("eta_tolerance_min", "ETA change that warrants telling the customer (minutes)", ""),
    ("no_show_grace_min", "Driver no-show grace (minutes)", "After a shift's start with no sign of the driver"),
    ("carrier_silence_min", "Carrier silence (minutes)", "No event from a carrier holding orders for this long raises an exception"),
    ("vehicle_silence_min", "Van silence (minutes)", "A van with open stops and no ping for this long may have broken down"),
    ("spike_factor", "Demand spike factor", "Orders per hub-hour above this times plan is a spike"),
    ("van_orders_per_hour", "Deliveries per van per hour", "The own fleet's planned capacity"),
    ("health_degraded_error_rate", "Carrier degraded at error rate", "Share of its recent calls that failed, 0.01 to 1"),
    ("health_down_error_rate", "Carrier down at error rate", "With its last call failing"),
    ("health_slow_ms", "Carrier slow above (ms)", "90th percentile of its recent calls"),
    ("carrier_timeout_s", "Carrier call timeout (s)", "One call may take this long"),
    ("breaker_failures", "Stop calling a carrier after failed calls in a row", "It is tried again after 30 s"),
    ("spike_min_orders", "Fewest orders in a hub-hour that can be a spike", ""),
    ("replan_min_saving", "Least saving for which a network re-plan is proposed", "In money"),
]


def _policy_form(policy) -> dict:
    return {f: getattr(policy, f) for f in svc.POLICY_FIELDS}


@login_required
def policy_edit(request):
    org = org_for(request, "configure")
    policy = policy_for(org)
    stored = Policy.objects.filter(organization_id=org).first()
    context = {"values": _policy_form(policy), "version": svc.version_of(stored), "errors": {}, "preview": None,
               "pending": _pending(org, ScheduledChange.Target.POLICY), "fields": POLICY_LABELS, "kinds": ExceptionKind.choices,
               "effective_at": ""}
    if request.method == "POST":
        values = {f: request.POST.get(f, "") for f in svc.POLICY_FIELDS}
        for flag in ("auto_apply", "require_no_sla_worse"):
            values[flag] = request.POST.get(flag) == "on"
        values["auto_apply_kinds"] = request.POST.getlist("auto_apply_kinds")
        return _preview_or_save(
            request, context, "controltower/settings/policy.html", values, clean=svc.clean_policy,
            what="Auto-apply and detection settings", preview=lambda clean: preview_policy_change(organization_id=org, values=clean),
            save=lambda clean, **kw: svc.policy_change(organization_id=org, values=clean, **kw))
    return _render(request, "controltower/settings/policy.html", context)


def _preview_or_save(request, context: dict, template: str, values: dict, *, clean, what: str, preview, save):
    """A settings form's POST: validate; "preview" shows what the change would do, "save" applies it
    now or schedules it (the effective date) against the version the admin saw."""
    context.update(values=values, effective_at=request.POST.get("effective_at", ""))
    try:
        seen = int(request.POST.get("version", "-1"))
        when = _effective_at(request.POST.get("effective_at", ""))
        cleaned = clean(values)
        if request.POST.get("action") == "save":
            result = save(cleaned, user=request.user, seen_version=seen, effective_at=when, reason=request.POST.get("reason", ""))
            done = (f"{what} scheduled for {timezone.localtime(result.effective_at):%d %b %Y %H:%M}"
                    if isinstance(result, ScheduledChange) else f"{what} saved; in force now")
            return redirect(f"/settings/?saved={done}")
        context["preview"], context["version"] = preview(cleaned), seen
    except ValidationFailed as e:
        context["errors"] = e.errors
        return _render(request, template, context, status=400)
    except Conflict as e:
        context["conflict"] = e.message
        return _render(request, template, context, status=409)
    return _render(request, template, context)


def _versions(records, fields) -> list[dict]:
    return [{"id": r.history_id, "at": r.history_date, "who": r.history_user.get_username() if r.history_user else "system",
             "reason": r.history_change_reason or "", "changes": svc.diff(r), "values": {f: getattr(r, f) for f in fields}}
            for r in records[:100]]


def _history_page(request, *, title: str, back: str, records=None, fields=(), stored=None, rollback, versions=None,
                  version: int | None = None):
    """A settings row's versions (who, when, what changed) with rollback to any of them: from its
    django-simple-history records, or the versions the caller picked from them (van costs: where a cost changed)."""
    message, status = "", 200
    if request.method == "POST":
        try:
            rollback(history_id=int(request.POST.get("history_id", "0")), user=request.user,
                     seen_version=int(request.POST.get("version", "-1")))
            return redirect(request.path)
        except (DomainError, ValueError) as e:
            message, status = getattr(e, "message", str(e)), getattr(e, "http_status", 400)
    if versions is None:
        versions = _versions(records.select_related("history_user").order_by("-history_id"), fields)
        version = svc.version_of(stored)
    return render(request, "controltower/settings/history.html", {
        "title": title, "versions": versions, "version": version, "message": message, "back": back,
    }, status=status)


@login_required
def rule_history(request, level: str):
    org = org_for(request, "configure")
    if level not in ServiceLevel.values:
        raise Http404("No such service level.")
    return _history_page(
        request, title=f"{ServiceLevel(level).label} rule", back=f"/settings/service-levels/{level}/", fields=svc.RULE_FIELDS,
        records=ServiceLevelRule.history.filter(organization_id=org, service_level=level),
        stored=ServiceLevelRule.objects.filter(organization_id=org, service_level=level).first(),
        rollback=lambda **kw: svc.rule_rollback(organization_id=org, level=level, **kw))


@login_required
def policy_history(request):
    org = org_for(request, "configure")
    return _history_page(
        request, title="Auto-apply and detection settings", back="/settings/policy/", fields=svc.POLICY_FIELDS,
        records=Policy.history.filter(organization_id=org), stored=Policy.objects.filter(organization_id=org).first(),
        rollback=lambda **kw: svc.policy_rollback(organization_id=org, **kw))


@login_required
@require_POST
def scheduled_cancel(request, pk: int):
    org = org_for(request, "configure")
    try:
        svc.scheduled_cancel(organization_id=org, change_id=pk, user=request.user)
    except ValidationFailed:
        raise Http404("No such scheduled change in your organization.") from None
    except Conflict as e:
        return render(request, "controltower/settings/message.html", {"message": e.message}, status=409)
    return redirect("/settings/?saved=Scheduled change cancelled")


@login_required
def users_page(request):
    """People and API tokens. A new user's password and a new token's secret are shown once."""
    org = org_for(request, "configure")
    context = {"errors": {}, "message": "", "secret": None, "roles": Role.choices, "form": {}}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "invite":
                context["form"] = request.POST
                user, password = people.user_invite(organization_id=org, username=request.POST.get("username", ""),
                                                    email=request.POST.get("email", ""), role=request.POST.get("role", ""), by=request.user)
                context["secret"] = {"what": f"Password for {user.username}", "value": password}
                context["form"] = {}
            elif action == "role":
                people.user_set_role(organization_id=org, user_id=int(request.POST.get("user", "0")), role=request.POST.get("role", ""),
                                     by=request.user)
                context["message"] = "Role changed."
            elif action == "hubs":
                people.user_set_hubs(organization_id=org, user_id=int(request.POST.get("user", "0")),
                                     hub_ids=[int(h) for h in request.POST.getlist("hubs")], by=request.user)
                context["message"] = "Hub scope saved: it applies from their next page or reconnect."
            elif action == "driver":
                people.user_set_driver(organization_id=org, user_id=int(request.POST.get("user", "0")),
                                       driver_id=int(request.POST.get("driver") or 0) or None, by=request.user)
                context["message"] = "Driver linked: the account opens that driver's stops in the driver app (/driver/)."
            elif action in ("deactivate", "activate"):
                people.user_set_active(organization_id=org, user_id=int(request.POST.get("user", "0")), active=action == "activate",
                                       by=request.user)
                context["message"] = "Deactivated: they can no longer sign in." if action == "deactivate" else "Active again."
            elif action == "token":
                name = request.POST.get("name", "").strip()[:100]
                if not name:
                    raise ValidationFailed("Name the token", errors={"name": ["Say what will use it, e.g. 'order import'."]})
                token, secret = token_issue(organization_id=org, name=name)
                context["secret"] = {"what": f"API token {token.name}", "value": secret}
            elif action == "revoke":
                people.token_revoke(organization_id=org, token_id=int(request.POST.get("token", "0")), by=request.user)
                context["message"] = "Token revoked: calls with it are refused from now on."
            else:
                raise ValidationFailed("Unknown action", errors={"action": ["Use invite, role, deactivate, activate, token or revoke."]})
        except ValidationFailed as e:
            context["errors"], context["message"], status = e.errors, e.message, 400
        except Conflict as e:
            context["message"], status = e.message, 409
        except ValueError:
            context["message"], status = "That user or token id is not a number.", 400
    context["users"] = User.objects.filter(organization_id=org, is_superuser=False).prefetch_related("hubs").order_by("username")
    context["hubs"] = Hub.objects.filter(organization_id=org).order_by("code")
    context["drivers"] = Driver.objects.filter(organization_id=org).order_by("code")
    context["tokens"] = ApiToken.objects.filter(organization_id=org).order_by("-created_at")
    context["onfleet_base"] = request.build_absolute_uri("/onfleet/api/v2")
    context["onfleet_secret"] = onfleet_account(org).webhook_secret
    return render(request, "controltower/settings/users.html", context, status=status)


CHANNELS = [("email", "E-mail"), ("sms", "SMS")]


def _sample_order(org: int):
    """The organization's latest order to render a preview with, or a made-up one."""
    order = Order.objects.filter(organization_id=org).order_by("-id").first()
    if order is not None:
        return order
    now = clock.now()
    return Order(organization_id=org, external_ref="SAMPLE-1042", customer_name="Alex Sample", window_start=now + timedelta(hours=2),
                 window_end=now + timedelta(hours=4), eta=now + timedelta(hours=3), instructions="Leave it with the concierge")


@login_required
def templates_page(request):
    org = org_for(request, "configure")
    rows = []
    for kind, label in MessageKind.choices:
        for channel, channel_label in CHANNELS:
            _, _, custom = template_for(org, kind, channel)
            rows.append({"kind": kind, "label": label, "channel": channel, "channel_label": channel_label, "custom": custom})
    return render(request, "controltower/settings/templates.html", {"rows": rows})


@login_required
def template_edit(request, kind: str, channel: str):
    org = org_for(request, "configure")
    if kind not in MessageKind.values or channel not in dict(CHANNELS):
        raise Http404("No such message kind or channel.")
    subject, body, custom = template_for(org, kind, channel)
    context = {"kind": kind, "label": MessageKind(kind).label, "channel": channel, "custom": custom, "subject": subject, "body": body,
               "errors": {}, "preview": None, "message": "", "placeholders": PLACEHOLDERS.items(), "test_to": ""}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "preview")
        subject, body = request.POST.get("subject", ""), request.POST.get("body", "")
        context.update(subject=subject, body=body, test_to=request.POST.get("test_to", ""))
        try:
            if action == "reset":
                template_reset(organization_id=org, kind=kind, channel=channel)
                return redirect("/settings/templates/")
            errors = {f: template_errors(t) for f, t in (("subject", subject), ("body", body)) if template_errors(t)}
            if errors:
                raise ValidationFailed("Check the template", errors=errors)
            context["preview"] = render_template(subject, body, _sample_order(org))
            if action == "save":
                result = svc.template_change(organization_id=org, kind=kind, channel=channel, subject=subject, body=body,
                                             user=request.user, seen_version=int(request.POST.get("version", "-1")),
                                             effective_at=_effective_at(request.POST.get("effective_at", "")),
                                             reason=request.POST.get("reason", ""))
                if isinstance(result, ScheduledChange):
                    return redirect(f"/settings/?saved=Wording scheduled for {timezone.localtime(result.effective_at):%d %b %Y %H:%M}")
                return redirect("/settings/templates/")
            if action == "test":
                to = context["test_to"].strip()
                if not to or (channel == "email" and "@" not in to):
                    raise ValidationFailed("Where to?", errors={"test_to": ["Give an address to send the test to."]})
                try:
                    template_test_send(channel=channel, to=to, subject=context["preview"][0], body=context["preview"][1])
                    context["message"] = f"Test sent to {to}."
                except Exception as exc:  # the mail server's or provider's answer, shown as it is
                    context["message"], status = f"The test could not be sent: {type(exc).__name__}: {exc}"[:300], 502
        except ValidationFailed as e:
            context["errors"], status = e.errors, 400
        except Conflict as e:
            context["message"], status = e.message, 409
        except ValueError:
            context["message"], status = "The form's version is not a number: reload the page.", 400
    seen = request.POST.get("version", "") if request.method == "POST" else ""
    context["version"] = int(seen) if seen.isdigit() else svc.template_version(org, kind, channel)  # the version the admin saw
    context["pending"] = _pending(org, ScheduledChange.Target.TEMPLATE, f"{kind}:{channel}")
    context["effective_at"] = request.POST.get("effective_at", "") if request.method == "POST" else ""
    return render(request, "controltower/settings/template.html", context, status=status)


@login_required
def costs_page(request):
    """Cost rules: what each van costs (per km, per hour, fixed; per van or a whole fleet) and each
    carrier's rate cards with their surcharges (fuel, weight breaks, after hours) and zone surcharges."""
    org = org_for(request, "configure")
    errors, message, status, preview = {}, "", 200, None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if request.POST.get("preview") and action in ("van", "rate"):
                preview = _cost_preview(org, action, int(request.POST.get("id", "0")), request.POST)
            else:
                message = _cost_save(org, action, int(request.POST.get("id", "0")), request)
        except ValidationFailed as e:
            errors, message, status = e.errors, e.message, 400
        except Conflict as e:
            message, status = e.message, 409
        except ValueError:
            errors, message, status = {"id": ["Not a number."]}, "That id is not a number.", 400
    fleets = Fleet.objects.filter(organization_id=org).prefetch_related("vehicles").order_by("name")
    carriers = list(Carrier.objects.filter(organization_id=org).prefetch_related("rates", "zones").order_by("code"))
    vans = [v for fleet in fleets for v in fleet.vehicles.all()]
    for row in [*vans, *[r for c in carriers for r in (*c.rates.all(), *c.zones.all())]]:
        row.version = svc.version_of(row)  # what a save states it saw (a colleague's save in between: 409)
    return render(request, "controltower/settings/costs.html", {"fleets": fleets, "carriers": carriers, "errors": errors,
                                                                "message": message, "preview": preview}, status=status)


def _cost_save(org: int, action: str, pk: int, request) -> str:
    """Save one cost form now or from its effective date; the sentence that confirms it."""
    when = _effective_at(request.POST.get("effective_at", ""))
    common = {"values": request.POST, "user": request.user, "effective_at": when, "reason": request.POST.get("reason", "")}
    seen = int(request.POST.get("version", "-1"))
    if action == "van":
        result = svc.vehicle_costs_set(organization_id=org, vehicle_id=pk, seen_version=seen, **common)
        done = "Van costs saved."
    elif action == "fleet":
        result = svc.vehicle_costs_set(organization_id=org, fleet_id=pk, **common)
        done = f"Costs set on {result} van{'s' if result != 1 else ''} of the fleet." if isinstance(result, int) else ""
    elif action == "rate":
        result = svc.rate_card_set(organization_id=org, rate_id=pk, seen_version=seen, **common)
        done = "Rate card saved; the planner prices with it from now on."
    elif action == "zone":
        result = svc.zone_surcharge_set(organization_id=org, zone_id=pk, seen_version=seen, **common)
        done = "Zone surcharge saved."
    else:
        raise ValidationFailed("Unknown action", errors={"action": ["Use van, fleet, rate or zone."]})
    if isinstance(result, ScheduledChange):
        return f"{result.get_target_display()} scheduled for {timezone.localtime(result.effective_at):%d %b %Y %H:%M}; until then the current one is in force."
    return done


@login_required
def rate_history(request, pk: int):
    org = org_for(request, "configure")
    rate = RateCard.objects.filter(pk=pk, carrier__organization_id=org).select_related("carrier").first()
    if rate is None:
        raise Http404("No such rate card in your organization.")
    return _history_page(
        request, title=f"{rate.carrier.code} {rate.get_service_level_display()} rate card", back="/settings/costs/",
        records=RateCard.history.filter(id=pk), fields=svc.RATE_FORM_FIELDS, stored=rate,
        rollback=lambda **kw: svc.rate_card_rollback(organization_id=org, rate_id=pk, **kw))


@login_required
def zone_history(request, pk: int):
    org = org_for(request, "configure")
    zone = CarrierZone.objects.filter(pk=pk, carrier__organization_id=org).select_related("carrier").first()
    if zone is None:
        raise Http404("No such zone in your organization.")
    return _history_page(
        request, title=f"{zone.carrier.code} zone {zone.name} surcharge", back="/settings/costs/",
        records=CarrierZone.history.filter(id=pk), fields=("surcharge",), stored=zone,
        rollback=lambda **kw: svc.zone_surcharge_rollback(organization_id=org, zone_id=pk, **kw))


@login_required
def van_cost_history(request, pk: int):
    """A van's cost versions (django-simple-history, like every setting) with rollback to any of them."""
    org = org_for(request, "configure")
    van = Vehicle.objects.filter(pk=pk, organization_id=org).first()
    if van is None:
        raise Http404("No such van in your organization.")
    return _history_page(
        request, title=f"Van {van.code} costs", back="/settings/costs/",
        versions=_versions(svc.vehicle_cost_versions(organization_id=org, vehicle_id=pk), Vehicle.COST_FIELDS),
        version=svc.version_of(van),
        rollback=lambda **kw: svc.vehicle_costs_rollback(organization_id=org, vehicle_id=pk, **kw))


@login_required
def template_history(request, kind: str, channel: str):
    org = org_for(request, "configure")
    if kind not in MessageKind.values or channel not in dict(CHANNELS):
        raise Http404("No such message kind or channel.")
    records = MessageTemplate.history.filter(organization_id=org, kind=kind, channel=channel)
    return _history_page(
        request, title=f"{MessageKind(kind).label} ({dict(CHANNELS)[channel]}) wording", back=f"/settings/templates/{kind}/{channel}/",
        versions=_versions(records.select_related("history_user").order_by("-history_id"), ("subject", "body")),
        version=svc.template_version(org, kind, channel),
        rollback=lambda **kw: svc.template_rollback(organization_id=org, kind=kind, channel=channel, **kw))


def _cost_preview(org: int, action: str, pk: int, values) -> dict:
    """What a van's or a rate card's new costs would do to today's plan (nothing is saved)."""
    if action == "van":
        if not Vehicle.objects.filter(organization_id=org, pk=pk).exists():
            raise ValidationFailed("No such van", errors={"vehicle": ["Not one of your organization's."]})
        key, clean, what = ("vehicle", pk), svc.clean_vehicle_costs(values), Vehicle.objects.get(pk=pk).code
    else:
        rate = RateCard.objects.filter(carrier__organization_id=org, pk=pk).select_related("carrier").first()
        if rate is None:
            raise ValidationFailed("No such rate card", errors={"rate": ["Not one of your organization's."]})
        key, clean, what = ("rate", pk), svc.clean_rate_card(values), f"{rate.carrier.code} {rate.get_service_level_display()}"
    return {"what": what, **preview_cost_change(organization_id=org, costs={key: clean})}


@login_required
def travel_page(request):
    """What the product learned about travel from the organization's own vans: per hub and hour of
    the day, how much longer than the travel model a leg really takes, from how many legs, and
    what it does to an ETA; each figure's versions."""
    org = org_for(request, "configure")
    rows = list(travel_factor_rows(organization_id=org))
    hubs: dict[str, dict] = {}
    for row in rows:
        hub = hubs.setdefault(row.hub.code, {"hub": row.hub, "overall": None, "hours": [], "areas": []})
        if row.hour == ANY_HOUR:
            hub["overall"] = row
        else:
            hub["hours"].append(row)
    for row in area_factor_rows(organization_id=org):
        hubs.setdefault(row.hub.code, {"hub": row.hub, "overall": None, "hours": [], "areas": []})["areas"].append(row)
    today = van_pace_detail(organization_id=org)
    paces = today.get("pace", {})
    vans = [{"van": v, "pace": paces[v.pk], "legs": today["legs"].get(v.pk, 0)}
            for v in Vehicle.objects.filter(organization_id=org, pk__in=list(paces)).order_by("code")]
    return render(request, "controltower/settings/travel.html",
                  {"hubs": list(hubs.values()), "any_hour": ANY_HOUR, "vans": vans, "vans_at": today.get("at"), "area_km": AREA_KM})


@login_required
def travel_history(request, pk: int):
    org = org_for(request, "configure")
    found = travel_factor_versions(organization_id=org, factor_id=pk)
    if found is None:
        raise Http404("No such learned figure in your organization.")
    row, versions = found
    when = "all day" if row.hour == ANY_HOUR else f"{row.hour:02d}:00-{row.hour:02d}:59"
    return render(request, "controltower/settings/travel_history.html", {"row": row, "when": when, "versions": versions})

