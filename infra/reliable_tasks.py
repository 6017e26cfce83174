"""The base of every Celery task: a cap on redeliveries and a dead-letter table.

Workers acknowledge late and reject on worker loss (settings), so a task whose worker dies is
delivered again. A message that kills every worker it reaches would circle forever: each delivery
is counted in Redis, and past MAX_DELIVERIES the task is not run but kept in the dead-letter
table. A task that fails for good (its retries spent) is kept there too."""

from __future__ import annotations

import json
import logging

from celery import Task

from infra import redis_client

log = logging.getLogger(__name__)

MAX_DELIVERIES = 5
COUNTER_TTL_S = 86400
# Celery's own retry: exponential backoff with jitter, never a countdown past the broker's
# visibility timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS).
MAX_COUNTDOWN_S = 300


class RetryLater(Exception):
    """Raised by a task whose work could not be done now but may be later: Celery retries it with
    backoff and jitter; once its retries are spent the outbox sweep picks the row up again."""


# Work that may wait behind what people are waiting for (customers' messages, proposals): after a
# decision moves 200 orders, telling the old carrier of 200 cancellations must not hold up telling
# 200 customers. With Redis, 0 is the first served (kombu keeps one list per step; the steps are in
# settings.CELERY_BROKER_TRANSPORT_OPTIONS).
BULK = {"priority": 6}

RETRYING = {"autoretry_for": (RetryLater,), "retry_backoff": 5, "retry_backoff_max": MAX_COUNTDOWN_S, "retry_jitter": True}


def _counting() -> bool:
    from django.conf import settings

    return bool(settings.REDIS_URL) and not settings.CELERY_TASK_ALWAYS_EAGER


class ReliableTask(Task):
    # A task may name the model its first argument is the id of ("dispatch.OrderException"), so a
    # dead letter is shown to that row's organization.
    owner: str | None = None

    def __call__(self, *args, **kwargs):
        task_id = getattr(self.request, "id", None)
        if task_id and _counting() and not self.request.is_eager:
            try:
                key = f"ct:deliveries:{task_id}"
                n = redis_client.client().incr(key)
                redis_client.client().expire(key, COUNTER_TTL_S)
            except Exception:  # Redis briefly away: run the task rather than lose it
                n = 1
            # A retry is a new delivery of the same id: only deliveries beyond the retries count.
            if n - (self.request.retries or 0) > MAX_DELIVERIES:
                record_dead_letter(self, task_id, args, kwargs, reason="redelivery_cap", deliveries=n,
                                   error=f"Delivered {n} times without finishing (its worker died each time)")
                return None
        return super().__call__(*args, **kwargs)

    def on_success(self, retval, task_id, args, kwargs):
        if _counting():
            try:
                redis_client.client().delete(f"ct:deliveries:{task_id}")
            except Exception:
                pass

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        record_dead_letter(self, task_id, args, kwargs, reason="failed", deliveries=0,
                           error=f"{type(exc).__name__}: {exc}\n{einfo}"[:4000])


def _organization_of(task, args) -> int | None:
    if not args:
        return None
    if task.owner is None:
        import inspect

        params = list(inspect.signature(task.run).parameters)
        return args[0] if params and params[0] == "organization_id" and isinstance(args[0], int) else None
    from django.apps import apps

    from infra.tenancy import organization_path

    model = apps.get_model(task.owner)
    path = organization_path(model)
    if path is None:
        return None
    return model.objects.filter(pk=args[0]).values_list(path, flat=True).first()


def record_dead_letter(task, task_id: str, args, kwargs, *, reason: str, deliveries: int, error: str) -> None:
    try:
        from infra import metrics
        from infra.models import DeadLetter

        safe_args = json.loads(json.dumps(list(args or []), default=str))
        safe_kwargs = json.loads(json.dumps(dict(kwargs or {}), default=str))
        DeadLetter.objects.update_or_create(
            task_id=task_id or "",
            defaults={"task_name": task.name, "args": safe_args, "kwargs": safe_kwargs, "reason": reason,
                      "deliveries": deliveries, "error": error, "organization_id": _organization_of(task, args)},
        )
        metrics.incr("dead_letters")
    except Exception:
        log.exception("Could not record the dead letter for %s %s", task.name, task_id)
