from celery import shared_task
from django.conf import settings

from infra.reliable_tasks import BULK, RETRYING, RetryLater

from .adapters import CarrierError, adapter_for
from .health import refresh
from .models import Carrier, CarrierBooking
from .webhooks import webhook_process


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, owner="carriers.WebhookReceipt")
def process_webhook(receipt_id: int) -> str:

    return webhook_process(receipt_id=receipt_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def check_carrier_health() -> int:
    """Beat: ping every carrier whose API has a health check (a dead one is noticed even with no
    traffic), then judge every carrier's health from the recent record, silence included; a carrier
    that is back is noticed the same way."""

    n = 0
    for carrier in Carrier.objects.all():
        adapter = adapter_for(carrier)
        if "health_check" in adapter.supports:
            try:
                adapter.health_check()
            except CarrierError:
                pass
        refresh(carrier)
        n += 1
    return n


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, max_retries=6, owner="carriers.CarrierBooking", **RETRYING, **BULK)
def cancel_with_carrier(booking_id: int) -> str:
    """Tell the carrier a booking is cancelled. Idempotent; carriers without a cancel call are skipped."""


    booking = CarrierBooking.objects.select_related("carrier").get(pk=booking_id)
    adapter = adapter_for(booking.carrier)
    if "cancel" not in adapter.supports or not booking.external_id:
        return "skipped"
    try:
        adapter.cancel(booking=booking)
    except CarrierError as exc:
        if exc.retryable and not settings.CELERY_TASK_ALWAYS_EAGER:
            raise RetryLater(str(exc)) from exc
        return f"failed: {exc}"
    return "cancelled"

