"""Customer messages, the engine's last step: once per meaningful change (booked, out for delivery, new
ETA beyond the tolerance, delayed, failed with next steps, delivered), by e-mail over SMTP, or SMS
through a provider. The unique (order, kind, key) row is the idempotency key: a change is told once.
The domain records what changed (dispatch.facts); the handlers at the end of this module, subscribed
in EngineConfig.ready, decide what the customer is told."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction

from dispatch import clock, ports
from dispatch.configuration.templates import render_template, template_for
from dispatch.facts import IntegratorEvent, OrderDetailsChanged, OrderEtaChanged, OrderStatusChanged, VanApproaching
from dispatch.models import CustomerMessage, Order
from dispatch.scope import current, within
from dispatch.selectors import policy_for
from dispatch.services import ActorRef
from dispatch.services.log import event_record
from dispatch.services.sms import sms_provider
from dispatch.status import MessageKind
from infra import facts

STATUS_MESSAGES = {"booked": MessageKind.BOOKED, "assigned": MessageKind.BOOKED, "out_for_delivery": MessageKind.OUT_FOR_DELIVERY,
                   "failed": MessageKind.FAILED, "delivered": MessageKind.DELIVERED}


def _told_by(key: str) -> str:
    """Who a booked message named, from its key ("by:carrier:7:2" -> "carrier:7")."""
    return ":".join(key.split(":")[1:-1])


def _resource(order: Order) -> str:
    """Who delivers it, as the customer sees it: one carrier, or our own vans (whichever van)."""
    return f"carrier:{order.carrier_id}" if order.carrier_id else "fleet"


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


# When several things happen to an order within its change window, the message that goes says the
# most significant of them, rendered from the order's state when it goes.
RANK = {MessageKind.NEW_ETA: 1, MessageKind.BOOKED: 2, MessageKind.UPDATED: 3, MessageKind.OUT_FOR_DELIVERY: 4,
        MessageKind.NEARBY: 5, MessageKind.DELAYED: 6, MessageKind.FAILED: 7, MessageKind.DELIVERED: 8}


OUTCOMES = ("delivered", "failed", "returned", "cancelled")


TOLD = ("pending", "sending", "sent", "unconfirmed")
SENT = ("sent", "unconfirmed")

# What the customer is told about the estimate. A van's estimate moves with every re-plan and every
# ping; the customer hears of it only once a change has held (ESTIMATE_SETTLE_S of product time,
# checked again when the message goes) and at most once per ESTIMATE_QUIET_S, and the message says
# what is true when it goes: late, or the new time.
ESTIMATES = (MessageKind.NEW_ETA, MessageKind.DELAYED)


def _send_after(order: Order, kind: str, now: datetime) -> datetime:
    at = max(now, (current().messages_from or now) + timedelta(seconds=settings.CUSTOMER_MESSAGE_WINDOW_S))
    if kind in ESTIMATES:
        at = max(at, now + timedelta(seconds=settings.ESTIMATE_SETTLE_S))
        last = (order.messages.filter(kind__in=ESTIMATES, status__in=SENT, sent_at__isnull=False)
                .order_by("-sent_at").values_list("sent_at", flat=True).first())
        if last is not None:
            at = max(at, last + timedelta(seconds=settings.ESTIMATE_QUIET_S))
    return at


def messages_window_from(at: datetime):
    """Changes made inside this `with` block are one piece of work that began at `at` (a decision
    being applied, its bookings made one after another): their messages wait for the change window
    counted from `at`, not from each change, so the last customer of a long piece of work is not
    told a window later than the first."""
    return within(messages_from=at)


def notify(*, order: Order, kind: str, key: str) -> CustomerMessage | None:
    """Tell the customer about a change: once per order, kind and key, and coalesced: a change
    while an earlier message of the order still waits for its window's end folds into one message
    (the more significant kind; rendered with the final state when it goes). Sent after commit."""
    channel, to = ("email", order.customer_email) if order.customer_email else ("sms", order.customer_phone)
    if not to:
        return None
    now = clock.now()
    # No savepoint of its own inside a caller's transaction (a decision applied to 200 orders makes
    # one per order): nothing here is recovered from but the insert's conflict, which has its own.
    with transaction.atomic(savepoint=False):
        waiting = CustomerMessage.objects.select_for_update().filter(order=order, status="pending").order_by("-id").first()
        # An estimate folds into any message waiting (which goes with the estimate as it is then).
        if waiting is not None and kind != MessageKind.FAILED and (
                RANK[waiting.kind] >= RANK[kind] or (kind in ESTIMATES and waiting.kind not in ESTIMATES)):
            if waiting.kind == kind == MessageKind.BOOKED and waiting.key != key:  # it will name who delivers it now
                try:
                    with transaction.atomic():
                        CustomerMessage.objects.filter(pk=waiting.pk).update(key=key[:100])
                except IntegrityError:
                    pass
            return waiting  # it goes with this change in it
        subject, body = _render(order, kind, channel)
        try:
            with transaction.atomic():
                message = CustomerMessage.objects.create(
                    organization_id=order.organization_id, order=order, kind=kind, key=key[:100], channel=channel, to=to,
                    subject=subject, body=body, eta=order.eta,
                    # what is not an estimate does not wait for an estimate to settle
                    send_after=waiting.send_after if waiting and (waiting.kind not in ESTIMATES or kind in ESTIMATES)
                    else _send_after(order, kind, now))
        except IntegrityError:
            return None  # this change was told already
        if waiting is not None:
            CustomerMessage.objects.filter(pk=waiting.pk).update(status="superseded", error=f"Told in message {message.id}")
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Tasks in-process keep no countdown: a message due now goes at commit; a later one is
        # left to the beat's every-few-seconds send rather than a useless run now.
        if message.send_after <= now:
            ports.SEND_DUE_MESSAGES.start()
    else:
        # Sent by a worker: one send for every message due in the same second, at that second's end
        # (on this process's clock: the countdown is counted when the change commits, and a decision
        # applied in one long transaction would otherwise send its messages that much later).
        second = int(message.send_after.timestamp()) + 1
        ports.SEND_DUE_MESSAGES.start(at=time.time() + max(0.0, second - now.timestamp()), once_per=str(second))
    return message


def notify_status(*, order: Order) -> None:
    kind = STATUS_MESSAGES.get(order.status)
    if kind == MessageKind.BOOKED:
        # Told when who delivers it changes (a carrier, another carrier, our vans), not per van.
        told = [k for k in order.messages.filter(kind=kind, status__in=TOLD).order_by("-id").values_list("key", flat=True)]
        if told and _told_by(told[0]) == _resource(order):
            return
        notify(order=order, kind=kind, key=f"by:{_resource(order)}:{len(told)}")
    elif kind:
        notify(order=order, kind=kind, key=f"{order.status}:{order.version}" if kind == MessageKind.FAILED else order.status)


def notify_eta(*, order: Order, tolerance_min: int) -> None:
    """Tell the customer when the order will miss its window, and when the ETA moved beyond the
    tolerance from the last ETA we stated (or is back in the window after a delay was told). The
    message waits for the change to hold (_send_after) and is checked again when it goes (_claim)."""
    if order.eta is None or order.status not in ("assigned", "booked", "picked_up", "out_for_delivery"):
        return
    stated = order.messages.filter(status__in=TOLD).exclude(eta__isnull=True).order_by("-id").values_list("kind", "eta").first()
    minute = order.eta.replace(second=0, microsecond=0).isoformat()

    def key() -> str:  # the same estimate can be news again later: its key counts the estimates before it
        return f"{minute}:{order.messages.filter(kind__in=ESTIMATES).count()}"

    if order.eta > order.window_end:
        if stated is None or stated[0] != MessageKind.DELAYED or abs((order.eta - stated[1]).total_seconds()) > tolerance_min * 60:
            notify(order=order, kind=MessageKind.DELAYED, key=f"late:{key()}")
            facts.record(IntegratorEvent(organization_id=order.organization_id, event_type="order.delayed",
                                         data={"order": order.external_ref, "eta": order.eta.isoformat(),
                                               "window_end": order.window_end.isoformat()}))
        return
    if stated is not None and (stated[0] == MessageKind.DELAYED or abs((order.eta - stated[1]).total_seconds()) > tolerance_min * 60):
        if notify(order=order, kind=MessageKind.NEW_ETA, key=key()):
            facts.record(IntegratorEvent(organization_id=order.organization_id, event_type="order.eta",
                                         data={"order": order.external_ref, "eta": order.eta.isoformat(),
                                               "previous": stated[1].isoformat()}))


def _estimate_kind(order: Order) -> str:
    """What an estimate message says when it goes: late, or a new time."""
    return MessageKind.DELAYED if order.eta is not None and order.eta > order.window_end else MessageKind.NEW_ETA


def _no_longer_true(message: CustomerMessage, order: Order) -> str:
    """Why a waiting message would now contradict what the order is or what the customer was told,
    or tell them nothing new (empty if it still holds)."""
    if message.kind in (MessageKind.BOOKED, MessageKind.NEW_ETA, MessageKind.DELAYED, MessageKind.OUT_FOR_DELIVERY,
                        MessageKind.UPDATED, MessageKind.NEARBY) and order.status in OUTCOMES:
        return "The order reached its outcome first; that is what the customer is told."
    told = order.messages.filter(status__in=SENT).exclude(pk=message.pk).order_by("-id")
    if message.kind in ESTIMATES:
        if order.eta is None:
            return "The order has no estimate now; the customer hears when it has one."
        last = told.exclude(eta__isnull=True).values_list("kind", "eta").first()
        tolerance = policy_for(order.organization_id).eta_tolerance_min
        if last is not None and (last[0] == MessageKind.DELAYED) == (message.kind == MessageKind.DELAYED) \
                and abs((order.eta - last[1]).total_seconds()) <= tolerance * 60:
            return "The estimate is back to what the customer was told."
    if message.kind == MessageKind.BOOKED:
        last = told.filter(kind=MessageKind.BOOKED).values_list("key", flat=True).first()
        if last is not None and _told_by(last) == _resource(order):
            return "It is back with who the customer was told."
    return ""


def _claim(messages) -> list[CustomerMessage]:
    """In one transaction: take the given pending messages for sending, rendered with the order's
    state now; skip the ones no longer true. A message found 'sending' was being sent by a worker
    that died: the provider may have accepted it, so it is never sent again ('unconfirmed')."""
    claimed = []
    with transaction.atomic():
        for message in messages.select_for_update(skip_locked=True, of=("self",)).select_related("order", "order__carrier"):
            if message.status == "sending":
                message.status = "unconfirmed"
                message.error = "A worker stopped while sending; the provider may have accepted it. Not sent again."
                message.save(update_fields=["status", "error"])
                continue
            if message.status != "pending":
                continue
            if message.kind in ESTIMATES and _estimate_kind(message.order) != message.kind:
                message.kind = _estimate_kind(message.order)  # late after all, or back in the window
                message.key = f"{message.key}#{message.id}"[:100]
                message.save(update_fields=["kind", "key"])
            why = _no_longer_true(message, message.order)
            if why:
                message.status, message.error = "skipped", why
                message.save(update_fields=["status", "error"])
                continue
            message.subject, message.body = _render(message.order, message.kind, message.channel)
            message.eta = message.order.eta
            message.attempts += 1
            message.status = "sending"
            message.save(update_fields=["subject", "body", "eta", "attempts", "status"])
            claimed.append(message)
    return claimed


def _deliver(messages: list[CustomerMessage]) -> dict[int, str]:
    """Send with no transaction open (no row lock held while a mail server takes its time); e-mails
    over one SMTP connection. Returns message id -> error ('' when accepted)."""
    errors = {}
    emails = [m for m in messages if m.channel == "email"]
    if emails:
        try:
            with get_connection(timeout=10) as connection:
                for m in emails:
                    try:
                        EmailMessage(m.subject, m.body, settings.DEFAULT_FROM_EMAIL, [m.to], connection=connection,
                                     headers={"Message-ID": f"<ct-{m.id}-{m.kind}@{settings.DEFAULT_FROM_EMAIL.split('@')[-1]}>"}).send()
                        errors[m.id] = ""
                    except Exception as exc:  # this recipient refused; the others go on
                        errors[m.id] = f"{type(exc).__name__}: {exc}"[:300]
        except Exception as exc:  # the server could not be reached: none of those not yet sent was accepted
            for m in emails:
                errors.setdefault(m.id, f"{type(exc).__name__}: {exc}"[:300])
    for m in [m for m in messages if m.channel != "email"]:
        provider = sms_provider()
        if provider is None:
            errors[m.id] = "skip: No SMS provider configured"
            continue
        try:
            provider.send(to=m.to, text=f"{m.subject}. {m.body}")
            errors[m.id] = ""
        except Exception as exc:
            errors[m.id] = f"{type(exc).__name__}: {exc}"[:300]
    return errors


def _record(errors: dict[int, str]) -> dict[int, str]:
    """Mark each message sent, pending again (retried with backoff, at most 5 attempts), failed or skipped."""
    out = {}
    with transaction.atomic():
        for message in CustomerMessage.objects.select_for_update().filter(pk__in=list(errors)):
            error = errors[message.id]
            if error.startswith("skip: "):
                message.status, message.error = "skipped", error[6:]
            elif error:  # tried again with backoff (10 s, 20 s, 40 s, 80 s), then given up
                message.error = error
                message.status = "failed" if message.attempts >= 5 else "pending"
                message.send_after = clock.now() + timedelta(seconds=5 * 2 ** message.attempts)
            else:
                message.status, message.sent_at, message.error = "sent", clock.now(), ""
            message.save(update_fields=["status", "sent_at", "error", "send_after"])
            out[message.id] = "retry" if message.status == "pending" else message.status
    return out


NEARBY_STOPS = 2  # the customer hears the van is near when it has at most this many stops before theirs


def notify_nearby(*, order: Order, stops_before: int) -> None:
    """Tell the customer once that the van is a few stops away (with how many and how far)."""
    if stops_before <= NEARBY_STOPS and order.status in ("picked_up", "out_for_delivery") \
            and not order.messages.filter(kind=MessageKind.NEARBY).exists():
        notify(order=order, kind=MessageKind.NEARBY, key="nearby")


def message_send(*, message_id: int) -> str:
    """Deliver one message now, whatever its window. Returns 'sent', 'skipped', 'failed',
    'unconfirmed', 'superseded' or 'retry'."""
    claimed = _claim(CustomerMessage.objects.filter(pk=message_id))
    if not claimed:
        return CustomerMessage.objects.filter(pk=message_id).values_list("status", flat=True).first() or "skipped"
    return _record(_deliver(claimed))[message_id]


def messages_send_due(*, limit: int = 500) -> dict[str, int]:
    """Send every message whose change window has ended (oldest first, e-mails over one connection).
    Several workers may run this at once: each takes messages no other holds."""
    due = CustomerMessage.objects.filter(pk__in=list(
        CustomerMessage.objects.filter(status="pending", attempts__lt=5, send_after__lte=clock.now())
        .order_by("send_after", "id").values_list("id", flat=True)[:limit]))
    claimed = _claim(due)
    counts: dict[str, int] = {}
    for status in _record(_deliver(claimed)).values() if claimed else ():
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- What the domain's facts tell the customer (subscribed in EngineConfig.ready) -------------

def on_status_changed(fact: OrderStatusChanged) -> None:
    notify_status(order=fact.order)


def on_eta_changed(fact: OrderEtaChanged) -> None:
    notify_eta(order=fact.order, tolerance_min=fact.tolerance_min)


def on_van_approaching(fact: VanApproaching) -> None:
    notify_nearby(order=fact.order, stops_before=fact.stops_before)
    tell_integrators_arriving(order=fact.order, stops_before=fact.stops_before)


def tell_integrators_arriving(*, order: Order, stops_before: int) -> None:
    """The van on its way has this order as its next stop: integrators hear it once (an Onfleet
    integration's taskArrival), whether or not the customer can be told."""
    if stops_before == 0 and order.status in ("picked_up", "out_for_delivery") \
            and not order.events.filter(kind="order.arriving").exists():
        event_record(organization_id=order.organization_id, kind="order.arriving", actor=ActorRef.system("eta"), order=order,
                     vehicle=order.vehicle, data={"eta": order.eta.isoformat() if order.eta else None})
        facts.record(IntegratorEvent(organization_id=order.organization_id, event_type="order.arriving",
                                     data={"order": order.external_ref, "eta": order.eta.isoformat() if order.eta else None}))


def on_details_changed(fact: OrderDetailsChanged) -> None:
    notify(order=fact.order, kind=MessageKind.UPDATED, key=f"updated:{fact.order.version}")
