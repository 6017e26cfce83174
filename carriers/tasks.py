from celery import shared_task

# Countdowns stay below the broker's visibility timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS).
MAX_COUNTDOWN_S = 300


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45)
def process_webhook(receipt_id: int) -> str:
    from .webhooks import webhook_process

    return webhook_process(receipt_id=receipt_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def check_carrier_health() -> int:
    """Beat: ping every carrier with an API (a dead one is noticed even with no traffic), then judge
    its health from the recent record; a carrier that is back is noticed the same way."""
    from .adapters import CarrierError, adapter_for
    from .health import refresh
    from .models import Carrier

    n = 0
    for carrier in Carrier.objects.exclude(adapter="manual"):
        adapter = adapter_for(carrier)
        if "health_check" in adapter.supports:
            try:
                adapter.health_check()
            except CarrierError:
                pass
        refresh(carrier)
        n += 1
    return n


@shared_task(bind=True, acks_late=True, soft_time_limit=30, time_limit=45, max_retries=6)
def cancel_with_carrier(self, booking_id: int) -> str:
    """Tell the carrier a booking is cancelled. Idempotent; carriers without a cancel call are skipped."""
    from .adapters import CarrierError, adapter_for
    from .models import CarrierBooking

    booking = CarrierBooking.objects.select_related("carrier").get(pk=booking_id)
    adapter = adapter_for(booking.carrier)
    if "cancel" not in adapter.supports or not booking.external_id:
        return "skipped"
    try:
        adapter.cancel(booking=booking)
    except CarrierError as exc:
        if exc.retryable and self.request.retries < self.max_retries and not self.app.conf.task_always_eager:
            raise self.retry(countdown=min(MAX_COUNTDOWN_S, 10 * 2 ** self.request.retries))
        return f"failed: {exc}"
    return "cancelled"


@shared_task(bind=True, acks_late=True, soft_time_limit=30, time_limit=45, max_retries=8)
def deliver_webhook(self, delivery_id: int) -> str:
    from .outbound import backoff, deliver

    result = deliver(delivery_id=delivery_id)
    if result == "retry" and not self.app.conf.task_always_eager:
        # Never a countdown past the broker's visibility timeout; longer back-offs are picked up
        # by the outbox sweep once the delivery's next_attempt_at is due.
        raise self.retry(countdown=min(MAX_COUNTDOWN_S, backoff(self.request.retries + 1)))
    return result
