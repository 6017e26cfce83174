"""Celery tasks: they take ids, are idempotent and time-bounded, and call one service."""

from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def plan_new_orders(organization_id: int) -> dict:
    from dispatch.planning import plan_new_orders as plan

    return plan(organization_id=organization_id)
