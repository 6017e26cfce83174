"""The driver app (a phone's browser): the driver's shift and van, the van's stops in route order
with what each order needs and a hand-off to the phone's navigation, and the driver's actions on
them: picked up, delivered (with the PIN or age check the order requires), or failed with a reason.
A driver sees and acts on the stops of their own van only; the rest of the tower is closed to the
account (web.middleware.DriverAppMiddleware)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dispatch import selectors
from dispatch.errors import DomainError, NotFound
from dispatch.services import ActorRef
from dispatch.services.orders import order_deliver, order_set_status
from dispatch.status import FailureReason, OrderStatus
from web.access import org_for

ACTIONS = {"picked_up": OrderStatus.PICKED_UP, "delivered": OrderStatus.DELIVERED, "failed": OrderStatus.FAILED}


def _driver(request):
    org_for(request, "drive")
    if request.user.driver_id is None:
        raise PermissionDenied("Your account is not linked to a driver yet; ask your dispatcher or admin.")
    return request.user.driver


def _page(request, driver, message: str = "", status: int = 200, error: bool = False):
    day = selectors.driver_day(driver=driver)
    return render(request, "controltower/driver.html", {**day, "driver": driver, "message": message, "error": error,
                                                         "reasons": FailureReason.choices}, status=status)


@login_required
@require_GET
def driver_home(request):
    return _page(request, _driver(request))


@login_required
@require_POST
def driver_action(request, ref: str, action: str):
    driver = _driver(request)
    if action not in ACTIONS:
        raise Http404("No such action.")
    try:
        order = selectors.driver_order(driver=driver, ref=ref)
    except NotFound as exc:
        raise Http404(exc.message) from None
    actor = ActorRef.user(request.user)
    reason = request.POST.get("reason", "")
    try:
        if action == "failed" and reason not in FailureReason.values:
            return _page(request, driver, f"Say why {ref} could not be delivered.", status=400, error=True)
        if action == "delivered":
            order_deliver(order=order, actor=actor, pin=request.POST.get("pin", ""),
                          age_checked=request.POST.get("age_checked") == "yes")
        else:
            order_set_status(organization_id=order.organization_id, order_id=order.id, status=ACTIONS[action], actor=actor,
                             failure_reason=reason if action == "failed" else "", reason="driver app")
    except DomainError as exc:
        return _page(request, driver, f"{ref}: {exc.message}", status=exc.http_status, error=True)
    said = {"picked_up": "picked up", "delivered": "delivered", "failed": f"not delivered ({FailureReason(reason).label.lower()})"
            if action == "failed" else ""}[action]
    messages.success(request, f"{ref} {said}.")
    return redirect("driver")  # the stops again: a reload does not send the action twice
