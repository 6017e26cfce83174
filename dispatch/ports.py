"""Follow-up work the domain core and the carrier integration may start in the layers above them
(the engine's tasks, the edge's), declared once here so that go-to-definition leads from the
caller to the port and from the port to the task (`task` is the registered Celery task's name;
tests/test_architecture.py checks that every port resolves to a registered task, and that no
module below the engine enqueues a bare name). A port starts its task after the current
transaction commits (infra.jobs.enqueue)."""

from __future__ import annotations

from dataclasses import dataclass

from infra import jobs


@dataclass(frozen=True)
class Port:
    task: str
    purpose: str

    def start(self, *args, countdown: int = 0, at: float | None = None, once_per: str = "") -> None:
        jobs.enqueue(self.task, *args, countdown=countdown, at=at, once_per=once_per)


# the engine
PROPOSE_DECISION = Port("dispatch.tasks.propose_decision", "Propose a decision for an exception raised or grown (exception id)")
DETECT_ORDER_FAILURE = Port("dispatch.tasks.detect_order_failure", "Raise an exception for a failed delivery (order id)")
DETECT_VEHICLE = Port("dispatch.tasks.detect_vehicle", "Look for a breakdown or silence of a van whose status changed (vehicle id)")
DETECT_CARRIER = Port("dispatch.tasks.detect_carrier", "Raise or resolve a carrier outage after its health changed (carrier id)")
FINISH_DECISION = Port("dispatch.tasks.finish_decision", "Make the carrier bookings an approved decision has left")
TELL_OPS_MANAGERS = Port("dispatch.tasks.tell_ops_managers", "E-mail the ops managers about an escalated exception (exception id)")
PLAN_NEW_ORDERS = Port("dispatch.tasks.plan_new_orders", "Place the organization's new orders (organization id)")
RECOMPUTE_ETAS = Port("dispatch.tasks.recompute_etas", "Recompute ETAs of the vans that moved (organization id)")
SEND_DUE_MESSAGES = Port("dispatch.tasks.send_due_messages", "Send the customer messages that are due")
# the carrier integration's tasks
CANCEL_WITH_CARRIER = Port("carriers.tasks.cancel_with_carrier", "Cancel a released booking with its carrier (booking id)")
PROCESS_WEBHOOK = Port("carriers.tasks.process_webhook", "Apply a carrier's webhook receipt (receipt id)")
# the integrations' tasks
DELIVER_WEBHOOK = Port("integrations.tasks.deliver_webhook", "Deliver an event to an integrator's webhook (delivery id)")
PROCESS_SHOP_WEBHOOK = Port("integrations.tasks.process_shop_webhook", "Apply a shop's webhook receipt (receipt id)")
SEND_TO_SHOP = Port("integrations.tasks.send_to_shop", "Send a shop what it is owed about its order (shop update id)")

PORTS = [value for value in list(globals().values()) if isinstance(value, Port)]
