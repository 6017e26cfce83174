"""The integrations' Celery tasks: they take ids, are idempotent and time-bounded, and call one service."""

from celery import shared_task
from django.conf import settings

from infra.reliable_tasks import RETRYING, RetryLater

from .webhooks import deliver


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45, max_retries=8, owner="carriers.WebhookDelivery", **RETRYING)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at an outbound webhook; Celery retries with backoff, and deliveries whose own
    back-off is longer than a task may wait are picked up by the outbox sweep when due."""

    result = deliver(delivery_id=delivery_id)
    if result == "retry" and not settings.CELERY_TASK_ALWAYS_EAGER:
        raise RetryLater(f"delivery {delivery_id} not accepted yet")
    return result
