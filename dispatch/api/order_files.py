"""Orders from a file: a CSV with one order a row, or JSON in the API's own order shape. Every row
is checked with the rules the API applies to one order (the same serializer, the hubs, the
references already taken, the service level's promise); a dry run reports each row and each error
with its row and column, and an import creates all the orders or none. Used by the API
(POST /api/orders/import/) and the Import orders page."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings

from dispatch import clock
from dispatch.errors import ValidationFailed
from dispatch.models import Hub, Order
from dispatch.services import ActorRef
from dispatch.services.orders import order_build, orders_create, promise_check

from .serializers import OrderCreateSerializer

# The CSV's columns: the API's order fields, the customer's flattened; lists separated by ";".
REQUIRED = ("external_ref", "hub", "address", "lat", "lon", "window_start", "window_end", "service_level", "weight_kg",
            "customer_name")
OPTIONAL = ("sla_deadline", "volume_m3", "requires", "service_min", "customer_email", "customer_phone", "proof_required")
COLUMNS = REQUIRED + OPTIONAL
LISTS = ("requires", "proof_required")
CUSTOMER = {"customer_name": "name", "customer_email": "email", "customer_phone": "phone"}


class FileRefused(Exception):
    """The file as a whole cannot be read as orders (what to change is in the message)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def template_csv(hub: str = "CENTRAL") -> str:
    """The header row and one example order (tomorrow, 10:00-12:00 UTC, from `hub`): what a
    dispatcher fills in."""
    day = (clock.now() + timedelta(days=1)).date()
    start, end = (datetime.combine(day, time(h), tzinfo=dt_timezone.utc).isoformat() for h in (10, 12))
    example = {"external_ref": "Q-1001", "hub": hub, "address": "1 Main St", "lat": "41.88", "lon": "-87.63", "window_start": start,
               "window_end": end, "service_level": "same_day", "weight_kg": "3.5", "requires": "", "customer_name": "Ana Ruiz",
               "customer_email": "ana@example.com"}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow([example.get(c, "") for c in COLUMNS])
    return out.getvalue()


def read_rows(content: bytes, name: str = "", csv_only: bool = False) -> list[tuple[int, dict]]:
    """(row number as a spreadsheet shows it, the order in the API's shape) for each row of a CSV
    or JSON file (JSON by its name or its first character, unless `csv_only`: a body sent as
    text/csv). FileRefused when the file cannot be read as orders at all."""
    if len(content) > settings.ORDER_FILE_MAX_BYTES:
        raise FileRefused(f"The file is {len(content) // 1024} kB; at most {settings.ORDER_FILE_MAX_BYTES // 1024} kB "
                          f"in one import. Split it.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused("The file is not UTF-8 text. Save it as CSV UTF-8 (or JSON) and try again.") from None
    if not text.strip():
        raise FileRefused("The file is empty.")
    if not csv_only and (name.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{")):
        rows = _json_rows(text)
    else:
        rows = _csv_rows(text)
    if not rows:
        raise FileRefused("The file has no orders, only a header.")
    if len(rows) > settings.ORDER_FILE_MAX_ROWS:
        raise FileRefused(f"The file has {len(rows)} orders; at most {settings.ORDER_FILE_MAX_ROWS} in one import. Split it.")
    return rows


def _json_rows(text: str) -> list[tuple[int, dict]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRefused(f"The JSON cannot be read: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    return json_rows(data)


def json_rows(data) -> list[tuple[int, dict]]:
    """Orders already read from JSON: a list, or {"orders": [...]}; each numbered from 1."""
    if isinstance(data, dict) and "orders" in data:
        data = data["orders"]
    if not isinstance(data, list):
        raise FileRefused('Orders in JSON are a list, or {"orders": [...]}, each in the API\'s order shape.')
    if not data:
        raise FileRefused("The list of orders is empty.")
    if len(data) > settings.ORDER_FILE_MAX_ROWS:
        raise FileRefused(f"There are {len(data)} orders; at most {settings.ORDER_FILE_MAX_ROWS} in one import. Split them.")
    return [(i, item if isinstance(item, dict) else {"_": "a JSON " + type(item).__name__}) for i, item in enumerate(data, start=1)]


def read_header(reader) -> list[str]:
    """The CSV's header (lower case), or FileRefused naming the columns missing and unknown."""
    try:
        header = [h.strip().lower().lstrip("\ufeff") for h in next(reader)]
    except (StopIteration, csv.Error):
        raise FileRefused("The file has no header row; download the template for the columns.") from None
    unknown = [h for h in header if h and h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        raise FileRefused(f"The header does not match the template ({'; '.join(parts)}). Columns: {', '.join(COLUMNS)}.")
    return header


def _csv_rows(text: str) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text))
    header = read_header(reader)
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # a blank line
            number = reader.line_num  # the file's line: what a spreadsheet calls the row
            if len(cells) > len(header):
                rows.append((number, {"_": f"{len(cells)} cells for {len(header)} columns"}))
                continue
            rows.append((number, _order_of(dict(zip(header, cells)))))
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from None
    return rows


def _order_of(cells: dict[str, str]) -> dict:
    """One CSV row in the API's shape: empty cells left out, lists split on ';', the customer nested."""
    order: dict = {}
    customer: dict = {}
    for column, value in cells.items():
        value = value.strip()
        if not column or value == "":
            continue
        if column in CUSTOMER:
            customer[CUSTOMER[column]] = value
        elif column in LISTS:
            order[column] = [v.strip() for v in value.replace("|", ";").split(";") if v.strip()]
        else:
            order[column] = value
    order["customer"] = customer
    return order


def _flat(errors: dict) -> list[tuple[str, str]]:
    """A serializer's errors as (column, message): the customer's fields named as the CSV's, a
    list's items under the list's column."""
    out = []
    for field, value in errors.items():
        if field == "customer" and isinstance(value, dict):
            out += [(f"customer_{name}", str(m)) for name, inner in value.items() for m in _messages(inner)]
        else:
            out += [("" if field == "non_field_errors" else field, str(m)) for m in _messages(value)]
    return out


def _messages(value) -> list:
    if isinstance(value, list):
        return [m for v in value for m in (_messages(v) if isinstance(v, (list, dict)) else [v])]
    if isinstance(value, dict):
        return [m for v in value.values() for m in _messages(v)]
    return [value]


def check(*, organization_id: int, rows: list[tuple[int, dict]]) -> dict:
    """What importing these rows would do: each valid row's order, and every error with its row
    and column. Nothing is written."""
    errors: list[dict] = []
    valid: list[tuple[int, dict]] = []

    def refuse(row: int, column: str, message: str) -> None:
        errors.append({"row": row, "column": column, "message": message})

    for number, data in rows:
        if "_" in data:
            refuse(number, "", f"Not an order: {data['_']}.")
            continue
        serializer = OrderCreateSerializer(data=data)
        if serializer.is_valid():
            valid.append((number, serializer.validated_data))
        else:
            for column, message in _flat(serializer.errors):
                refuse(number, column, message)

    hubs = {h.code: h for h in Hub.objects.filter(organization_id=organization_id, code__in={d["hub"] for _, d in valid})}
    refs = [d["external_ref"] for _, d in valid]
    taken = set(Order.objects.filter(organization_id=organization_id, external_ref__in=refs).values_list("external_ref", flat=True))
    first: dict[str, int] = {}
    good = []
    for number, data in valid:
        ref = data["external_ref"]
        if ref in first:
            refuse(number, "external_ref", f"{ref} is on row {first[ref]} already; each order needs its own reference.")
            continue
        first[ref] = number
        if ref in taken:
            refuse(number, "external_ref", f"An order {ref} exists already.")
            continue
        if data["hub"] not in hubs:
            refuse(number, "hub", f"No hub with code {data['hub']!r} in your organization.")
            continue
        try:  # the service level's promise (lead time, longest window, today's cut-off)
            promise_check(organization_id, [order_build(organization_id, hubs, data)])
        except ValidationFailed as exc:
            for column, messages in exc.errors.items():
                for message in messages:
                    refuse(number, column, message.split(": ", 1)[-1])
            continue
        good.append((number, data))
    errors.sort(key=lambda e: (e["row"], e["column"]))
    return {
        "rows": len(rows), "valid": len(good), "errors": errors,
        "orders": [{"row": n, "external_ref": d["external_ref"], "hub": d["hub"], "service_level": d["service_level"],
                    "window_start": d["window_start"].isoformat(), "window_end": d["window_end"].isoformat(),
                    "address": d["address"]} for n, d in good],
        "_valid": [d for _, d in good],
    }


class Refused(Exception):
    """Some rows were refused, so nothing was imported: the report says which and why."""

    def __init__(self, report: dict):
        n = len(report["errors"])
        self.message = f"{n} error{'s' if n != 1 else ''} in the file; nothing was imported. Correct the rows named and import again."
        super().__init__(self.message)
        self.report = report


def import_orders(*, organization_id: int, rows: list[tuple[int, dict]], actor: ActorRef) -> tuple[dict, list[Order]]:
    """Create every order of the file, or none: (the check's report, the orders created). Raises
    Refused (with the report) when any row is refused."""
    report = check(organization_id=organization_id, rows=rows)
    valid = report.pop("_valid")
    if report["errors"]:
        raise Refused(report)
    return report, orders_create(organization_id=organization_id, orders=valid, actor=actor)
