"""Celery tasks: they take ids, are idempotent and time-bounded, and call one service."""

from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def plan_new_orders(organization_id: int) -> dict:
    """Place the organization's unassigned orders. Safe to run twice: it only touches orders
    that still have no assignment, each under its row lock."""
    from dispatch.planning import plan_new_orders as plan

    return plan(organization_id=organization_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def plan_pending_everywhere() -> int:
    """Beat's safety net: an enqueue lost after commit leaves orders unplanned only until the next sweep."""
    from dispatch.models import Order, Organization
    from dispatch.status import OrderStatus

    orgs = (Organization.objects.filter(auto_plan=True, orders__status__in=[OrderStatus.CREATED, OrderStatus.PLANNED])
            .values_list("id", flat=True).distinct())
    for org_id in orgs:
        plan_new_orders.delay(org_id)
    return len(orgs)
