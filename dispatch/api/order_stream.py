"""A large order file, streamed: read row by row from disk (never whole in memory), each row held
to the rules of the API's order serializer by a validator written for speed (the serializer costs
about 0.7 ms a row; this about a twentieth of it) that a contract test keeps in step with it
(tests/dispatch/test_order_stream.py: the same verdict, column by column, on every kind of row),
then the service level's promise and the references, and the valid rows inserted in batches in
one transaction: all of the file or none of it. The orders are told to integrators one by one and
to live screens once (orders.imported)."""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.dateparse import parse_datetime

from dispatch import clock
from dispatch.errors import ValidationFailed
from dispatch.models import Hub, Order
from dispatch.selectors.configuration import one_policy_read
from dispatch.services import ActorRef
from dispatch.services.orders import order_build, orders_imported, orders_insert_many, promise_check
from dispatch.status import ProofKind, ServiceLevel

from .order_files import FileRefused, read_header
from .serializers import MAX_WINDOW_AHEAD, MAX_WINDOW_LENGTH, REF, SKILLS

BATCH = 2000
ERRORS_KEPT = 1000
ORDERS_SHOWN = 100
_REF = re.compile(REF)
_LEVELS = frozenset(ServiceLevel.values)
_PROOFS = frozenset(ProofKind.values)
_SKILLS = frozenset(SKILLS)
_NAIVE = "Give the time with its UTC offset, e.g. 2026-11-22T14:00:00-06:00 or …Z."


def _float(cells, col, errors, lo, hi, default=None):
    raw = cells.get(col, "")
    if raw == "":
        if default is None:
            errors.append((col, "This field is required."))
        return default
    try:
        value = float(raw)
    except ValueError:
        errors.append((col, "A valid number is required."))
        return None
    if not math.isfinite(value):
        errors.append((col, "Must be a finite number (not NaN or infinity)."))
        return None
    if value < lo:
        errors.append((col, f"Ensure this value is greater than or equal to {lo}."))
        return None
    if value > hi:
        errors.append((col, f"Ensure this value is less than or equal to {hi}."))
        return None
    return value


def _time(cells, col, errors, required=True):
    raw = cells.get(col, "")
    if raw == "":
        if required:
            errors.append((col, "This field is required."))
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        errors.append((col, "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."))
        return None
    if value.tzinfo is None:
        errors.append((col, _NAIVE))
        return None
    if not 2000 <= value.year <= 2100:
        errors.append((col, "The year must be from 2000 to 2100."))
        return None
    return value


def _text(cells, col, errors, max_length, required=True):
    value = cells.get(col, "")
    if value == "":
        if required:
            errors.append((col, "This field is required."))
        return None
    if len(value) > max_length:
        errors.append((col, f"Ensure this field has no more than {max_length} characters."))
        return None
    if "\x00" in value:
        errors.append((col, "Null characters are not allowed."))
        return None
    return value


def _choices(cells, col, errors, allowed):
    raw = cells.get(col, "")
    values = [v.strip() for v in raw.replace("|", ";").split(";") if v.strip()] if raw else []
    bad = [v for v in values if v not in allowed]
    if bad:
        errors.append((col, f'"{bad[0]}" is not a valid choice.'))
        return None
    if len(values) > 4:
        errors.append((col, "Ensure this field has no more than 4 elements."))
        return None
    return values


def row_order(cells: dict[str, str], now: datetime) -> tuple[dict | None, list[tuple[str, str]]]:
    """One CSV row (stripped cells by column) -> (the order's validated data, []) or (None, errors)."""
    errors: list[tuple[str, str]] = []
    ref = cells.get("external_ref", "")
    if not ref:
        errors.append(("external_ref", "This field is required."))
    elif not _REF.match(ref):
        errors.append(("external_ref", "Use 1-100 letters, digits, '.', '_', ':' or '-'."))
    hub = _text(cells, "hub", errors, 40)
    address = _text(cells, "address", errors, 300)
    lat = _float(cells, "lat", errors, -90, 90)
    lon = _float(cells, "lon", errors, -180, 180)
    start, end = _time(cells, "window_start", errors), _time(cells, "window_end", errors)
    sla = _time(cells, "sla_deadline", errors, required=False)
    level = cells.get("service_level", "")
    if not level:
        errors.append(("service_level", "This field is required."))
    elif level not in _LEVELS:
        errors.append(("service_level", f'"{level}" is not a valid choice.'))
    weight = _float(cells, "weight_kg", errors, 0, 5000)
    volume = _float(cells, "volume_m3", errors, 0, 100, default=0.0)
    service = _float(cells, "service_min", errors, 0, 240, default=4.0)
    requires = _choices(cells, "requires", errors, _SKILLS)
    proofs = _choices(cells, "proof_required", errors, _PROOFS)
    name = _text(cells, "customer_name", errors, 200)
    email = cells.get("customer_email", "")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(("customer_email", "Enter a valid email address."))
    phone = _text(cells, "customer_phone", errors, 40, required=False) or ""
    if errors:
        return None, errors
    if end <= start:
        errors.append(("window_end", "The window must end after it starts."))
    elif end - start > MAX_WINDOW_LENGTH:
        errors.append(("window_end", f"A delivery window is at most {MAX_WINDOW_LENGTH.days} days long."))
    if start > now + MAX_WINDOW_AHEAD:
        errors.append(("window_start", "The window starts more than a year from now; check the date."))
    if end < now - timedelta(days=1):
        errors.append(("window_end", "The window ended more than a day ago; an order must still be deliverable."))
    if sla is not None and sla < start:
        errors.append(("sla_deadline", "The SLA deadline cannot be before the window starts."))
    if lat == 0 and lon == 0:
        errors.append(("lat", "(0, 0) is not an address; geocode the order before sending it."))
    if errors:
        return None, errors
    data = {"external_ref": ref, "hub": hub, "address": address, "lat": lat, "lon": lon, "window_start": start, "window_end": end,
            "service_level": level, "weight_kg": weight, "volume_m3": volume, "requires": requires, "service_min": service,
            "proof_required": proofs, "customer_name": name, "customer_email": email, "customer_phone": phone}
    if sla is not None:
        data["sla_deadline"] = sla
    return data, []


def _rows(stream):
    """(line number, {column: stripped cell}) for each row of a CSV text stream; FileRefused for a
    file that is not the template's."""
    reader = csv.reader(stream)
    header = read_header(reader)
    width = len(header)
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > width:
                yield reader.line_num, None, f"{len(cells)} cells for {width} columns"
                continue
            yield reader.line_num, {h: c.strip() for h, c in zip(header, cells) if h}, ""
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from None


def _decoded(rows):
    """The rows, or FileRefused where the file stops being UTF-8 text (found while streaming)."""
    try:
        yield from rows
    except UnicodeDecodeError:
        raise FileRefused("The file is not UTF-8 text. Save it as CSV UTF-8 and try again.") from None


def stream_import(*, organization_id: int, stream, actor: ActorRef, apply: bool) -> dict:
    """Check (apply=False) or import (apply=True, all or nothing) the CSV `stream`. The report:
    rows, valid, errors (the first ERRORS_KEPT, each with row and column), error_count, the first
    ORDERS_SHOWN orders, created. ValidationFailed-free: a refused import returns its report with
    created 0 and nothing written."""
    now = clock.now()
    hubs = {h.code: h for h in Hub.objects.filter(organization_id=organization_id)}
    seen: set[str] = set()
    report = {"rows": 0, "valid": 0, "errors": [], "error_count": 0, "orders": [], "created": 0}
    used_hubs: set[str] = set()
    batch: list[tuple[int, dict]] = []

    def refuse(row, column, message):
        report["error_count"] += 1
        if len(report["errors"]) < ERRORS_KEPT:
            report["errors"].append({"row": row, "column": column, "message": message})

    def flush():
        refs = [d["external_ref"] for _, d in batch]
        taken = set(Order.objects.filter(organization_id=organization_id, external_ref__in=refs).values_list("external_ref", flat=True))
        good = []
        for number, data in batch:
            if data["external_ref"] in taken:
                refuse(number, "external_ref", f"An order {data['external_ref']} exists already.")
                continue
            order = order_build(organization_id, hubs, data)
            try:
                promise_check(organization_id, [order])
            except ValidationFailed as exc:
                for column, messages in exc.errors.items():
                    for message in messages:
                        refuse(number, column, message.split(": ", 1)[-1])
                continue
            good.append(order)
            used_hubs.add(data["hub"])
            if len(report["orders"]) < ORDERS_SHOWN:
                report["orders"].append({"row": number, "external_ref": order.external_ref, "hub": data["hub"],
                                         "service_level": order.service_level, "window_start": order.window_start.isoformat(),
                                         "window_end": order.window_end.isoformat(), "address": order.address})
        report["valid"] += len(good)
        if apply and not report["error_count"] and good:
            orders_insert_many(organization_id=organization_id, orders=good, actor=actor)
            report["created"] += len(good)
        batch.clear()

    with transaction.atomic(), one_policy_read():
        for number, cells, problem in _decoded(_rows(stream)):
            report["rows"] += 1
            if cells is None:
                refuse(number, "", f"Not an order: {problem}.")
                continue
            data, errors = row_order(cells, now)
            for column, message in errors:
                refuse(number, column, message)
            if data is None:
                continue
            if data["hub"] not in hubs:
                refuse(number, "hub", f"No hub with code {data['hub']!r} in your organization.")
                continue
            ref = data["external_ref"]
            if ref in seen:
                refuse(number, "external_ref", f"{ref} is in the file already; each order needs its own reference.")
                continue
            seen.add(ref)
            batch.append((number, data))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
        if not report["rows"]:
            raise FileRefused("The file has no orders, only a header.")
        if apply and report["error_count"]:
            transaction.set_rollback(True)
            report["created"] = 0
        elif apply:
            orders_imported(organization_id=organization_id, count=report["created"], hubs=sorted(used_hubs))
    return report

