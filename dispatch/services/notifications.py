"""Customer updates: once per meaningful change (booked, out for delivery, new ETA beyond the
tolerance, delayed, failed with next steps, delivered), by e-mail over SMTP, or SMS through a
provider. The unique (order, kind, key) row is the idempotency key: a change is told once."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.template import Context, Template, TemplateSyntaxError
from django.template.base import Lexer, TokenType
from django.utils import timezone

from controltower import hooks, jobs
from dispatch import clock
from dispatch.errors import ValidationFailed
from dispatch.models import CustomerMessage, MessageTemplate, Order
from dispatch.status import MessageKind

from .sms import sms_provider

DEFAULTS = {
    MessageKind.BOOKED: ("Your order {{ ref }} is scheduled",
                         "Hello {{ name }},\n\nyour order {{ ref }} is on its way to you between {{ window }}.{% if eta %} We expect to arrive around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.OUT_FOR_DELIVERY: ("Your order {{ ref }} is out for delivery",
                                   "Hello {{ name }},\n\nyour order {{ ref }} is out for delivery.{% if eta %} Expected around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.NEW_ETA: ("New arrival time for {{ ref }}",
                          "Hello {{ name }},\n\nwe now expect to deliver {{ ref }} around {{ eta }}.\nTrack it: {{ tracking_url }}\n"),
    MessageKind.DELAYED: ("Your order {{ ref }} is delayed",
                          "Hello {{ name }},\n\nwe are sorry: {{ ref }} will arrive after your window ({{ window }}).{% if eta %} We now expect around {{ eta }}.{% endif %}\nTrack it: {{ tracking_url }}\n"),
    MessageKind.FAILED: ("We missed you: {{ ref }}",
                         "Hello {{ name }},\n\nwe could not deliver {{ ref }} ({{ reason }}). We will try again and tell you when; you can also reply to this message to choose another time.\nTrack it: {{ tracking_url }}\n"),
    MessageKind.DELIVERED: ("Delivered: {{ ref }}", "Hello {{ name }},\n\nyour order {{ ref }} was delivered at {{ delivered }}. Thank you!\n"),
    MessageKind.UPDATED: ("Change confirmed: {{ ref }}",
                          "Hello {{ name }},\n\nwe have your change to {{ ref }}: delivery between {{ window }}.{% if instructions %} Instructions: {{ instructions }}.{% endif %} We will tell you when it is on its way.\nTrack it: {{ tracking_url }}\n"),
}

STATUS_MESSAGES = {"booked": MessageKind.BOOKED, "assigned": MessageKind.BOOKED, "out_for_delivery": MessageKind.OUT_FOR_DELIVERY,
                   "failed": MessageKind.FAILED, "delivered": MessageKind.DELIVERED}


def _hm(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%H:%M") if value else ""


PLACEHOLDERS = {
    "ref": "the order's reference", "name": "the customer's first name", "window": "the delivery window (10:00 and 12:00)",
    "eta": "the expected arrival time", "delivered": "when it was delivered", "reason": "why a delivery failed",
    "tracking_url": "the tracking page", "instructions": "the customer's delivery instructions",
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
        "instructions": order.instructions,
    }, autoescape=False)


def template_for(organization_id: int, kind: str, channel: str) -> tuple[str, str, bool]:
    """(subject, body, custom?) in force for a kind and channel: the organization's, else the default."""
    custom = MessageTemplate.objects.filter(organization_id=organization_id, kind=kind, channel=channel).first()
    if custom:
        return custom.subject, custom.body, True
    subject, body = DEFAULTS[kind]
    return subject, body, False


def render_template(subject: str, body: str, order: Order) -> tuple[str, str]:
    ctx = _context(order)
    return Template(subject).render(ctx).strip(), Template(body).render(ctx)


def _render(order: Order, kind: str, channel: str = "email") -> tuple[str, str]:
    subject, body, _ = template_for(order.organization_id, kind, channel)
    return render_template(subject, body, order)


def template_test_send(*, channel: str, to: str, subject: str, body: str) -> None:
    """Send a rendered template to an address the admin gave (not recorded as a customer message).
    Raises on failure, for the page to show."""
    if channel == "email":
        with get_connection(timeout=10) as connection:
            EmailMessage(f"[test] {subject}", body, settings.DEFAULT_FROM_EMAIL, [to], connection=connection).send()
        return
    provider = sms_provider()
    if provider is None:
        raise RuntimeError("No SMS provider is configured for this installation.")
    provider.send(to=to, text=f"{subject}. {body}" if subject else body)


def notify(*, order: Order, kind: str, key: str) -> CustomerMessage | None:
    """Record the message (once per order, kind and key) and send it after commit."""
    channel, to = ("email", order.customer_email) if order.customer_email else ("sms", order.customer_phone)
    if not to:
        return None
    subject, body = _render(order, kind, channel)
    try:
        with transaction.atomic():
            message = CustomerMessage.objects.create(organization_id=order.organization_id, order=order, kind=kind, key=key[:100],
                                                     channel=channel, to=to, subject=subject, body=body,
                                                     eta=order.eta)
    except IntegrityError:
        return None  # this change was told already
    jobs.enqueue("dispatch.tasks.send_customer_message", message.id)
    return message


def notify_status(*, order: Order) -> None:
    kind = STATUS_MESSAGES.get(order.status)
    if kind:
        notify(order=order, kind=kind, key=f"{order.status}:{order.version}" if kind == MessageKind.FAILED else order.status)


def notify_eta(*, order: Order, tolerance_min: int) -> None:
    """Tell the customer when the ETA moved beyond the tolerance from the last ETA we stated, and
    when the order will miss its window."""
    if order.eta is None or order.status not in ("assigned", "booked", "picked_up", "out_for_delivery"):
        return
    if order.eta > order.window_end:
        notify(order=order, kind=MessageKind.DELAYED, key="late")
        return
    stated = order.messages.exclude(eta__isnull=True).order_by("-id").values_list("eta", flat=True).first()
    if stated is not None and abs((order.eta - stated).total_seconds()) > tolerance_min * 60:
        if notify(order=order, kind=MessageKind.NEW_ETA, key=order.eta.replace(second=0, microsecond=0).isoformat()):
            hooks.emit("integrator.event", organization_id=order.organization_id, event_type="order.eta",
                 data={"order": order.external_ref, "eta": order.eta.isoformat(), "previous": stated.isoformat()})


def message_send(*, message_id: int) -> str:
    """Deliver one message. Returns 'sent', 'skipped', 'failed', 'unconfirmed' or 'retry'.

    The message is claimed ('sending') in its own transaction, sent with no transaction open (no
    row lock held while a mail server or provider takes its time), then marked. A worker that dies
    between the claim and the mark leaves it 'sending': the provider may have accepted it, so it is
    never sent again (a customer gets one message per change, never two); it is marked
    'unconfirmed' for a person to check the mail log."""
    with transaction.atomic():
        message = CustomerMessage.objects.select_for_update().get(pk=message_id)
        if message.status == "sending":
            message.status = "unconfirmed"
            message.error = "A worker stopped while sending; the provider may have accepted it. Not sent again."
            message.save(update_fields=["status", "error"])
            return message.status
        if message.status != "pending":
            return message.status
        message.attempts += 1
        message.status = "sending"
        message.save(update_fields=["attempts", "status"])
    error = ""
    try:
        if message.channel == "email":
            with get_connection(timeout=10) as connection:
                EmailMessage(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, [message.to], connection=connection,
                             headers={"Message-ID": f"<ct-{message.id}-{message.kind}@{settings.DEFAULT_FROM_EMAIL.split('@')[-1]}>"}).send()
        else:
            provider = sms_provider()
            if provider is None:
                CustomerMessage.objects.filter(pk=message.pk).update(status="skipped", error="No SMS provider configured")
                return "skipped"
            provider.send(to=message.to, text=f"{message.subject}. {message.body}")
    except Exception as exc:  # SMTP or provider failure: nothing was accepted; retried with backoff, then given up
        error = f"{type(exc).__name__}: {exc}"[:300]
    with transaction.atomic():
        message = CustomerMessage.objects.select_for_update().get(pk=message_id)
        if error:
            message.error = error
            message.status = "failed" if message.attempts >= 5 else "pending"
            message.save(update_fields=["error", "status"])
            return "failed" if message.status == "failed" else "retry"
        message.status, message.sent_at, message.error = "sent", clock.now(), ""
        message.save(update_fields=["status", "sent_at", "error"])
        return "sent"


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
    template = MessageTemplate.objects.filter(organization_id=organization_id, kind=kind, channel=channel).first() \
        or MessageTemplate(organization_id=organization_id, kind=kind, channel=channel)
    template.subject, template.body = subject, body
    template._history_user = user
    template._change_reason = reason[:100] or "edited"
    template.save()
    return template


def template_reset(*, organization_id: int, kind: str, channel: str) -> None:
    """Back to the product's wording (the history keeps the organization's)."""
    MessageTemplate.objects.filter(organization_id=organization_id, kind=kind, channel=channel).delete()
