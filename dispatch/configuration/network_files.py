"""The whole network from files: hubs, fleets, vans, drivers, shifts, carriers, their zones, rate
cards and weight surcharges, service levels and users, one CSV per kind (or one Excel workbook with
a sheet per kind), each row named by its natural key (a hub's code, a fleet's name, a van's code,
...), so a file exported here and edited in a spreadsheet comes back as changes. A dry run says,
row by row, what would be created, changed (field by field) or left as it is, and every error
with its file, row and column; an import applies all of it or nothing, in one transaction, every
row through the same rules as the pages (the models' validation, the cost and service-level
rules), recorded as a version of each row it touched (django-simple-history where the model keeps
one) and as one NetworkImport that says who imported what."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from typing import Callable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from openpyxl import Workbook, load_workbook

from carriers.models import Carrier, CarrierZone, RateCard
from dispatch.errors import ValidationFailed
from dispatch.models import Driver, Fleet, Hub, NetworkImport, ServiceLevelRule, Shift, Vehicle
from dispatch.services.log import event_record
from dispatch.status import DEFAULT_SERVICE_RULES, Role, ServiceLevel

from .costs import clean_rate_card, clean_vehicle_costs, clean_zone_surcharge, parse_weight_breaks
from .rules import RULE_FIELDS, clean_rule
from .versions import actor_of, as_json

SKILLS = ("bulky", "regulated", "cold", "fragile")
MAX_ROWS = 20000
MAX_FILE_BYTES = 10 * 2**20


class FilesRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Kind:
    name: str
    title: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    example: dict
    lists: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("hubs", "Hubs", ("code", "name", "lat", "lon", "load_min_per_order"), ("code", "name", "lat", "lon"),
         {"code": "CENTRAL", "name": "Central depot", "lat": "41.88", "lon": "-87.63", "load_min_per_order": "1"}),
    Kind("fleets", "Fleets", ("name", "hub"), ("name", "hub"), {"name": "Central vans", "hub": "CENTRAL"}),
    Kind("vehicles", "Vans", ("code", "fleet", "capacity_kg", "capacity_m3", "skills", "cost_per_km", "cost_per_hour", "fixed_cost"),
         ("code", "fleet", "capacity_kg"), {"code": "VAN-01", "fleet": "Central vans", "capacity_kg": "800", "capacity_m3": "10",
                                            "skills": "cold;fragile", "cost_per_km": "0.55", "cost_per_hour": "24", "fixed_cost": "0"},
         lists=("skills",)),
    Kind("drivers", "Drivers", ("code", "name", "phone"), ("code", "name"), {"code": "D-01", "name": "Sam Lee", "phone": "+13125550100"}),
    Kind("shifts", "Shifts", ("driver", "vehicle", "starts_at", "ends_at"), ("driver", "vehicle", "starts_at", "ends_at"),
         {"driver": "D-01", "vehicle": "VAN-01", "starts_at": "2026-12-08T08:00:00-06:00", "ends_at": "2026-12-08T16:00:00-06:00"}),
    Kind("carriers", "Carriers", ("code", "name", "adapter", "service_levels", "skills", "lead_min", "pickup_cutoff", "base_url"),
         ("code", "name"), {"code": "SWIFT", "name": "Swift Couriers", "adapter": "manual", "service_levels": "same_day;next_day",
                            "skills": "", "lead_min": "90", "pickup_cutoff": "17:00", "base_url": ""},
         lists=("service_levels", "skills")),
    Kind("zones", "Carrier zones", ("carrier", "name", "lat", "lon", "radius_km", "surcharge"), ("carrier", "name", "lat", "lon", "radius_km"),
         {"carrier": "SWIFT", "name": "Downtown", "lat": "41.88", "lon": "-87.63", "radius_km": "8", "surcharge": "0"}),
    Kind("rates", "Rate cards", ("carrier", "service_level", "base", "per_kg", "per_km", "fuel_pct", "after_hours_from", "after_hours_fee"),
         ("carrier", "service_level", "base"), {"carrier": "SWIFT", "service_level": "same_day", "base": "9.50", "per_kg": "0.20",
                                                "per_km": "0.35", "fuel_pct": "4", "after_hours_from": "19:00", "after_hours_fee": "3"}),
    Kind("surcharges", "Weight surcharges", ("carrier", "service_level", "over_kg", "fee"), ("carrier", "service_level", "over_kg", "fee"),
         {"carrier": "SWIFT", "service_level": "same_day", "over_kg": "20", "fee": "4"}),
    Kind("service_levels", "Service levels", ("service_level", *RULE_FIELDS), ("service_level",),
         {"service_level": "same_day", **{k: str(v) for k, v in DEFAULT_SERVICE_RULES["same_day"].items()}, "proof_required": "",
          "lead_min": "60", "max_window_min": "240", "cutoff": "14:00", "handling": ""},
         lists=("proof_required", "handling")),
    Kind("users", "Users", ("username", "email", "role", "hubs", "driver"), ("username", "role"),
         {"username": "ana.ruiz", "email": "ana@example.com", "role": "dispatcher", "hubs": "CENTRAL", "driver": ""}, lists=("hubs",)),
)}
ORDER = tuple(KINDS)


# --- reading files --------------------------------------------------------------------------------


def read_files(files: list[tuple[str, bytes]]) -> dict[str, list[tuple[int, dict]]]:
    """{kind: [(row number, {column: text})]} from CSV files named after their kind (hubs.csv,
    vehicles.csv, ...) and Excel workbooks whose sheets are named after theirs."""
    tables: dict[str, list[tuple[int, dict]]] = {}
    for name, content in files:
        lower = name.lower().rsplit("/", 1)[-1]
        if lower.endswith(".xlsx"):
            for kind, rows in _xlsx(name, content):
                _add(tables, kind, rows, name)
        else:
            kind = lower.rsplit(".", 1)[0].strip()
            if kind not in KINDS:
                raise FilesRefused(f"{name}: name each CSV after what it holds ({', '.join(f'{k}.csv' for k in KINDS)}).")
            _add(tables, kind, _csv(name, content, KINDS[kind]), name)
    if not tables:
        raise FilesRefused("Choose at least one file.")
    if sum(len(r) for r in tables.values()) > MAX_ROWS:
        raise FilesRefused(f"At most {MAX_ROWS} rows in one import; split it.")
    return tables


def _add(tables, kind, rows, name):
    if kind in tables:
        raise FilesRefused(f"{KINDS[kind].title} come twice (again in {name}); send each kind once.")
    tables[kind] = rows


def _header(name: str, header: list[str], kind: Kind) -> list[str]:
    header = [str(h or "").strip().lower() for h in header]
    missing = [c for c in kind.required if c not in header]
    unknown = [h for h in header if h and h not in kind.columns]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise FilesRefused(f"{name}: the header does not match the {kind.name} template ({'; '.join(parts)}). "
                           f"Columns: {', '.join(kind.columns)}.")
    return header


def _csv(name: str, content: bytes, kind: Kind) -> list[tuple[int, dict]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FilesRefused(f"{name} is not UTF-8 text: save it as CSV UTF-8.") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = _header(name, next(reader), kind)
    except StopIteration:
        raise FilesRefused(f"{name} is empty.") from None
    rows = []
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}))
    except csv.Error as exc:
        raise FilesRefused(f"{name}, line {reader.line_num}: {exc}.") from None
    return rows


def _xlsx(name: str, content: bytes):
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - anything openpyxl cannot open is the file's problem
        raise FilesRefused(f"{name} cannot be opened as an Excel workbook ({type(exc).__name__}).") from None
    for sheet in book.worksheets:
        kind_name = sheet.title.strip().lower()
        if kind_name not in KINDS:
            raise FilesRefused(f"{name}: the sheet {sheet.title!r} is not one of {', '.join(KINDS)}.")
        it = sheet.iter_rows(values_only=True)
        try:
            header = _header(f"{name} ({sheet.title})", list(next(it)), KINDS[kind_name])
        except StopIteration:
            continue
        rows = []
        for n, cells in enumerate(it, start=2):
            values = {h: _cell(cells[i] if i < len(cells) else None) for i, h in enumerate(header) if h}
            if any(values.values()):
                rows.append((n, values))
        yield kind_name, rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value if value.tzinfo else timezone.make_aware(value)).isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --- checking and applying ------------------------------------------------------------------------


@dataclass
class Ctx:
    org: int
    write: bool
    user: object = None
    hubs: dict = field(default_factory=dict)
    fleets: dict = field(default_factory=dict)
    vehicles: dict = field(default_factory=dict)
    drivers: dict = field(default_factory=dict)
    carriers: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    passwords: list = field(default_factory=list)
    reason: str = "network import"


class RowError(Exception):
    def __init__(self, errors: dict[str, list[str]] | str):
        super().__init__(str(errors))
        self.errors = errors if isinstance(errors, dict) else {"": [errors]}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace("|", ";").split(";") if v.strip()]


def _num(row: dict, col: str, *, default=None, lo=None, hi=None, integer=False):
    raw = row.get(col, "")
    if raw == "":
        if default is None:
            raise RowError({col: ["Required."]})
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise RowError({col: ["Enter a whole number." if integer else "Enter a number."]}) from None
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise RowError({col: [f"Between {lo:g} and {hi:g}." if lo is not None and hi is not None else "Out of range."]})
    return value


def _ref(table: dict, key: str, col: str, what: str):
    if key not in table:
        raise RowError({col: [f"No {what} {key!r}: add it in this import or on the network page first."]})
    return table[key]


def _clean(obj, exclude=()) -> None:
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise RowError({k if k != "__all__" else "": [str(m) for m in v] for k, v in exc.message_dict.items()}) from None


def _diff(obj, values: dict) -> dict:
    out = {}
    for k, v in values.items():
        old = getattr(obj, k)
        if old != v and not (isinstance(old, float) and isinstance(v, float) and abs(old - v) < 1e-9):
            out[k] = [_plain(old), _plain(v)]
    return out


def _plain(v):
    if isinstance(v, (datetime, time)):
        return v.isoformat()
    if hasattr(v, "code"):
        return v.code
    if hasattr(v, "name") and not isinstance(v, str):
        return v.name
    return v


def _upsert(ctx: Ctx, existing, make: Callable[[], object], values: dict, *, fk_new: tuple[str, ...] = ()) -> tuple[str, dict, object]:
    """Set `values` on the existing row or a new one; returns (action, changes, object)."""
    obj = existing if existing is not None else make()
    changes = _diff(obj, values) if existing is not None else {k: [None, _plain(v)] for k, v in values.items()}
    for k, v in values.items():
        setattr(obj, k, v)
    _clean(obj, exclude=[f for f in fk_new if getattr(obj, f"{f}_id", None) is None] + ["organization"])
    action = "create" if existing is None else ("update" if changes else "unchanged")
    if ctx.write and action != "unchanged":
        obj._history_user = ctx.user
        obj._change_reason = ctx.reason[:100]
        obj.save()
    return action, changes, obj


def _hub(ctx: Ctx, row: dict):
    values = {"name": row["name"], "lat": _num(row, "lat", lo=-90, hi=90), "lon": _num(row, "lon", lo=-180, hi=180),
              "load_min_per_order": _num(row, "load_min_per_order", default=1.0, lo=0, hi=60)}
    found = ctx.hubs.get(row["code"])
    action, changes, obj = _upsert(ctx, found, lambda: Hub(organization_id=ctx.org, code=row["code"]), values)
    ctx.hubs[row["code"]] = obj
    return row["code"], action, changes


def _fleet(ctx: Ctx, row: dict):
    hub = _ref(ctx.hubs, row["hub"], "hub", "hub")
    action, changes, obj = _upsert(ctx, ctx.fleets.get(row["name"]), lambda: Fleet(organization_id=ctx.org, name=row["name"]),
                                   {"hub": hub}, fk_new=("hub",))
    ctx.fleets[row["name"]] = obj
    return row["name"], action, changes


def _skills(row: dict, col: str, allowed) -> list[str]:
    values = _split(row.get(col, ""))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise RowError({col: [f"{', '.join(bad)}: use {', '.join(allowed)}."]})
    return sorted(set(values))


def _vehicle(ctx: Ctx, row: dict):
    fleet = _ref(ctx.fleets, row["fleet"], "fleet", "fleet")
    found = ctx.vehicles.get(row["code"])
    costs_in = {f: row.get(f) or (str(getattr(found, f)) if found else {"cost_per_km": "0.55", "cost_per_hour": "24", "fixed_cost": "0"}[f])
                for f in ("cost_per_km", "cost_per_hour", "fixed_cost")}
    try:
        costs = clean_vehicle_costs(costs_in)
    except ValidationFailed as exc:
        raise RowError(exc.errors) from None
    values = {"fleet": fleet, "capacity_kg": _num(row, "capacity_kg", lo=0, hi=50000),
              "capacity_m3": _num(row, "capacity_m3", default=found.capacity_m3 if found else 10.0, lo=0, hi=200),
              "skills": _skills(row, "skills", SKILLS), **costs}
    action, changes, obj = _upsert(ctx, found, lambda: Vehicle(organization_id=ctx.org, code=row["code"]), values, fk_new=("fleet",))
    ctx.vehicles[row["code"]] = obj
    return row["code"], action, changes


def _driver(ctx: Ctx, row: dict):
    action, changes, obj = _upsert(ctx, ctx.drivers.get(row["code"]), lambda: Driver(organization_id=ctx.org, code=row["code"]),
                                   {"name": row["name"], "phone": row.get("phone", "")})
    ctx.drivers[row["code"]] = obj
    return row["code"], action, changes


def _when(row: dict, col: str) -> datetime:
    value = parse_datetime(row.get(col, ""))
    if value is None:
        raise RowError({col: ["A date and time, e.g. 2026-12-08T08:00:00-06:00."]})
    return value if value.tzinfo else timezone.make_aware(value)


def _shift(ctx: Ctx, row: dict):
    driver = _ref(ctx.drivers, row["driver"], "driver", "driver")
    vehicle = _ref(ctx.vehicles, row["vehicle"], "vehicle", "van")
    starts, ends = _when(row, "starts_at"), _when(row, "ends_at")
    if ends <= starts:
        raise RowError({"ends_at": ["The shift must end after it starts."]})
    key = f"{row['driver']}@{starts.isoformat()}"
    found = (Shift.objects.filter(driver=driver, starts_at=starts).first() if driver.pk else None)
    action, changes, _ = _upsert(ctx, found, lambda: Shift(driver=driver, starts_at=starts), {"vehicle": vehicle, "ends_at": ends},
                                 fk_new=("driver", "vehicle"))
    return key, action, changes


def _carrier(ctx: Ctx, row: dict):
    found = ctx.carriers.get(row["code"])
    cutoff_raw = row.get("pickup_cutoff") or (found.pickup_cutoff.strftime("%H:%M") if found else "17:00")
    try:
        cutoff = time.fromisoformat(cutoff_raw)
    except ValueError:
        raise RowError({"pickup_cutoff": ["A time of day, e.g. 17:00."]}) from None
    config = dict(found.config) if found else {}
    if row.get("base_url"):
        config["base_url"] = row["base_url"]
    values = {"name": row["name"], "adapter": row.get("adapter") or (found.adapter if found else "manual"),
              "service_levels": _skills(row, "service_levels", ServiceLevel.values), "skills": _skills(row, "skills", SKILLS),
              "lead_min": _num(row, "lead_min", default=found.lead_min if found else 90, lo=0, hi=10080, integer=True),
              "pickup_cutoff": cutoff, "config": config}
    action, changes, obj = _upsert(ctx, found, lambda: Carrier(organization_id=ctx.org, code=row["code"]), values)
    ctx.carriers[row["code"]] = obj
    return row["code"], action, changes


def _zone(ctx: Ctx, row: dict):
    carrier = _ref(ctx.carriers, row["carrier"], "carrier", "carrier")
    try:
        surcharge = clean_zone_surcharge({"surcharge": row.get("surcharge") or "0"})
    except ValidationFailed as exc:
        raise RowError(exc.errors) from None
    found = CarrierZone.objects.filter(carrier=carrier, name=row["name"]).first() if carrier.pk else None
    values = {"lat": _num(row, "lat", lo=-90, hi=90), "lon": _num(row, "lon", lo=-180, hi=180),
              "radius_km": _num(row, "radius_km", lo=0.1, hi=500), **surcharge}
    action, changes, _ = _upsert(ctx, found, lambda: CarrierZone(carrier=carrier, name=row["name"]), values, fk_new=("carrier",))
    return f"{row['carrier']}/{row['name']}", action, changes


def _level(row: dict) -> str:
    if row.get("service_level") not in ServiceLevel.values:
        raise RowError({"service_level": [f"Use {', '.join(ServiceLevel.values)}."]})
    return row["service_level"]


def _rate(ctx: Ctx, row: dict):
    carrier = _ref(ctx.carriers, row["carrier"], "carrier", "carrier")
    level = _level(row)
    found = ctx.rates.get((row["carrier"], level))
    form = {"base": row.get("base", ""), "per_kg": row.get("per_kg") or "0", "per_km": row.get("per_km") or "0",
            "fuel_pct": row.get("fuel_pct") or "0", "after_hours_fee": row.get("after_hours_fee") or "0",
            "after_hours_from": row.get("after_hours_from", ""),
            "weight_breaks": ", ".join(f"{o:g}:{f:g}" for o, f in (found.weight_breaks if found else []))}
    try:
        values = clean_rate_card(form)
    except ValidationFailed as exc:
        raise RowError(exc.errors) from None
    action, changes, obj = _upsert(ctx, found, lambda: RateCard(carrier=carrier, service_level=level), values, fk_new=("carrier",))
    ctx.rates[(row["carrier"], level)] = obj
    return f"{row['carrier']}/{level}", action, changes


def _surcharges(ctx: Ctx, rows: list[tuple[int, dict]]) -> None:
    """Weight surcharges replace the weight breaks of each rate card they name."""
    breaks: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for number, row in rows:
        try:
            key = (row["carrier"], _level(row))
            rate = _ref(ctx.rates, key, "carrier", "rate card") if key in ctx.rates else None
            if rate is None:
                raise RowError({"carrier": [f"No rate card for {key[0]} {key[1]}: add it in rates first."]})
            breaks.setdefault(key, []).append((number, _num(row, "over_kg", lo=0, hi=50000), _num(row, "fee", lo=0, hi=100000)))
        except RowError as exc:
            _refuse(ctx, "surcharges", number, exc)
    for (carrier, level), items in breaks.items():
        rate = ctx.rates[(carrier, level)]
        try:
            wanted = parse_weight_breaks(", ".join(f"{o:g}:{f:g}" for _, o, f in items))
        except ValidationFailed as exc:
            _refuse(ctx, "surcharges", items[0][0], RowError(exc.errors))
            continue
        changes = _diff(rate, {"weight_breaks": wanted})
        action = "update" if changes else "unchanged"
        if ctx.write and changes:
            rate.weight_breaks = wanted
            rate._history_user, rate._change_reason = ctx.user, ctx.reason[:100]
            rate.save()
        ctx.rows.append({"kind": "surcharges", "row": items[0][0], "key": f"{carrier}/{level}", "action": action, "changes": changes})


def _same(a, b) -> bool:
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return Decimal(str(a)) == Decimal(str(b))
    if isinstance(a, list) and isinstance(b, list):
        return sorted(a) == sorted(b)
    return a == b


def _service_level(ctx: Ctx, row: dict):
    level = _level(row)
    stored = ServiceLevelRule.objects.filter(organization_id=ctx.org, service_level=level).first()
    current = ({f: getattr(stored, f) for f in RULE_FIELDS} if stored else
               {**DEFAULT_SERVICE_RULES[level], "proof_required": [], "lead_min": 0, "max_window_min": None, "cutoff": None, "handling": []})
    values = {f: (_split(row[f]) if f in ("proof_required", "handling") else row[f]) if row.get(f, "") != "" else current.get(f)
              for f in RULE_FIELDS}
    try:
        clean = clean_rule(values)
    except ValidationFailed as exc:
        raise RowError(exc.errors) from None
    changes = {k: [as_json({k: current.get(k)})[k], as_json({k: v})[k]] for k, v in clean.items() if not _same(current.get(k), v)}
    action = "create" if stored is None else ("update" if changes else "unchanged")
    if ctx.write and changes:
        rule = stored or ServiceLevelRule(organization_id=ctx.org, service_level=level, **DEFAULT_SERVICE_RULES[level])
        for k, v in clean.items():
            setattr(rule, k, v)
        rule._history_user, rule._change_reason = ctx.user, ctx.reason[:100]
        rule.save()
    return level, action, changes


def _user(ctx: Ctx, row: dict):
    User = get_user_model()
    if row["role"] not in Role.values:
        raise RowError({"role": [f"Use {', '.join(Role.values)}."]})
    hubs = [_ref(ctx.hubs, h, "hubs", "hub") for h in _split(row.get("hubs", ""))]
    driver = _ref(ctx.drivers, row["driver"], "driver", "driver") if row.get("driver") else None
    if driver is not None and row["role"] != Role.DRIVER:
        raise RowError({"driver": ["Only a driver's account is linked to a driver."]})
    found = User.objects.filter(username__iexact=row["username"]).first()
    if found is not None and found.organization_id != ctx.org:
        raise RowError({"username": ["That username is taken."]})
    values = {"email": row.get("email", ""), "role": row["role"]}
    if (found is not None and found.role == Role.ADMIN and row["role"] != Role.ADMIN and not User.objects.filter(
            organization_id=ctx.org, role=Role.ADMIN, is_active=True).exclude(pk=found.pk).exists()):
        raise RowError({"role": ["This is the organization's last active admin: make someone else admin first."]})
    if found is None:
        obj = User(username=row["username"], organization_id=ctx.org, **values)
        try:
            obj.full_clean(exclude=["password", "organization", "driver"], validate_unique=False)
        except ValidationError as exc:
            raise RowError({k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from None
        action, changes = "create", {k: [None, v] for k, v in values.items()}
    else:
        obj, changes = found, _diff(found, values)
        if found.driver_id != (driver.pk if driver else None):
            changes["driver"] = [found.driver.code if found.driver_id else None, driver.code if driver else None]
        action = "update" if changes else "unchanged"
    if ctx.write:
        if found is None:
            password = secrets.token_urlsafe(12)
            obj.set_password(password)
            ctx.passwords.append({"username": obj.username, "password": password})
        for k, v in values.items():
            setattr(obj, k, v)
        obj.driver = driver
        obj.save()
        if row["role"] == Role.DISPATCHER:
            obj.hubs.set(hubs)
    return row["username"], action, changes


HANDLERS = {"hubs": _hub, "fleets": _fleet, "vehicles": _vehicle, "drivers": _driver, "shifts": _shift, "carriers": _carrier,
            "zones": _zone, "rates": _rate, "service_levels": _service_level, "users": _user}


def _refuse(ctx: Ctx, kind: str, row: int, exc: RowError) -> None:
    for column, messages in exc.errors.items():
        for m in messages if isinstance(messages, list) else [messages]:
            ctx.errors.append({"kind": kind, "row": row, "column": column, "message": str(m)})


def _load(ctx: Ctx) -> None:
    org = ctx.org
    ctx.hubs = {h.code: h for h in Hub.objects.filter(organization_id=org)}
    ctx.fleets = {f.name: f for f in Fleet.objects.filter(organization_id=org).select_related("hub")}
    ctx.vehicles = {v.code: v for v in Vehicle.objects.filter(organization_id=org).select_related("fleet")}
    ctx.drivers = {d.code: d for d in Driver.objects.filter(organization_id=org)}
    ctx.carriers = {c.code: c for c in Carrier.objects.filter(organization_id=org)}
    ctx.rates = {(r.carrier.code, r.service_level): r for r in RateCard.objects.filter(carrier__organization_id=org).select_related("carrier")}


def _run(ctx: Ctx, tables: dict[str, list[tuple[int, dict]]]) -> None:
    _load(ctx)
    for kind in ORDER:
        rows = tables.get(kind)
        if not rows:
            continue
        if kind == "surcharges":
            _surcharges(ctx, rows)
            continue
        seen: dict[str, int] = {}
        for number, row in rows:
            missing = [c for c in KINDS[kind].required if not row.get(c)]
            if missing:
                _refuse(ctx, kind, number, RowError({c: ["Required."] for c in missing}))
                continue
            try:
                with transaction.atomic():
                    key, action, changes = HANDLERS[kind](ctx, row)
            except RowError as exc:
                _refuse(ctx, kind, number, exc)
                continue
            except IntegrityError:
                _refuse(ctx, kind, number, RowError("It clashes with a row that exists already (a code, name or driver link "
                                                    "that must be unique)."))
                continue
            if key in seen:
                _refuse(ctx, kind, number, RowError({KINDS[kind].columns[0]: [f"{key} is on row {seen[key]} already."]}))
                continue
            seen[key] = number
            ctx.rows.append({"kind": kind, "row": number, "key": key, "action": action, "changes": changes})


def _report(ctx: Ctx) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for r in ctx.rows:
        counts.setdefault(r["kind"], {"create": 0, "update": 0, "unchanged": 0})[r["action"]] += 1
    return {"counts": counts, "rows": ctx.rows, "errors": ctx.errors, "passwords": ctx.passwords}


class Refused(Exception):
    def __init__(self, report: dict):
        n = len(report["errors"])
        super().__init__(f"{n} error{'s' if n != 1 else ''}")
        self.report = report
        self.message = (f"Nothing was imported: {n} row error{'s' if n != 1 else ''} to correct (each with its file, row and column "
                        "below). Correct the files and import them again.")


def check(*, organization_id: int, tables: dict) -> dict:
    """What importing these tables would do; nothing is written."""
    ctx = Ctx(org=organization_id, write=False)
    with transaction.atomic():
        _run(ctx, tables)
        transaction.set_rollback(True)
    return _report(ctx)


def import_network(*, organization_id: int, tables: dict, user, files: list[str]) -> tuple[NetworkImport, dict]:
    """Apply all of it or nothing (Refused carries the report)."""
    with transaction.atomic():
        record = NetworkImport.objects.create(organization_id=organization_id, by=user, files=files)
        ctx = Ctx(org=organization_id, write=True, user=user, reason=f"network import #{record.pk}")
        _run(ctx, tables)
        report = _report(ctx)
        if ctx.errors:
            transaction.set_rollback(True)
            raise Refused(report)
        record.summary = report["counts"]
        record.rows = [dict(r) for r in ctx.rows if r["action"] != "unchanged"][:5000]
        record.save(update_fields=["summary", "rows"])
        event_record(organization_id=organization_id, kind="settings.changed", actor=actor_of(user),
                     data={"target": "network_import", "key": str(record.pk), "values": report["counts"]})
    return record, report


# --- templates and export -------------------------------------------------------------------------


def template_csv(kind: str) -> str:
    spec = KINDS[kind]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(spec.columns)
    w.writerow([spec.example.get(c, "") for c in spec.columns])
    return out.getvalue()


def export_rows(organization_id: int) -> dict[str, list[list]]:
    """Every kind's rows as its file has them (a header first): what an import of them changes nothing."""
    org = organization_id
    j = ";".join
    t = lambda v: v.strftime("%H:%M") if v else ""  # noqa: E731
    data: dict[str, list[list]] = {k: [list(KINDS[k].columns)] for k in KINDS}
    for h in Hub.objects.filter(organization_id=org).order_by("code"):
        data["hubs"].append([h.code, h.name, h.lat, h.lon, h.load_min_per_order])
    for f in Fleet.objects.filter(organization_id=org).select_related("hub").order_by("name"):
        data["fleets"].append([f.name, f.hub.code])
    for v in Vehicle.objects.filter(organization_id=org).select_related("fleet").order_by("code"):
        data["vehicles"].append([v.code, v.fleet.name, v.capacity_kg, v.capacity_m3, j(v.skills or []), v.cost_per_km, v.cost_per_hour, v.fixed_cost])
    for d in Driver.objects.filter(organization_id=org).order_by("code"):
        data["drivers"].append([d.code, d.name, d.phone])
    for s in Shift.objects.filter(driver__organization_id=org).select_related("driver", "vehicle").order_by("starts_at", "pk"):
        data["shifts"].append([s.driver.code, s.vehicle.code, s.starts_at.isoformat(), s.ends_at.isoformat()])
    for c in Carrier.objects.filter(organization_id=org).order_by("code"):
        data["carriers"].append([c.code, c.name, c.adapter, j(c.service_levels or []), j(c.skills or []), c.lead_min, t(c.pickup_cutoff),
                                 (c.config or {}).get("base_url", "")])
    for z in CarrierZone.objects.filter(carrier__organization_id=org).select_related("carrier").order_by("carrier__code", "name"):
        data["zones"].append([z.carrier.code, z.name, z.lat, z.lon, z.radius_km, z.surcharge])
    for r in RateCard.objects.filter(carrier__organization_id=org).select_related("carrier").order_by("carrier__code", "service_level"):
        data["rates"].append([r.carrier.code, r.service_level, r.base, r.per_kg, r.per_km, r.fuel_pct, t(r.after_hours_from), r.after_hours_fee])
        for over, fee in r.weight_breaks or []:
            data["surcharges"].append([r.carrier.code, r.service_level, over, fee])
    for rule in ServiceLevelRule.objects.filter(organization_id=org).order_by("service_level"):
        data["service_levels"].append([rule.service_level] + [j(v) if isinstance(v := getattr(rule, f), list) else
                                                              (t(v) if isinstance(v, time) else ("" if v is None else v)) for f in RULE_FIELDS])
    User = get_user_model()
    for u in User.objects.filter(organization_id=org, is_superuser=False).select_related("driver").prefetch_related("hubs").order_by("username"):
        data["users"].append([u.username, u.email, u.role, j(sorted(h.code for h in u.hubs.all())), u.driver.code if u.driver_id else ""])
    return data


def export_csv(rows: list[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def export_xlsx(data: dict[str, list[list]]) -> bytes:
    book = Workbook(write_only=True)
    for kind, rows in data.items():
        sheet = book.create_sheet(kind)
        for r in rows:
            sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

