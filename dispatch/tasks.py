"""Celery tasks: they take ids, are idempotent and time-bounded, and call one service.

Work is started after commit through a declared port (dispatch.ports; infra.jobs is the one way to
start a task). The rows it concerns (an exception without a proposal, a pending customer message)
are the outbox: if an enqueue is lost, sweep_outbox (beat) enqueues it again, so nothing already
accepted is lost."""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from carriers.models import Carrier, WebhookDelivery, WebhookReceipt
from integrations.models import ShopUpdate, ShopWebhookReceipt
from dispatch import clock, ports
from dispatch.configuration import apply_due_changes
from dispatch.engine.bridge import propose, replan_network
from dispatch.engine.decisions import decision_finish, decisions_resume
from dispatch.engine.detectors import (
    detect_all,
    detect_carrier_outage,
    detect_failed_delivery,
    detect_vehicle_unavailable,
)
from dispatch.engine.escalation import email_ops_managers
from dispatch.engine.messages import message_send, messages_send_due
from dispatch.engine.placement import plan_new_orders as plan
from dispatch.engine.savings import savings_for_day
from dispatch.models import (
    CustomerMessage,
    Order,
    OrderException,
    Organization,
    Vehicle,
)
from dispatch.reporting.rollups import rollups_refresh
from dispatch.services import ActorRef
from dispatch.services.routes import routes_recompute_pending
from dispatch.services.travel import travel_learn
from dispatch.status import (
    LIVE_EXCEPTION_STATES,
    DecisionState,
    ExceptionState,
    OrderStatus,
)
from infra.reliable_tasks import RETRYING, RetryLater

log = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def plan_new_orders(organization_id: int) -> dict:
    """Place the organization's unassigned orders. Safe to run twice: it only touches orders
    that still have no assignment, each under its row lock."""

    return plan(organization_id=organization_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def plan_pending_everywhere() -> int:
    """Beat's safety net: an enqueue lost after commit leaves orders unplanned only until the next sweep."""

    orgs = list(Organization.objects.filter(auto_plan=True, orders__status__in=[OrderStatus.CREATED, OrderStatus.PLANNED])
                .values_list("id", flat=True).distinct())
    for org_id in orgs:
        ports.PLAN_NEW_ORDERS.start(org_id)
    return len(orgs)


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, owner="dispatch.OrderException")
def propose_decision(exception_id: int) -> int | None:
    """Propose (or re-propose) a decision for a live exception. Idempotent: a newer proposal
    supersedes the older one, and nothing is proposed for a closed exception."""

    exc = OrderException.objects.filter(pk=exception_id, state__in=LIVE_EXCEPTION_STATES).first()
    if exc is None:
        return None
    finished = decisions_resume(exception_id=exc.id)
    if finished:  # redelivered after its worker died mid-approval: that approval is finished, not replaced
        return finished[0]
    decision = propose(exception=exc)
    return decision.id if decision else None


@shared_task(acks_late=True, soft_time_limit=240, time_limit=270, owner="dispatch.Decision")
def finish_decision(decision_id: int, actor_type: str, actor_name: str, note: str, since: str) -> int | None:
    """Book the carrier moves of a large approval made from the screen (decision_approve with
    `background`). Safe to run twice: bookings are keyed per decision and order."""

    decision = decision_finish(decision_id=decision_id, actor=ActorRef(actor_type, actor_name), note=note,
                               since=datetime.fromisoformat(since))
    return decision.id if decision else None


@shared_task(acks_late=True, soft_time_limit=20, time_limit=30, owner="carriers.Carrier")
def detect_carrier(carrier_id: int) -> None:

    carrier = Carrier.objects.filter(pk=carrier_id).first()
    if carrier:
        detect_carrier_outage(carrier=carrier)


@shared_task(acks_late=True, soft_time_limit=20, time_limit=30, owner="dispatch.Vehicle")
def detect_vehicle(vehicle_id: int) -> None:

    vehicle = Vehicle.objects.filter(pk=vehicle_id).first()
    if vehicle:
        detect_vehicle_unavailable(vehicle=vehicle)


@shared_task(acks_late=True, soft_time_limit=20, time_limit=30, owner="dispatch.Order")
def detect_order_failure(order_id: int) -> None:

    order = Order.objects.filter(pk=order_id).select_related("vehicle", "carrier").first()
    if order:
        detect_failed_delivery(order=order)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def detect_everywhere() -> int:
    """Beat: the watching detectors (SLA risk, no-shows, silent vans, capacity, cut-offs, spikes) per organization
    (a carrier's silence is part of its health: carriers.tasks.check_carrier_health)."""

    ids = list(Organization.objects.values_list("id", flat=True))
    for org_id in ids:
        detect_all(organization_id=org_id)
    return len(ids)




@shared_task(acks_late=True, soft_time_limit=20, time_limit=30, max_retries=5, owner="dispatch.CustomerMessage", **RETRYING)
def send_customer_message(message_id: int) -> str:
    """Deliver one customer message. Idempotent: a message already sent (or being sent when a
    worker died) is not sent again."""


    status = message_send(message_id=message_id)
    if status == "retry" and not settings.CELERY_TASK_ALWAYS_EAGER:
        raise RetryLater(f"message {message_id} not accepted yet")
    return status


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def send_due_messages() -> dict:
    """Send the customer messages whose change window has ended (enqueued for a window's end, and
    by beat every few seconds). Idempotent: each message is claimed once; several may run at once."""
    return messages_send_due()


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, owner="dispatch.OrderException", **RETRYING)
def tell_ops_managers(exception_id: int) -> int:
    """E-mail the organization's ops managers that an exception passed its response SLA. Once per
    exception: the escalation is recorded before this runs, and a retry after the mail server
    accepted is harmless (same Message-ID)."""

    return email_ops_managers(exception_id=exception_id)


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45)
def recompute_etas(organization_id: int) -> int:
    """ETAs and risk for the vans whose position changed since the last run (coalesced per
    organization: many pings, one pass per van)."""

    return routes_recompute_pending(organization_id=organization_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def sweep_outbox() -> dict:
    """Beat: re-enqueue work whose enqueue was lost: customer messages still pending, and live
    exceptions that have no proposal yet."""

    before = clock.now() - timedelta(minutes=1)
    messages = CustomerMessage.objects.filter(status="pending", send_after__lt=before, attempts__lt=5).count()
    if messages:
        ports.SEND_DUE_MESSAGES.start()

    stale = list(OrderException.objects.filter(state=ExceptionState.OPEN, updated_at__lt=timezone.now() - timedelta(minutes=1))
                 .exclude(decisions__state__in=[DecisionState.PROPOSED, DecisionState.REJECTED]).values_list("id", flat=True)[:100])
    for exception_id in stale:
        ports.PROPOSE_DECISION.start(exception_id)

    receipts = list(WebhookReceipt.objects.filter(status="pending", received_at__lt=before, attempts__lt=5).values_list("id", flat=True)[:500])
    for receipt_id in receipts:
        ports.PROCESS_WEBHOOK.start(receipt_id)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=clock.now())
    deliveries = list(WebhookDelivery.objects.filter(due, status="pending", created_at__lt=before)
                      .values_list("id", flat=True)[:500])
    for delivery_id in deliveries:
        ports.DELIVER_WEBHOOK.start(delivery_id)
    shop_in = list(ShopWebhookReceipt.objects.filter(status="pending", received_at__lt=before, attempts__lt=5)
                   .values_list("id", flat=True)[:500])
    for receipt_id in shop_in:
        ports.PROCESS_SHOP_WEBHOOK.start(receipt_id)
    shop_out = list(ShopUpdate.objects.filter(due, status="pending", created_at__lt=before).values_list("id", flat=True)[:500])
    for update_id in shop_out:
        ports.SEND_TO_SHOP.start(update_id)
    resumed = decisions_resume()
    return {"messages": messages, "exceptions": len(stale), "webhooks_in": len(receipts), "webhooks_out": len(deliveries),
            "shops_in": len(shop_in), "shops_out": len(shop_out), "decisions_resumed": len(resumed)}


@shared_task(acks_late=True, soft_time_limit=90, time_limit=120)
def replan_networks() -> int:
    """Beat (planner queue): re-plan every organization's network that has orders that could move,
    from its current plan (a proposal: auto-applied only as its policy allows)."""

    proposed = 0
    movable = [OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED]
    for org_id in Organization.objects.filter(orders__status__in=movable).values_list("id", flat=True).distinct():
        proposed += replan_network(organization_id=org_id) is not None
    return proposed


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def learn_travel() -> int:
    """Beat: learn every organization's travel factors from its vans' completed stops (a full
    recomputation from the stops themselves: running it twice changes nothing)."""
    return sum(travel_learn(organization_id=org_id) for org_id in Organization.objects.values_list("id", flat=True))


@shared_task(acks_late=True, soft_time_limit=110, time_limit=120)
def refresh_reports() -> int:
    """Beat: recompute the roll-up of the days whose orders changed, and the savings of those that are
    over (each run is a full recomputation of a day, so running it twice changes nothing)."""
    today = timezone.localdate(clock.now())
    done = rollups_refresh()
    for org_id, day in done:
        if day < today:
            savings_for_day(organization_id=org_id, day=day)
    return len(done)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def apply_scheduled_settings() -> int:
    """Beat: write settings changes whose moment has come into their rows (reads see them from that
    moment already; this records them in the settings' history). Idempotent: an applied change is
    marked and skipped."""
    return apply_due_changes()
