"""The integrations' Celery tasks: they take ids, are idempotent and time-bounded, and call one service."""

from celery import shared_task
from django.conf import settings

from infra.reliable_tasks import RETRYING, RetryLater

from .shops.service import shop_update_send, shop_webhook_process
from .webhooks import deliver


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, max_retries=8, owner="carriers.WebhookDelivery", **RETRYING)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at an outbound webhook; Celery retries with backoff, and deliveries whose own
    back-off is longer than a task may wait are picked up by the outbox sweep when due."""

    result = deliver(delivery_id=delivery_id)
    if result == "retry" and not settings.CELERY_TASK_ALWAYS_EAGER:
        raise RetryLater(f"delivery {delivery_id} not accepted yet")
    return result


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, max_retries=5, owner="integrations.ShopWebhookReceipt", **RETRYING)
def process_shop_webhook(receipt_id: int) -> str:
    """Apply a shop's webhook receipt (idempotent: a processed receipt is not applied again)."""
    return shop_webhook_process(receipt_id=receipt_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=75, max_retries=8, owner="integrations.ShopUpdate", **RETRYING)
def send_to_shop(update_id: int) -> str:
    """Send a shop its fulfillment or delivery; retried with backoff while the shop cannot take it,
    then by the outbox sweep when its own back-off is due."""
    result = shop_update_send(update_id=update_id)
    if result == "retry" and not settings.CELERY_TASK_ALWAYS_EAGER:
        raise RetryLater(f"shop update {update_id} not taken yet")
    return result
