"""Customer updates: once per meaningful change (booked, out for delivery, new ETA beyond the
tolerance, delayed, failed with next steps, delivered), by e-mail over SMTP, or SMS through a
provider. The unique (order, kind, key) row is the idempotency key: a change is told once."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.template import Context, Template

from controltower import hooks, jobs
from dispatch import clock
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
    from django.utils import timezone

    return timezone.localtime(value).strftime("%H:%M") if value else ""


def _render(order: Order, kind: str) -> tuple[str, str]:
    custom = MessageTemplate.objects.filter(organization_id=order.organization_id, kind=kind).first()
    subject, body = (custom.subject, custom.body) if custom else DEFAULTS[kind]
    ctx = Context({
        "ref": order.external_ref, "name": order.customer_name.split(" ")[0] if order.customer_name else "there",
        "window": f"{_hm(order.window_start)} and {_hm(order.window_end)}", "eta": _hm(order.eta),
        "delivered": _hm(order.delivered_at), "reason": order.get_failure_reason_display().lower() if order.failure_reason else "",
        "tracking_url": f"{settings.PUBLIC_BASE_URL}/track/{order.tracking_token}/",
        "instructions": order.instructions,
    }, autoescape=False)
    return Template(subject).render(ctx).strip(), Template(body).render(ctx)


def notify(*, order: Order, kind: str, key: str) -> CustomerMessage | None:
    """Record the message (once per order, kind and key) and send it after commit."""
    channel, to = ("email", order.customer_email) if order.customer_email else ("sms", order.customer_phone)
    if not to:
        return None
    subject, body = _render(order, kind)
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
