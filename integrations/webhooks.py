"""Outbound webhooks for integrators: our events go to subscriber URLs, signed like inbound ones
(carriers.signing), retried with backoff, every attempt logged, redeliverable by hand."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import httpx
from django.db import transaction

from carriers import egress
from carriers.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from carriers.signing import HEADER, sign
from dispatch import clock, ports
from dispatch.facts import IntegratorEvent
from dispatch.selectors import scoped

from .shops import service as shops

EVENT_TYPES = ("order.status", "order.eta", "exception.raised", "decision.applied")
MAX_ATTEMPTS = 8


def emit(*, organization_id: int, event_type: str, data: dict) -> int:
    """Queue the event for every subscription that wants it (inside the caller's transaction)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Undeclared outbound event {event_type!r}")
    active = scoped(("webhooks", organization_id),
                    lambda: list(WebhookSubscription.objects.filter(organization_id=organization_id, active=True)))
    subs = [s for s in active if not s.event_types or event_type in s.event_types]
    if not subs:
        return 0
    event_id = uuid.uuid4().hex
    payload = {"id": event_id, "type": event_type, "created": int(time.time()), "data": data}
    for sub in subs:
        delivery = WebhookDelivery.objects.create(subscription=sub, event_id=event_id, event_type=event_type, payload=payload)
        ports.DELIVER_WEBHOOK.start(delivery.id)
    return len(subs)


def deliver(*, delivery_id: int, manual: bool = False) -> str:
    """One attempt. Returns 'delivered', 'retry' or 'failed'. The HTTP call is made with no
    transaction open (no row lock held while a subscriber takes its time); the outcome is then
    recorded under the row's lock. Two workers racing on one delivery may both send it: receivers
    deduplicate on the Webhook-Id header, as the signing scheme says."""
    d = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    if d.status == "delivered" and not manual:
        return d.status
    body = json.dumps(d.payload).encode()
    started = time.monotonic()
    code, error, refused = None, "", False
    try:
        r = egress.request("POST", d.subscription.url, content=body, timeout=httpx.Timeout(10, connect=3),
                           headers={"Content-Type": "application/json", HEADER: sign(body, d.subscription.secret),
                                    "Webhook-Id": d.event_id})
        code = r.status_code
    except egress.UnsafeURL as exc:
        error, refused = f"Refused: {exc}"[:300], True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: the subscriber could not be reached"[:300]
    latency_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        d = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        WebhookAttempt.objects.create(delivery=d, status_code=code, error=error or ("" if code and code < 300 else f"HTTP {code}"),
                                      latency_ms=latency_ms, manual=manual)
        d.attempts += 1
        if code is not None and 200 <= code < 300:
            d.status, d.delivered_at, d.next_attempt_at = "delivered", clock.now(), None
        elif d.status == "delivered":
            pass  # a manual redelivery that failed does not undo the earlier delivery
        elif refused or (d.attempts >= MAX_ATTEMPTS and not manual):
            d.status, d.next_attempt_at = "failed", None
        else:
            d.status = "failed" if d.attempts >= MAX_ATTEMPTS else "pending"
            d.next_attempt_at = clock.now() + timedelta(seconds=backoff(d.attempts)) if d.status == "pending" else None
        d.save()
        return "delivered" if d.status == "delivered" else ("failed" if d.status == "failed" else "retry")


def on_integrator_event(fact: IntegratorEvent) -> None:
    """The one subscriber of the domain's IntegratorEvent (IntegrationsConfig.ready): the
    integrators' subscriptions, and the shop an order came from."""
    emit(organization_id=fact.organization_id, event_type=fact.event_type, data=fact.data)
    if fact.event_type == "order.status":
        shops.on_order_status(organization_id=fact.organization_id, data=fact.data)


def backoff(attempts: int) -> int:
    return min(3600, 5 * 3 ** (attempts - 1))


def redeliver(*, delivery_id: int) -> str:
    """A person asked for this delivery again: one attempt now, whatever happened before."""
    return deliver(delivery_id=delivery_id, manual=True)
