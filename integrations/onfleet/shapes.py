"""Onfleet's shapes, from its API reference and pyonfleet's code: object ids (24 characters),
times in epoch milliseconds, locations as [longitude, latitude], task states (0 unassigned,
1 assigned, 2 active, 3 completed), webhook trigger ids, and the error body
{"code", "message": {"error", "message", "request", "cause"}} with Onfleet's code ranges."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from django.conf import settings

from dispatch.status import OrderStatus

# error codes (pyonfleet: 1000-1012 validation, 1100-1112 and 1300 permission, 2300-2301 rate
# limit, >= 2500 service; 1402 a resource that does not exist)
INVALID, INVALID_ARGUMENT, MISSING, PRECONDITION = 1000, 1001, 1002, 1003
BAD_CREDENTIALS, FORBIDDEN, NOT_FOUND, TOO_MANY, INTERNAL = 1100, 1300, 1402, 2300, 2500
CODE_NAMES = {INVALID: "InvalidContent", INVALID_ARGUMENT: "InvalidArgument", MISSING: "InvalidContent", PRECONDITION: "PreconditionFailed",
              BAD_CREDENTIALS: "InvalidCredentials", FORBIDDEN: "Forbidden", NOT_FOUND: "ResourceNotFound", TOO_MANY: "TooManyRequests",
              INTERNAL: "InternalError"}
HTTP_OF = {INVALID: 400, INVALID_ARGUMENT: 400, MISSING: 400, PRECONDITION: 409, BAD_CREDENTIALS: 401, FORBIDDEN: 403, NOT_FOUND: 404,
           TOO_MANY: 429, INTERNAL: 500}

TRIGGERS = {"taskStarted": 0, "taskEta": 1, "taskArrival": 2, "taskCompleted": 3, "taskFailed": 4, "workerDuty": 5, "taskCreated": 6,
            "taskUpdated": 7, "taskDeleted": 8, "taskAssigned": 9, "taskUnassigned": 10, "taskDelayed": 12, "taskCloned": 13}
TRIGGER_NAMES = {v: k for k, v in TRIGGERS.items()}

UNASSIGNED, ASSIGNED, ACTIVE, COMPLETED = 0, 1, 2, 3
STATE = {OrderStatus.CREATED: UNASSIGNED, OrderStatus.PLANNED: UNASSIGNED, OrderStatus.ASSIGNED: ASSIGNED, OrderStatus.BOOKED: ASSIGNED,
         OrderStatus.PICKED_UP: ACTIVE, OrderStatus.OUT_FOR_DELIVERY: ACTIVE, OrderStatus.DELIVERED: COMPLETED,
         OrderStatus.FAILED: COMPLETED, OrderStatus.RETURNED: COMPLETED, OrderStatus.CANCELLED: COMPLETED}
# Our order's status change -> the Onfleet trigger an integrator subscribed to.
TRIGGER_OF_STATUS = {OrderStatus.ASSIGNED: "taskAssigned", OrderStatus.BOOKED: "taskAssigned", OrderStatus.PICKED_UP: "taskStarted",
                     OrderStatus.OUT_FOR_DELIVERY: "taskStarted", OrderStatus.DELIVERED: "taskCompleted", OrderStatus.FAILED: "taskFailed",
                     OrderStatus.CANCELLED: "taskDeleted", OrderStatus.PLANNED: "taskUnassigned"}

PREFIX = {"task": "t", "worker": "w", "team": "m", "hub": "h", "destination": "d", "recipient": "r", "organization": "o",
          "webhook": "k", "record": "x"}


class OnfleetError(Exception):
    def __init__(self, code: int, message: str, cause=None):
        super().__init__(message)
        self.code, self.message, self.cause = code, message, cause

    @property
    def status(self) -> int:
        return HTTP_OF.get(self.code, 400)

    def body(self) -> dict:
        return {"code": CODE_NAMES.get(self.code, "Error"),
                "message": {"error": self.code, "message": self.message, "request": uuid.uuid4().hex, "cause": self.cause}}


def oid(kind: str, pk: int) -> str:
    """Our object's id in Onfleet's 24-character form."""
    return f"{PREFIX[kind]}{pk:023d}"


def pk_of(kind: str, value: str) -> int:
    """The primary key behind an id of `kind`; OnfleetError (not found) for anything else."""
    value = str(value or "")
    if len(value) == 24 and value.startswith(PREFIX[kind]) and value[1:].isdigit():
        return int(value[1:])
    raise OnfleetError(NOT_FOUND, f"No {kind} has the id {value[:40]!r}.")


def short_id(pk: int) -> str:
    return f"{pk:08x}"


def ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def from_ms(value, field: str) -> datetime:
    try:
        number = float(value)
        if not 0 <= number < 4e12:
            raise ValueError
        return datetime.fromtimestamp(number / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        raise OnfleetError(INVALID_ARGUMENT, f"{field} is a time in milliseconds since 1970 (e.g. 1733580000000).") from None


def destination_of(order) -> dict:
    return {"id": oid("destination", order.pk), "timeCreated": ms(order.created_at), "timeLastModified": ms(order.updated_at),
            "location": [order.lon, order.lat], "address": {"unparsed": order.address, "street": order.address, "number": "",
                                                            "city": "", "country": "", "apartment": "", "postalCode": ""},
            "notes": order.instructions, "metadata": []}


def recipient_of(order) -> dict:
    return {"id": oid("recipient", order.pk), "organization": oid("organization", order.organization_id), "timeCreated": ms(order.created_at),
            "timeLastModified": ms(order.updated_at), "name": order.customer_name, "phone": order.customer_phone, "notes": "",
            "skipSMSNotifications": False, "metadata": []}


def task_of(order, *, worker_id: str | None = None) -> dict:
    state = STATE[order.status]
    completion = {"success": order.status == OrderStatus.DELIVERED, "time": ms(order.delivered_at) if state == COMPLETED else None,
                  "notes": "", "failureReason": order.failure_reason.upper() if order.failure_reason else "NONE", "events": [],
                  "actions": [], "firstLocation": [], "lastLocation": [], "unavailableAttachments": []}
    return {
        "id": oid("task", order.pk), "shortId": short_id(order.pk), "timeCreated": ms(order.created_at),
        "timeLastModified": ms(order.updated_at), "organization": oid("organization", order.organization_id),
        "trackingURL": f"{settings.PUBLIC_BASE_URL}/track/{order.tracking_token}/", "worker": worker_id, "merchant": oid("organization", order.organization_id),
        "executor": oid("organization", order.organization_id), "creator": None, "dependencies": [], "state": state,
        "completeAfter": ms(order.window_start), "completeBefore": ms(order.window_end), "pickupTask": False,
        "notes": order.instructions, "completionDetails": completion, "feedback": [],
        "metadata": [{"name": "external_ref", "type": "string", "value": order.external_ref, "visibility": ["api"]},
                     {"name": "service_level", "type": "string", "value": order.service_level, "visibility": ["api"]},
                     {"name": "weight_kg", "type": "number", "value": order.weight_kg, "visibility": ["api"]}],
        "overrides": {}, "quantity": 0, "serviceTime": order.service_min, "trackingViewed": False,
        "container": ({"type": "WORKER", "worker": worker_id} if worker_id else {"type": "ORGANIZATION",
                                                                                 "organization": oid("organization", order.organization_id)}),
        "recipients": [recipient_of(order)], "destination": destination_of(order),
        "estimatedCompletionTime": ms(order.eta) if state in (ASSIGNED, ACTIVE) else None,
        "estimatedArrivalCount": 0, "eta": ms(order.eta),
    }
