"""Carrier health from what we see: error rate, latency, booking rejections, an open circuit, and
silence while the carrier holds deliveries under way (the one place carrier silence is judged). Up,
degraded or down; going degraded or down raises the carrier exception in the engine
(carrier_set_health starts ports.DETECT_CARRIER), recovery is noticed the same way. The beat
(carriers.tasks.check_carrier_health) judges every carrier, with an API or not."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily

from dispatch import clock
from dispatch.models import Event
from dispatch.selectors import policy_for
from dispatch.services import ActorRef
from dispatch.status import Actor, CarrierHealth, OrderStatus

from .http import circuit_is_open
from .models import Carrier, CarrierCall, WebhookReceipt
from .services import carrier_set_health

WINDOW = timedelta(minutes=10)
SAMPLE = 20


def assess(carrier: Carrier) -> tuple[str, str]:
    """(health, reason) from the recent record."""
    now = clock.now()
    policy = policy_for(carrier.organization_id)
    if circuit_is_open(carrier):
        return CarrierHealth.DOWN, "Circuit open after repeated failures"
    calls = list(CarrierCall.objects.filter(carrier=carrier, at__gte=now - WINDOW).order_by("-id")[:SAMPLE])
    if len(calls) >= 3:
        failed = sum(not c.ok for c in calls) / len(calls)
        streak = next((i for i, c in enumerate(calls) if c.ok), len(calls))
        if streak >= 3:
            return CarrierHealth.DOWN, f"The last {streak} calls failed ({calls[0].error or 'no answer'})"
        if not calls[0].ok and failed >= policy.health_down_error_rate:
            return CarrierHealth.DOWN, f"{failed:.0%} of recent calls failed"
        if failed >= policy.health_degraded_error_rate and not all(c.ok for c in calls[:3]):
            return CarrierHealth.DEGRADED, f"{failed:.0%} of recent calls failed"
        latencies = sorted(c.latency_ms for c in calls if c.ok)
        if latencies and latencies[int(0.9 * (len(latencies) - 1))] > policy.health_slow_ms:
            return CarrierHealth.DEGRADED, f"Slow: 90% of calls under {latencies[int(0.9 * (len(latencies) - 1))]} ms"
        bookings = [c for c in calls if c.operation == "book" and c.ok]
        if len(bookings) >= 4 and sum(c.rejected for c in bookings) / len(bookings) >= 0.5:
            return CarrierHealth.DEGRADED, "Most recent bookings were rejected"
    # Only a carrier with deliveries under way is expected to speak; one holding next-day bookings may be quiet.
    silence = timedelta(minutes=policy.carrier_silence_min)
    holding = carrier.orders.filter(status__in=[OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]).exists()
    last = last_heard(carrier) if holding else None
    if last is not None and now - last > silence:
        return CarrierHealth.DEGRADED, f"Not heard from for {int((now - last).total_seconds() // 60)} min with deliveries under way"
    return CarrierHealth.UP, "Answering normally"


def last_heard(carrier: Carrier) -> datetime | None:
    """When the carrier last told us anything: a webhook received (processed or not), or an event it
    reported through the API. Our own records about it (its health, capacity we were told) do not count."""
    receipt = WebhookReceipt.objects.filter(carrier=carrier).order_by("-id").values_list("received_at", flat=True).first()
    reported = (Event.objects.filter(carrier=carrier, actor_type=Actor.CARRIER).order_by("-id")
                .values_list("created_at", flat=True).first())
    return max((t for t in (receipt, reported) if t is not None), default=None)


def refresh(carrier: Carrier) -> Carrier:
    health, reason = assess(carrier)
    if health != carrier.health:
        carrier = carrier_set_health(carrier_id=carrier.id, health=health, reason=reason, actor=ActorRef.system("health"))
    return carrier


def health_gauge():
    """Every carrier's health for the metrics scrape (registered with infra.metrics at start-up)."""
    health = GaugeMetricFamily("ct_carrier_health", "Carrier health: 0 up, 1 degraded, 2 down",
                               labels=["organization", "carrier"])
    level = {CarrierHealth.UP: 0, CarrierHealth.DEGRADED: 1, CarrierHealth.DOWN: 2}
    for org, code, h in Carrier.objects.values_list("organization__slug", "code", "health"):
        health.add_metric([org, code], level.get(h, 2))
    return health
