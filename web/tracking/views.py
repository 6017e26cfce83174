"""The customer's public tracking page."""

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone

from dispatch import clock, selectors
from dispatch.errors import Conflict, ValidationFailed
from dispatch.services.orders import (
    BEFORE_PICKUP,
    order_change_by_customer,
    windows_offered,
)
from dispatch.status import (
    OrderStatus,
)

CUSTOMER_CHANGES_PER_HOUR = 10


def tracking_page(request, token: str):
    """The customer's public page: only this one order, by an unguessable token. It says plainly
    when the order is late or at risk, the new estimate and what the customer can do, updates over
    the live channel, and, before pickup, lets the customer pick another offered window or leave
    instructions (POST). Times are in the shop's time zone."""
    view = selectors.tracking_view(token=token)
    with timezone.override(clock.zone_of(view["order"].organization)):
        return _tracking_page(request, token, view)


def _tracking_page(request, token: str, view: dict):
    order = view["order"]
    message, status, errors = "", 200, {}
    if request.method == "POST":
        try:
            if selectors.customer_changes_since(order=order, hours=1) >= CUSTOMER_CHANGES_PER_HOUR:
                message, status = "You have changed this delivery many times in the last hour; please call us instead.", 429
            else:
                order = order_change_by_customer(token=token, window_start=request.POST.get("window", ""),
                                                 instructions=request.POST.get("instructions"),
                                                 version=int(request.POST.get("version", "-1")))
                message = (f"Done: we will deliver between {timezone.localtime(order.window_start):%a %d %b %H:%M} and "
                           f"{timezone.localtime(order.window_end):%H:%M}. We have sent you a confirmation.")
                view = selectors.tracking_view(token=token)
        except ValidationFailed as e:
            message, status, errors = e.message, 400, e.errors
        except Conflict as e:
            message, status = (e.message if order.status not in BEFORE_PICKUP else
                               "Your delivery changed while you were choosing; here it is as it is now. Please choose again."), 409
            view = selectors.tracking_view(token=token)
        except ValueError:
            message, status = "Reload the page and try again.", 400
        order = view["order"]
    changeable = order.status in BEFORE_PICKUP
    return render(request, "controltower/track.html", {
        **view,
        "status_label": OrderStatus(order.status).label,
        "status_colour": OrderStatus.colour(order.status),
        "ws_path": f"/ws/track/{token}/",
        "changeable": changeable, "offered": windows_offered(order) if changeable else [],
        "message": message, "errors": errors,
    }, status=status)
