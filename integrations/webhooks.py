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
from dispatch.models import Driver, Order
from dispatch.selectors import scoped
from dispatch.status import OrderStatus

from .onfleet import service as onfleet
from .onfleet.shapes import TRIGGER_NAMES, TRIGGER_OF_STATUS, TRIGGERS, oid
from .shops import service as shops

EVENT_TYPES = ("order.created", "order.status", "order.updated", "order.eta", "order.delayed", "order.arriving", "driver.duty",
               "exception.raised", "decision.applied")
MAX_ATTEMPTS = 8


def emit(*, organization_id: int, event_type: str, data: dict) -> int:
    """Queue the event for every subscription that wants it (inside the caller's transaction): our
    own shape, or Onfleet's for the Onfleet-compatible API's webhooks whose trigger it is."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Undeclared outbound event {event_type!r}")
    active = scoped(("webhooks", organization_id),
                    lambda: list(WebhookSubscription.objects.filter(organization_id=organization_id, active=True)))
    ours = [s for s in active if s.style != "onfleet" and (not s.event_types or event_type in s.event_types)]
    theirs = [s for s in active if s.style == "onfleet"]
    queued = []
    if ours:
        event_id = uuid.uuid4().hex
        payload = {"id": event_id, "type": event_type, "created": int(time.time()), "data": data}
        queued += [WebhookDelivery.objects.create(subscription=sub, event_id=event_id, event_type=event_type, payload=payload)
                   for sub in ours]
    trigger = onfleet_trigger(event_type, data) if theirs else None
    wanted = [s for s in theirs if s.trigger is not None and s.trigger == trigger]
    payload = onfleet_payload(organization_id, trigger, data) if wanted else None
    if payload is not None:
        event_id = uuid.uuid4().hex
        queued += [WebhookDelivery.objects.create(subscription=sub, event_id=event_id, event_type=event_type, payload=payload)
                   for sub in wanted]
    for delivery in queued:
        ports.DELIVER_WEBHOOK.start(delivery.id)
    return len(queued)


def onfleet_trigger(event_type: str, data: dict) -> int | None:
    """The Onfleet trigger our event is, if any."""
    simple = {"order.created": "taskCreated", "order.eta": "taskEta", "order.updated": "taskUpdated", "order.delayed": "taskDelayed",
              "order.arriving": "taskArrival", "driver.duty": "workerDuty"}
    if event_type in simple:
        return TRIGGERS[simple[event_type]]
    if event_type == "order.status":
        name = TRIGGER_OF_STATUS.get(data.get("to"))
        if name == "taskUnassigned" and data.get("from") not in (OrderStatus.ASSIGNED, OrderStatus.BOOKED):
            return None
        return TRIGGERS[name] if name else None
    return None


def onfleet_payload(organization_id: int, trigger: int, data: dict) -> dict | None:
    """Onfleet's webhook body for the trigger: the task (or, for workerDuty, the worker) as it is now."""
    base = {"time": int(time.time() * 1000), "triggerId": trigger, "triggerName": TRIGGER_NAMES[trigger], "adminId": None,
            "actionContext": {"type": "SYSTEM"}}
    if trigger == TRIGGERS["workerDuty"]:
        driver = Driver.objects.filter(organization_id=organization_id, code=data.get("driver")).first()
        if driver is None:
            return None
        worker = onfleet.worker_get(organization_id, oid("worker", driver.pk))
        return {**base, "taskId": None, "workerId": worker["id"], "data": {"worker": worker}}
    order = Order.objects.filter(organization_id=organization_id, external_ref=data.get("order")).select_related("hub", "vehicle").first()
    if order is None:
        return None
    task = onfleet.task_json(order)
    return {**base, "taskId": task["id"], "workerId": task["worker"], "data": {"task": task}}


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
        if d.subscription.style == "onfleet":
            headers = {"Content-Type": "application/json", "X-Onfleet-Signature": onfleet.signature(body, d.subscription.secret)}
        else:
            headers = {"Content-Type": "application/json", HEADER: sign(body, d.subscription.secret), "Webhook-Id": d.event_id}
        r = egress.request("POST", d.subscription.url, content=body, timeout=httpx.Timeout(10, connect=3), headers=headers)
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
