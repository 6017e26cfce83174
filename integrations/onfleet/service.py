"""The Onfleet-compatible API's operations on our objects: a task is an order (made and changed by
the order services, with the API's rules), a worker a driver with the van of their shift, a team
a fleet, a hub a hub. Every read and write is scoped to the caller's organization: another
organization's id reads as one that does not exist."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from carriers import egress
from carriers.models import WebhookSubscription
from dispatch import clock
from dispatch.errors import Conflict, DomainError, InvalidTransition, ValidationFailed
from dispatch.models import Driver, Fleet, Hub, Order, Organization, Shift, Vehicle
from dispatch.selectors.travel import learned_factor, travel_factors, travel_model
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.orders import order_cancel, order_set_status, order_update, orders_create, windows_for_level
from dispatch.status import DutyStatus, FailureReason, OrderStatus, ServiceLevel
from planner.travel import haversine_km

from ..intake import order_check
from ..models import OnfleetAccount, OnfleetRecord
from .shapes import (
    ACTIVE,
    ASSIGNED,
    COMPLETED,
    INVALID,
    INVALID_ARGUMENT,
    MISSING,
    NOT_FOUND,
    PRECONDITION,
    STATE,
    TRIGGER_NAMES,
    TRIGGERS,
    OnfleetError,
    destination_of,
    from_ms,
    ms,
    oid,
    pk_of,
    recipient_of,
    task_of,
)

PAGE = 64
SKILLS = ("bulky", "regulated", "cold", "fragile")
DEFAULT_WINDOW = timedelta(hours=4)
ACTOR = ActorRef.system("Onfleet-compatible API")


def _domain(exc: DomainError) -> OnfleetError:
    if isinstance(exc, ValidationFailed):
        return OnfleetError(INVALID, exc.message, cause=exc.errors or None)
    if isinstance(exc, (Conflict, InvalidTransition)):
        return OnfleetError(PRECONDITION, exc.message)
    return OnfleetError(INVALID, exc.message)


# --- who drives what ------------------------------------------------------------------------------


def _shifts_now(org: int):
    now = clock.now()
    return (Shift.objects.filter(driver__organization_id=org, starts_at__lte=now + timedelta(hours=12), ends_at__gt=now, ended_at__isnull=True)
            .select_related("driver", "vehicle", "vehicle__fleet").order_by("starts_at"))


def _driver_of_van(org: int) -> dict[int, int]:
    """{vehicle id: driver id} for the shifts under way or next today."""
    out: dict[int, int] = {}
    for shift in _shifts_now(org):
        out.setdefault(shift.vehicle_id, shift.driver_id)
    return out


def _worker_id(order: Order, drivers: dict[int, int]) -> str | None:
    driver = drivers.get(order.vehicle_id) if order.vehicle_id else None
    return oid("worker", driver) if driver else None


def tasks_json(org: int, orders) -> list[dict]:
    drivers = _driver_of_van(org)
    return [task_of(o, worker_id=_worker_id(o, drivers)) for o in orders]


def task_json(order: Order) -> dict:
    return tasks_json(order.organization_id, [order])[0]


def _order(org: int, task_id: str, *, lock: bool = False) -> Order:
    qs = Order.objects.filter(organization_id=org, pk=pk_of("task", task_id)).exclude(status=OrderStatus.CANCELLED)
    order = (qs.select_for_update(of=("self",)) if lock else qs).select_related("hub", "vehicle").first()
    if order is None:
        raise OnfleetError(NOT_FOUND, f"No task has the id {task_id[:40]!r}.")
    return order


def task_get(org: int, task_id: str) -> dict:
    return task_json(_order(org, task_id))


def task_by_short_id(org: int, short: str) -> dict:
    try:
        pk = int(short, 16)
    except ValueError:
        raise OnfleetError(NOT_FOUND, f"No task has the short id {short[:20]!r}.") from None
    return task_get(org, oid("task", pk))


# --- tasks in ---------------------------------------------------------------------------------


def _metadata(body: dict) -> dict:
    items = body.get("metadata") or []
    if not isinstance(items, list):
        raise OnfleetError(INVALID_ARGUMENT, "metadata is a list of {name, type, value}.")
    return {str(m.get("name")): m.get("value") for m in items if isinstance(m, dict) and m.get("name")}


def _destination(org: int, value) -> dict:
    """{address, lat, lon, notes} of a destination given inline or by id."""
    if isinstance(value, str):
        if value.startswith("d"):
            order = Order.objects.filter(organization_id=org, pk=pk_of("destination", value)).first()
            if order is None:
                raise OnfleetError(NOT_FOUND, f"No destination has the id {value[:40]!r}.")
            return {"address": order.address, "lat": order.lat, "lon": order.lon, "notes": order.instructions}
        value = _record(org, "destination", value)
    if not isinstance(value, dict):
        raise OnfleetError(MISSING, "A task needs a destination: {address: {...}, location: [longitude, latitude]} or a destination id.")
    address = value.get("address") or {}
    if isinstance(address, str):
        address = {"unparsed": address}
    text = address.get("unparsed") or ", ".join(
        str(p) for p in (" ".join(str(x) for x in (address.get("number"), address.get("street")) if x), address.get("apartment"),
                         address.get("city"), address.get("postalCode")) if p)
    location = value.get("location")
    if location is None:
        known = (Order.objects.filter(organization_id=org, address__iexact=text).exclude(lat=0, lon=0)
                 .order_by("-created_at").values_list("lat", "lon").first()) if text else None
        if not known:
            raise OnfleetError(INVALID, "This control tower does not geocode: send the destination's location as [longitude, latitude].",
                               cause={"address": text})
        lat, lon = known
    else:
        if not (isinstance(location, list) and len(location) == 2 and all(isinstance(x, (int, float)) for x in location)):
            raise OnfleetError(INVALID_ARGUMENT, "destination.location is [longitude, latitude], two numbers.")
        lon, lat = float(location[0]), float(location[1])
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise OnfleetError(INVALID_ARGUMENT, "destination.location is [longitude, latitude], two numbers.")
    if not text:
        raise OnfleetError(MISSING, "The destination needs an address (address.unparsed, or number, street and city).")
    return {"address": text[:300], "lat": lat, "lon": lon, "notes": str(value.get("notes") or "")}


def _recipient(org: int, recipients) -> dict:
    if recipients in (None, []):
        return {"name": "Customer", "phone": ""}
    if not isinstance(recipients, list):
        raise OnfleetError(INVALID_ARGUMENT, "recipients is a list of recipients or recipient ids.")
    first = recipients[0]
    if isinstance(first, str):
        if first.startswith("r"):
            order = Order.objects.filter(organization_id=org, pk=pk_of("recipient", first)).first()
            if order is None:
                raise OnfleetError(NOT_FOUND, f"No recipient has the id {first[:40]!r}.")
            return {"name": order.customer_name, "phone": order.customer_phone}
        first = _record(org, "recipient", first)
    if not isinstance(first, dict) or not str(first.get("name") or "").strip():
        raise OnfleetError(MISSING, "A recipient needs a name.")
    return {"name": str(first["name"]).strip()[:200], "phone": str(first.get("phone") or "")[:40]}


def _hub_for(org: int, body: dict, meta: dict, lat: float, lon: float) -> Hub:
    hubs = list(Hub.objects.filter(organization_id=org))
    if not hubs:
        raise OnfleetError(PRECONDITION, "The organization has no hub yet: add one under Settings → Network.")
    if meta.get("hub"):
        hub = next((h for h in hubs if h.code == str(meta["hub"])), None)
        if hub is None:
            raise OnfleetError(INVALID_ARGUMENT, f"No hub has the code {str(meta['hub'])[:40]!r}.")
        return hub
    container = body.get("container") or {}
    if isinstance(container, dict) and container.get("type") == "TEAM" and container.get("team"):
        fleet = Fleet.objects.filter(organization_id=org, pk=pk_of("team", container["team"])).select_related("hub").first()
        if fleet is None:
            raise OnfleetError(NOT_FOUND, "No team has that id.")
        return fleet.hub
    return min(hubs, key=lambda h: haversine_km(h.lat, h.lon, lat, lon))


def _fields(org: int, body: dict, *, new: bool) -> tuple[dict, list[str]]:
    """Our order's fields from a task body; OnfleetError names what does not fit."""
    if not isinstance(body, dict):
        raise OnfleetError(INVALID, "The body is a JSON object (a task).")
    if body.get("pickupTask"):
        raise OnfleetError(INVALID_ARGUMENT, "Pickup tasks are not separate here: each delivery includes its pickup at its hub.")
    meta = _metadata(body)
    dest = _destination(org, body.get("destination"))
    who = _recipient(org, body.get("recipients"))
    level = str(meta.get("service_level") or ServiceLevel.SAME_DAY)
    if level not in ServiceLevel.values:
        raise OnfleetError(INVALID_ARGUMENT, f"metadata service_level is one of {', '.join(ServiceLevel.values)}.")
    hub = _hub_for(org, body, meta, dest["lat"], dest["lon"])
    if body.get("completeBefore") is not None or body.get("completeAfter") is not None:
        before = from_ms(body["completeBefore"], "completeBefore") if body.get("completeBefore") is not None else None
        after = from_ms(body["completeAfter"], "completeAfter") if body.get("completeAfter") is not None else None
        after = after or max(clock.now(), (before or clock.now()) - DEFAULT_WINDOW)
        before = before or after + DEFAULT_WINDOW
    else:
        offered = windows_for_level(org, level, length=DEFAULT_WINDOW, count=1)
        if not offered:
            raise OnfleetError(PRECONDITION, "No window can be promised in the next days: send completeAfter and completeBefore.")
        after, before = offered[0]
    try:
        weight = float(meta.get("weight_kg") if meta.get("weight_kg") is not None else (body.get("quantity") or 1))
        service = float(body.get("serviceTime") if body.get("serviceTime") is not None else 4)
    except (TypeError, ValueError):
        raise OnfleetError(INVALID_ARGUMENT, "quantity, serviceTime and metadata weight_kg are numbers.") from None
    if not (math.isfinite(weight) and math.isfinite(service) and 0 <= service <= 240):
        raise OnfleetError(INVALID_ARGUMENT, "serviceTime is 0 to 240 minutes; quantity and weight_kg are numbers.")
    requires = meta.get("requires") or []
    requires = [r for r in (requires if isinstance(requires, list) else str(requires).split(",")) if r]
    if any(r not in SKILLS for r in requires):
        raise OnfleetError(INVALID_ARGUMENT, f"metadata requires lists handling from {', '.join(SKILLS)}.")
    ref = str(meta.get("external_ref") or f"OF-{uuid.uuid4().hex[:12]}")
    data = {"external_ref": ref[:100], "hub": hub.code, "address": dest["address"], "lat": dest["lat"], "lon": dest["lon"],
            "window_start": after, "window_end": before, "service_level": level, "weight_kg": weight, "requires": requires,
            "service_min": service, "customer_name": who["name"], "customer_email": str(meta.get("email") or ""),
            "customer_phone": who["phone"], "instructions": str(body.get("notes") or dest["notes"] or "")[:500]}
    warnings: list[str] = []
    try:
        order_check(data, warnings, new=new)
    except ValidationFailed as exc:
        raise _domain(exc) from None
    return data, warnings


def _assign_to_worker(org: int, order: Order, container) -> None:
    if not (isinstance(container, dict) and container.get("type") == "WORKER"):
        return
    driver_pk = pk_of("worker", container.get("worker", ""))
    shift = next((s for s in _shifts_now(org) if s.driver_id == driver_pk), None)
    if shift is None:
        raise OnfleetError(PRECONDITION, "That worker has no shift under way or later today: no van to put the task on.")
    locked = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    assignment_to_vehicle(order=locked, vehicle=shift.vehicle, actor=ACTOR, reason="assigned by an integrator")


@transaction.atomic
def task_create(org: int, body: dict) -> Order:
    data, _ = _fields(org, body, new=True)
    if Order.objects.filter(organization_id=org, external_ref=data["external_ref"]).exists():
        raise OnfleetError(INVALID_ARGUMENT, f"A task with metadata external_ref {data['external_ref']!r} exists already.")
    try:
        [order] = orders_create(organization_id=org, orders=[data], actor=ACTOR)
    except DomainError as exc:
        raise _domain(exc) from None
    _assign_to_worker(org, order, body.get("container"))
    return Order.objects.select_related("hub", "vehicle").get(pk=order.pk)


def task_batch(org: int, body) -> tuple[list[Order], list[dict]]:
    tasks = (body or {}).get("tasks") if isinstance(body, dict) else None
    if not isinstance(tasks, list) or not tasks:
        raise OnfleetError(MISSING, 'A batch is {"tasks": [task, ...]}.')
    if len(tasks) > 100:
        raise OnfleetError(INVALID_ARGUMENT, "At most 100 tasks in one batch.")
    made, errors = [], []
    for i, task in enumerate(tasks):
        try:
            made.append(task_create(org, task))
        except OnfleetError as exc:
            errors.append({"statusCode": exc.status, "errorCode": exc.code, "message": exc.message, "cause": exc.cause, "index": i})
    return made, errors


@transaction.atomic
def task_update(org: int, task_id: str, body: dict) -> Order:
    order = _order(org, task_id, lock=True)
    if not isinstance(body, dict):
        raise OnfleetError(INVALID, "The body is a JSON object (the task's fields to change).")
    changes: dict = {}
    if "notes" in body:
        changes["instructions"] = str(body.get("notes") or "")[:500]
    if "completeAfter" in body:
        changes["window_start"] = from_ms(body["completeAfter"], "completeAfter")
    if "completeBefore" in body:
        changes["window_end"] = from_ms(body["completeBefore"], "completeBefore")
    if "destination" in body:
        dest = _destination(org, body["destination"])
        changes.update(address=dest["address"], lat=dest["lat"], lon=dest["lon"])
    if "recipients" in body:
        who = _recipient(org, body["recipients"])
        changes.update(customer_name=who["name"], customer_phone=who["phone"])
    if "serviceTime" in body:
        changes["service_min"] = float(body["serviceTime"])
    try:
        order = order_update(organization_id=org, order_id=order.id, changes=changes, actor=ACTOR)
    except DomainError as exc:
        raise _domain(exc) from None
    if "container" in body:
        _assign_to_worker(org, order, body["container"])
    return Order.objects.select_related("hub", "vehicle").get(pk=order.pk)


def task_delete(org: int, task_id: str) -> None:
    order = _order(org, task_id)
    if STATE[order.status] == ACTIVE:
        raise OnfleetError(PRECONDITION, "The task is active (the parcel is on its way): it cannot be deleted.")
    if STATE[order.status] == COMPLETED:
        raise OnfleetError(PRECONDITION, "The task is completed: it cannot be deleted.")
    try:
        order_cancel(organization_id=org, order_id=order.id, actor=ACTOR, reason="deleted by an integrator")
    except DomainError as exc:
        raise _domain(exc) from None


@transaction.atomic
def task_clone(org: int, task_id: str) -> Order:
    src = _order(org, task_id)
    data = {k: getattr(src, k) for k in ("hub_id", "address", "lat", "lon", "service_level", "weight_kg", "requires", "service_min",
                                         "customer_name", "customer_email", "customer_phone", "instructions", "window_start", "window_end")}
    data["hub"] = src.hub.code
    del data["hub_id"]
    if data["window_end"] < clock.now():
        offered = windows_for_level(org, src.service_level, length=src.window_end - src.window_start, count=1)
        if not offered:
            raise OnfleetError(PRECONDITION, "The task's window is over and no new one can be promised.")
        data["window_start"], data["window_end"] = offered[0]
    data["external_ref"] = f"{src.external_ref}-C{uuid.uuid4().hex[:4]}"[:100]
    try:
        [order] = orders_create(organization_id=org, orders=[data], actor=ACTOR)
    except DomainError as exc:
        raise _domain(exc) from None
    return order


def task_complete(org: int, task_id: str, body) -> None:
    """Force-complete: delivered (success) or failed, from wherever the task is; a task not yet
    picked up is picked up first (its van, if any, had it on board)."""
    details = (body or {}).get("completionDetails") if isinstance(body, dict) else None
    if not isinstance(details, dict) or not isinstance(details.get("success"), bool):
        raise OnfleetError(MISSING, 'Send {"completionDetails": {"success": true or false, "notes": "..."}}.')
    order = _order(org, task_id)
    if STATE[order.status] == COMPLETED:
        raise OnfleetError(PRECONDITION, "The task is completed already.")
    notes = str(details.get("notes") or "")[:200]
    try:
        with transaction.atomic():
            if STATE[order.status] != ACTIVE:
                order_set_status(organization_id=org, order_id=order.id, status=OrderStatus.PICKED_UP, actor=ACTOR, reason="force-completed")
            order_set_status(organization_id=org, order_id=order.id, actor=ACTOR, reason=notes or "force-completed",
                             status=OrderStatus.DELIVERED if details["success"] else OrderStatus.FAILED,
                             failure_reason="" if details["success"] else FailureReason.OTHER)
    except DomainError as exc:
        raise _domain(exc) from None


def tasks_list(org: int, query) -> tuple[list[Order], str | None]:
    if not query.get("from"):
        raise OnfleetError(MISSING, "from is required: the time (ms) from which tasks were created.")
    qs = Order.objects.filter(organization_id=org, created_at__gte=from_ms(query["from"], "from")).exclude(status=OrderStatus.CANCELLED)
    if query.get("to"):
        qs = qs.filter(created_at__lte=from_ms(query["to"], "to"))
    if query.get("state"):
        try:
            states = {int(s) for s in str(query["state"]).split(",")}
        except ValueError:
            raise OnfleetError(INVALID_ARGUMENT, "state is a comma-separated list of 0 (unassigned), 1, 2 and 3 (completed).") from None
        qs = qs.filter(status__in=[s for s, v in STATE.items() if v in states])
    if query.get("worker"):
        drivers = {v: k for k, v in _driver_of_van(org).items()}
        qs = qs.filter(vehicle_id=drivers.get(pk_of("worker", query["worker"]), -1))
    if query.get("lastId"):
        qs = qs.filter(pk__gt=pk_of("task", query["lastId"]))
    page = list(qs.select_related("hub", "vehicle").order_by("pk")[:PAGE + 1])
    more = len(page) > PAGE
    page = page[:PAGE]
    return page, (oid("task", page[-1].pk) if more and page else None)


# --- destinations and recipients kept on their own --------------------------------------------


def _record(org: int, kind: str, record_id: str) -> dict:
    pk = pk_of("record", record_id)
    record = OnfleetRecord.objects.filter(organization_id=org, kind=kind, pk=pk).first()
    if record is None:
        raise OnfleetError(NOT_FOUND, f"No {kind} has the id {record_id[:40]!r}.")
    return record.data


def record_create(org: int, kind: str, body) -> dict:
    if kind == "destination":
        _destination(org, body)  # holds it to a task's rules
    elif not isinstance(body, dict) or not str(body.get("name") or "").strip():
        raise OnfleetError(MISSING, "A recipient needs a name.")
    record = OnfleetRecord.objects.create(organization_id=org, kind=kind, data=body, key=str(body.get("phone") or "")[:40],
                                          name=str(body.get("name") or "")[:200])
    return record_json(record)


def record_json(record: OnfleetRecord) -> dict:
    now = ms(record.created_at)
    base = {"id": oid("record", record.pk), "timeCreated": now, "timeLastModified": ms(record.updated_at),
            "organization": oid("organization", record.organization_id), "metadata": record.data.get("metadata") or []}
    if record.kind == "destination":
        dest = _destination(record.organization_id, record.data)
        return {**base, "location": [dest["lon"], dest["lat"]], "address": {"unparsed": dest["address"]}, "notes": dest["notes"]}
    return {**base, "name": record.data.get("name"), "phone": record.data.get("phone") or "", "notes": record.data.get("notes") or "",
            "skipSMSNotifications": bool(record.data.get("skipSMSNotifications"))}


def record_get(org: int, kind: str, record_id: str) -> dict:
    if kind == "destination" and record_id.startswith("d"):
        order = Order.objects.filter(organization_id=org, pk=pk_of("destination", record_id)).first()
        if order is None:
            raise OnfleetError(NOT_FOUND, f"No destination has the id {record_id[:40]!r}.")
        return destination_of(order)
    if kind == "recipient" and record_id.startswith("r"):
        order = Order.objects.filter(organization_id=org, pk=pk_of("recipient", record_id)).first()
        if order is None:
            raise OnfleetError(NOT_FOUND, f"No recipient has the id {record_id[:40]!r}.")
        return recipient_of(order)
    record = OnfleetRecord.objects.filter(organization_id=org, kind=kind, pk=pk_of("record", record_id)).first()
    if record is None:
        raise OnfleetError(NOT_FOUND, f"No {kind} has the id {record_id[:40]!r}.")
    return record_json(record)


def recipient_find(org: int, *, name: str = "", phone: str = "") -> dict:
    q = Q(name__iexact=name) if name else Q(key=phone)
    record = OnfleetRecord.objects.filter(q, organization_id=org, kind="recipient").order_by("-pk").first()
    if record is None:
        raise OnfleetError(NOT_FOUND, f"No recipient has the {'name' if name else 'phone'} {(name or phone)[:40]!r}.")
    return record_json(record)


def recipient_update(org: int, record_id: str, body) -> dict:
    record = OnfleetRecord.objects.filter(organization_id=org, kind="recipient", pk=pk_of("record", record_id)).first()
    if record is None:
        raise OnfleetError(NOT_FOUND, f"No recipient has the id {record_id[:40]!r}.")
    if not isinstance(body, dict):
        raise OnfleetError(INVALID, "The body is a JSON object.")
    record.data = {**record.data, **{k: v for k, v in body.items() if k in ("name", "phone", "notes", "skipSMSNotifications", "metadata")}}
    record.name, record.key = str(record.data.get("name") or "")[:200], str(record.data.get("phone") or "")[:40]
    record.save()
    return record_json(record)


# --- workers, teams, hubs, the organization ---------------------------------------------------


def _driver(org: int, worker_id: str) -> Driver:
    driver = Driver.objects.filter(organization_id=org, pk=pk_of("worker", worker_id)).first()
    if driver is None:
        raise OnfleetError(NOT_FOUND, f"No worker has the id {worker_id[:40]!r}.")
    return driver


def worker_json(driver: Driver, shift: Shift | None) -> dict:
    van: Vehicle | None = shift.vehicle if shift else None
    tasks = list(Order.objects.filter(vehicle=van, status__in=[s for s, v in STATE.items() if v in (ASSIGNED, ACTIVE)])
                 .order_by("window_end").values_list("pk", "status")) if van else []
    active = next((pk for pk, status in tasks if STATE[status] == ACTIVE), None)
    return {
        "id": oid("worker", driver.pk), "timeCreated": None, "timeLastModified": ms(driver.status_at),
        "organization": oid("organization", driver.organization_id), "name": driver.name, "displayName": driver.name,
        "phone": driver.phone, "activeTask": oid("task", active) if active else None, "tasks": [oid("task", pk) for pk, _ in tasks],
        "onDuty": driver.status == DutyStatus.ON_DUTY or bool(shift and shift.started_at), "timeLastSeen": ms(van.position_at) if van else None,
        "capacity": int(van.capacity_kg) if van else 0, "userData": {}, "accountStatus": "ACCEPTED", "metadata": [], "imageUrl": None,
        "teams": [oid("team", van.fleet_id)] if van else [], "location": [van.lon, van.lat] if van and van.lat is not None else None,
        "vehicle": ({"id": oid("record", van.pk), "type": "TRUCK", "description": van.code, "licensePlate": van.code, "color": ""}
                    if van else None),
        "delayTime": None, "hasRecentlyUsedSpoofedLocations": False,
    }


def _shift_of(org: int) -> dict[int, Shift]:
    out: dict[int, Shift] = {}
    for shift in _shifts_now(org):
        out.setdefault(shift.driver_id, shift)
    return out


def workers_list(org: int) -> list[dict]:
    shifts = _shift_of(org)
    return [worker_json(d, shifts.get(d.pk)) for d in Driver.objects.filter(organization_id=org).order_by("pk")]


def worker_get(org: int, worker_id: str) -> dict:
    driver = _driver(org, worker_id)
    return worker_json(driver, _shift_of(org).get(driver.pk))


def workers_near(org: int, query) -> list[dict]:
    try:
        lon, lat = float(query.get("longitude")), float(query.get("latitude"))
        radius_km = float(query.get("radius") or 1000) / 1000
    except (TypeError, ValueError):
        raise OnfleetError(MISSING, "longitude and latitude are required numbers (radius in metres, 1000 when left out).") from None
    shifts = _shift_of(org)
    out = []
    for driver in Driver.objects.filter(organization_id=org, pk__in=shifts).order_by("pk"):
        van = shifts[driver.pk].vehicle
        if van.lat is not None and haversine_km(lat, lon, van.lat, van.lon) <= radius_km:
            out.append(worker_json(driver, shifts[driver.pk]))
    return out


def worker_tasks(org: int, worker_id: str) -> list[Order]:
    driver = _driver(org, worker_id)
    shift = _shift_of(org).get(driver.pk)
    if shift is None:
        return []
    return list(Order.objects.filter(vehicle=shift.vehicle).exclude(status=OrderStatus.CANCELLED).select_related("hub", "vehicle").order_by("pk"))


def worker_schedule(org: int, worker_id: str) -> dict:
    driver = _driver(org, worker_id)
    tz = timezone.get_current_timezone_name()
    days: dict[str, list] = {}
    since = clock.now() - timedelta(days=1)
    for shift in Shift.objects.filter(driver=driver, ends_at__gte=since).order_by("starts_at")[:60]:
        day = timezone.localtime(shift.starts_at).date().isoformat()
        days.setdefault(day, []).append([ms(shift.starts_at), ms(shift.ends_at)])
    return {"entries": [{"date": day, "timezone": tz, "shifts": shifts} for day, shifts in days.items()]}


def _fleet(org: int, team_id: str) -> Fleet:
    fleet = Fleet.objects.filter(organization_id=org, pk=pk_of("team", team_id)).select_related("hub").first()
    if fleet is None:
        raise OnfleetError(NOT_FOUND, f"No team has the id {team_id[:40]!r}.")
    return fleet


def team_json(fleet: Fleet, shifts: dict[int, Shift]) -> dict:
    workers = [oid("worker", d) for d, s in shifts.items() if s.vehicle.fleet_id == fleet.pk]
    return {"id": oid("team", fleet.pk), "timeCreated": None, "timeLastModified": None, "name": fleet.name, "workers": workers,
            "managers": [], "hub": oid("hub", fleet.hub_id), "tasks": [], "enableSelfAssignment": False}


def teams_list(org: int) -> list[dict]:
    shifts = _shift_of(org)
    return [team_json(f, shifts) for f in Fleet.objects.filter(organization_id=org).select_related("hub").order_by("pk")]


def team_get(org: int, team_id: str) -> dict:
    return team_json(_fleet(org, team_id), _shift_of(org))


def team_tasks(org: int, team_id: str, query) -> tuple[list[Order], str | None]:
    fleet = _fleet(org, team_id)
    qs = (Order.objects.filter(organization_id=org).filter(Q(vehicle__fleet=fleet) | Q(hub=fleet.hub, vehicle__isnull=True, carrier__isnull=True))
          .exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.RETURNED]))
    if query.get("lastId"):
        qs = qs.filter(pk__gt=pk_of("task", query["lastId"]))
    page = list(qs.select_related("hub", "vehicle").order_by("pk")[:PAGE + 1])
    return page[:PAGE], (oid("task", page[PAGE - 1].pk) if len(page) > PAGE else None)


def team_estimate(org: int, team_id: str, query) -> dict:
    """The soonest any of the team's vans on shift could reach the drop-off (and the pick-up first,
    when given), by the product's travel model with what it learned of this hub and hour."""
    fleet = _fleet(org, team_id)

    def point(name: str):
        raw = query.get(name)
        if not raw:
            return None
        try:
            lon, lat = (float(x) for x in str(raw).split(","))
        except ValueError:
            raise OnfleetError(INVALID_ARGUMENT, f"{name} is longitude,latitude.") from None
        return lat, lon

    drop, pick = point("dropoffLocation"), point("pickupLocation")
    if drop is None:
        raise OnfleetError(MISSING, "dropoffLocation (longitude,latitude) is required.")
    try:
        service_min = float(query.get("serviceTime") or 0) / 60
    except ValueError:
        raise OnfleetError(INVALID_ARGUMENT, "serviceTime is in seconds.") from None
    factors = travel_factors(organization_id=org)
    hour = timezone.localtime(clock.now()).hour
    factor = learned_factor(factors, fleet.hub_id, hour) if factors else 1.0
    best = None
    for driver_id, shift in _shift_of(org).items():
        van = shift.vehicle
        if van.fleet_id != fleet.pk or van.lat is None or van.status != DutyStatus.ON_DUTY:
            continue
        legs, here, seconds = [], (van.lat, van.lon), 0.0
        stops = [p for p in (pick, drop) if p]
        for stop, (_, drive) in zip(stops, travel_model().legs([here, *stops])):
            travel = drive * factor * 60
            seconds += travel
            arrival = clock.now() + timedelta(seconds=seconds)
            seconds += service_min * 60
            legs.append({"location": [stop[1], stop[0]], "travelTime": round(travel), "serviceTime": round(service_min * 60),
                         "arrivalTime": ms(arrival), "completionTime": ms(clock.now() + timedelta(seconds=seconds))})
            here = stop
        if best is None or seconds < best["estimate"]:
            best = {"workerId": oid("worker", driver_id), "vehicle": "TRUCK", "steps": legs, "estimate": round(seconds)}
    if best is None:
        raise OnfleetError(PRECONDITION, "No van of this team is on shift with a known position.")
    return best


def hub_json(hub: Hub) -> dict:
    return {"id": oid("hub", hub.pk), "name": hub.name, "location": [hub.lon, hub.lat],
            "address": {"unparsed": getattr(hub, "address", "") or hub.name},
            "teams": [oid("team", pk) for pk in hub.fleets.values_list("pk", flat=True)]}


def hubs_list(org: int) -> list[dict]:
    return [hub_json(h) for h in Hub.objects.filter(organization_id=org).order_by("pk")]


def organization_json(org: int) -> dict:
    o = Organization.objects.get(pk=org)
    return {"id": oid("organization", o.pk), "timeCreated": None, "timeLastModified": None, "name": o.name, "email": "",
            "type": "SHIPPER", "timezone": getattr(o, "time_zone", "") or timezone.get_current_timezone_name(), "country": "",
            "delegatees": [], "image": None}


# --- webhooks ---------------------------------------------------------------------------------


def account(org: int) -> OnfleetAccount:
    found = OnfleetAccount.objects.filter(organization_id=org).first()
    if found:
        return found
    found, _ = OnfleetAccount.objects.get_or_create(organization_id=org, defaults={"webhook_secret": secrets.token_hex(32)})
    return found


def signature(body: bytes, secret_hex: str) -> str:
    """X-Onfleet-Signature: HMAC-SHA512 of the raw body, keyed with the organization's secret read as hex."""
    return hmac.new(bytes.fromhex(secret_hex), body, hashlib.sha512).hexdigest()


def webhook_json(sub: WebhookSubscription) -> dict:
    return {"id": oid("webhook", sub.pk), "count": sub.deliveries.filter(status="delivered").count(), "url": sub.url,
            "trigger": sub.trigger, "isEnabled": sub.active, "name": sub.name, "threshold": None}


def webhook_create(org: int, body) -> dict:
    """Onfleet's handshake first: a GET to the URL with ?check=<value> must answer 200 with that
    value as its body (no transaction open while we wait)."""
    if not isinstance(body, dict) or not body.get("url") or body.get("trigger") is None:
        raise OnfleetError(MISSING, "A webhook needs url and trigger.")
    try:
        trigger = int(body["trigger"])
    except (TypeError, ValueError):
        trigger = -1
    if trigger not in TRIGGER_NAMES:
        raise OnfleetError(INVALID_ARGUMENT, f"trigger is one of {', '.join(f'{v} ({k})' for k, v in TRIGGERS.items())}.")
    url = str(body["url"])[:500]
    check = secrets.token_hex(12)
    try:
        r = egress.request("GET", url, params={"check": check}, timeout=10)
    except egress.UnsafeURL as exc:
        raise OnfleetError(INVALID_ARGUMENT, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the integrator's to fix
        raise OnfleetError(INVALID_ARGUMENT, f"The webhook URL could not be reached for its check ({type(exc).__name__}).") from None
    if r.status_code != 200 or r.text.strip() != check:
        raise OnfleetError(INVALID_ARGUMENT, f"The webhook URL must answer the check with 200 and the value of ?check= as its body "
                                             f"(it answered {r.status_code}).")
    sub = WebhookSubscription.objects.create(organization_id=org, url=url, secret=account(org).webhook_secret, style="onfleet",
                                             trigger=trigger, name=str(body.get("name") or "")[:100], event_types=[])
    return webhook_json(sub)


def webhooks_list(org: int) -> list[dict]:
    return [webhook_json(s) for s in WebhookSubscription.objects.filter(organization_id=org, style="onfleet", active=True).order_by("pk")]


def webhook_delete(org: int, webhook_id: str) -> None:
    done = WebhookSubscription.objects.filter(organization_id=org, style="onfleet", pk=pk_of("webhook", webhook_id), active=True).update(active=False)
    if not done:
        raise OnfleetError(NOT_FOUND, f"No webhook has the id {webhook_id[:40]!r}.")

