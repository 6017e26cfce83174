"""The wording of customer messages: the product's defaults, an organization's own (validated: only
the placeholders, filters and tags messages fill), versioned, and how a wording renders for an order."""

from __future__ import annotations

import functools
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.template import Context, Template, TemplateSyntaxError
from django.template.base import Lexer, TokenType
from django.utils import timezone

from dispatch.errors import ValidationFailed
from dispatch.models import MessageTemplate, Order, Organization, ScheduledChange
from dispatch.selectors import organization_zone, scoped, van_nearness
from dispatch.status import MessageKind

from .versions import later, schedule, stale

DEFAULTS = {
    MessageKind.BOOKED: ("Your order {{ ref }} is scheduled",
                         "Hello {{ name }},\n\nyour order {{ ref }} will be delivered by {{ by }} between {{ window }}.{% if eta %} We expect to arrive around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.OUT_FOR_DELIVERY: ("Your order {{ ref }} is out for delivery",
                                   "Hello {{ name }},\n\nyour order {{ ref }} is out for delivery.{% if eta %} Expected around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.NEW_ETA: ("New arrival time for {{ ref }}",
                          "Hello {{ name }},\n\nwe now expect to deliver {{ ref }} around {{ eta }}.\nTrack it: {{ tracking_url }}\n"),
    MessageKind.DELAYED: ("Your order {{ ref }} is delayed",
                          "Hello {{ name }},\n\nwe are sorry: {{ ref }} will arrive after your window ({{ window }}).{% if eta %} We now expect around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.FAILED: ("We missed you: {{ ref }}",
                         "Hello {{ name }},\n\nwe could not deliver {{ ref }} ({{ reason }}). We will try again and tell you when; you can also reply to this message to choose another time.\nTrack it: {{ tracking_url }}\n"),
    MessageKind.DELIVERED: ("Delivered: {{ ref }}", "Hello {{ name }},\n\nyour order {{ ref }} was delivered at {{ delivered }}. Thank you!\n"),
    MessageKind.NEARBY: ("Your driver is nearly there: {{ ref }}",
                         "Hello {{ name }},\n\nyour driver has {% if stops_before %}{{ stops_before }} stop(s) before yours{% else %}you as the next stop{% endif %} and is about {{ distance_km }} km away.{% if eta %} Expect them around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.UPDATED: ("Change confirmed: {{ ref }}",
                          "Hello {{ name }},\n\nwe have your change to {{ ref }}: delivery between {{ window }}.{% if instructions %} Instructions: {{ instructions }}.{% endif %} We will tell you when it is on its way.\nTrack it: {{ tracking_url }}\n"),
}


def _hm(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%H:%M") if value else ""


PLACEHOLDERS = {
    "ref": "the order's reference", "name": "the customer's first name", "window": "the delivery window (10:00 and 12:00)",
    "eta": "the expected arrival time", "delivered": "when it was delivered", "reason": "why a delivery failed",
    "tracking_url": "the tracking page", "instructions": "the customer's delivery instructions",
    "by": "who delivers it (the carrier's name, or our own delivery team)",
    "stops_before": "how many stops the driver has before this one (when the van is near)",
    "distance_km": "how far the van is, in km (when the van is near)",
}


SAFE_FILTERS = {"default", "upper", "lower", "title", "capfirst"}


SAFE_TAGS = {"if", "elif", "else", "endif"}


def template_errors(text: str) -> list[str]:
    """What is wrong with a message template: syntax, a placeholder we do not fill, a filter or tag
    outside the small set messages need. Empty when it is fine."""
    errors = []
    for token in Lexer(text).tokenize():
        if token.token_type == TokenType.VAR:
            name, *filters = [part.split(":")[0].strip() for part in token.contents.split("|")]
            if name not in PLACEHOLDERS:
                errors.append(f"Unknown placeholder {{{{ {name} }}}}: use one of {', '.join(PLACEHOLDERS)}.")
            errors += [f"Filter {f!r} is not available in messages." for f in filters if f not in SAFE_FILTERS]
        elif token.token_type == TokenType.BLOCK:
            parts = token.contents.split()
            if not parts or parts[0] not in SAFE_TAGS:
                errors.append(f"{{% {token.contents} %}} is not available in messages: use {{% if %}} … {{% endif %}} only.")
            else:
                errors += [f"Unknown placeholder {w!r} in {{% {token.contents} %}}." for w in parts[1:]
                           if w.isidentifier() and w not in PLACEHOLDERS and w not in ("not", "and", "or")]
    if not errors:
        try:
            Template(text)
        except TemplateSyntaxError as exc:
            errors.append(f"Template syntax: {exc}")
    return errors


def _context(order: Order) -> Context:
    return Context({
        "ref": order.external_ref, "name": order.customer_name.split(" ")[0] if order.customer_name else "there",
        "window": f"{_hm(order.window_start)} and {_hm(order.window_end)}", "eta": _hm(order.eta),
        "delivered": _hm(order.delivered_at), "reason": order.get_failure_reason_display().lower() if order.failure_reason else "",
        "tracking_url": f"{settings.PUBLIC_BASE_URL}/track/{order.tracking_token}/",
        "instructions": order.instructions, "by": _by(order), **_nearness(order),
    }, autoescape=False)


def _nearness(order: Order) -> dict:
    """How many stops the van has before this order and how far it is, looked up only when a
    template uses them (the template engine calls these; other messages cost no query)."""
    near = functools.cache(lambda: van_nearness(order))
    return {"stops_before": lambda: near()[0] if near() else "",
            "distance_km": lambda: f"{near()[1]:.1f}" if near() else ""}


def _by(order: Order) -> str:
    return order.carrier.name if order.carrier_id else "our own delivery team"


def template_for(organization_id: int, kind: str, channel: str) -> tuple[str, str, bool]:
    """(subject, body, custom?) in force for a kind and channel: the organization's, else the default."""
    custom = scoped(("template", organization_id, kind, channel),
                    lambda: MessageTemplate.objects.filter(organization_id=organization_id, kind=kind, channel=channel).first())
    if custom:
        return custom.subject, custom.body, True
    subject, body = DEFAULTS[kind]
    return subject, body, False


def render_template(subject: str, body: str, order: Order) -> tuple[str, str]:
    """The wording for one order, its times in the order's organization's time zone."""
    with timezone.override(organization_zone(order.organization_id)):
        ctx = _context(order)
        return Template(subject).render(ctx).strip(), Template(body).render(ctx)


def template_clean(*, kind: str, channel: str, subject: str, body: str) -> None:
    """ValidationFailed naming each field if this wording cannot be stored for this kind and channel."""
    errors = {}
    if kind not in MessageKind.values:
        errors["kind"] = [f"Use one of {', '.join(MessageKind.values)}."]
    if channel not in ("email", "sms"):
        errors["channel"] = ["Use email or sms."]
    if channel == "email" and not subject.strip():
        errors["subject"] = ["An e-mail needs a subject."]
    if len(subject) > 300:
        errors["subject"] = ["At most 300 characters."]
    if not body.strip():
        errors["body"] = ["Write the message."]
    elif len(body) > (480 if channel == "sms" else 5000):
        errors["body"] = [f"At most {480 if channel == 'sms' else 5000} characters for {channel}."]
    for field, text in (("subject", subject), ("body", body)):
        problems = template_errors(text)
        if problems:
            errors.setdefault(field, []).extend(problems)
    if errors:
        raise ValidationFailed("Check the template", errors=errors)


def template_save(*, organization_id: int, kind: str, channel: str, subject: str, body: str, user,
                  reason: str = "") -> MessageTemplate:
    """Validate and store the organization's wording for one kind and channel (versioned)."""
    template_clean(kind=kind, channel=channel, subject=subject, body=body)
    template = MessageTemplate.objects.filter(organization_id=organization_id, kind=kind, channel=channel).first()
    if template is None:  # the product's wording in force until now is the first version (a roll back can return to it)
        default_subject, default_body = DEFAULTS[kind]
        template = MessageTemplate(organization_id=organization_id, kind=kind, channel=channel, subject=default_subject,
                                   body=default_body)
        template._change_reason = "the product's wording, in force before the first edit"
        template._history_user = None  # nobody chose it
        template.save()
    template.subject, template.body = subject, body
    template._history_user = user
    template._change_reason = reason[:100] or "edited"
    template.save()
    return template


def template_reset(*, organization_id: int, kind: str, channel: str) -> None:
    """Back to the product's wording (the history keeps the organization's)."""
    MessageTemplate.objects.filter(organization_id=organization_id, kind=kind, channel=channel).delete()


def template_version(organization_id: int, kind: str, channel: str) -> int:
    """The latest history record of one kind and channel's wording (a reset to the product's wording included)."""
    return (MessageTemplate.history.filter(organization_id=organization_id, kind=kind, channel=channel)
            .order_by("-history_id").values_list("history_id", flat=True).first() or 0)


@transaction.atomic
def template_change(*, organization_id: int, kind: str, channel: str, subject: str, body: str, user,
                    seen_version: int | None = None, effective_at: datetime | None = None,
                    reason: str = "") -> MessageTemplate | ScheduledChange:
    """Store the organization's wording now or from a later moment (validated either way)."""
    template_clean(kind=kind, channel=channel, subject=subject, body=body)
    Organization.objects.select_for_update().filter(pk=organization_id).first()  # one editor of the wording at a time
    if seen_version is not None:
        stale(seen_version, template_version(organization_id, kind, channel), "message wording")
    if later(effective_at):
        return schedule(organization_id=organization_id, target=ScheduledChange.Target.TEMPLATE, key=f"{kind}:{channel}",
                         values={"subject": subject, "body": body}, effective_at=effective_at, user=user, reason=reason)
    return template_save(organization_id=organization_id, kind=kind, channel=channel, subject=subject, body=body, user=user,
                         reason=reason)


def template_rollback(*, organization_id: int, kind: str, channel: str, history_id: int, user, seen_version: int) -> MessageTemplate:
    record = MessageTemplate.history.filter(organization_id=organization_id, kind=kind, channel=channel, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of this wording."]})
    return template_change(organization_id=organization_id, kind=kind, channel=channel, subject=record.subject, body=record.body,
                           user=user, seen_version=seen_version, reason=f"rolled back to version {history_id}")
