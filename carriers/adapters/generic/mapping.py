"""Pure, configuration-driven translation for a carrier with a REST API and webhooks.

An admin describes the carrier in its config (no code):
  request:  {"<their field path>": "<our field>" ...}, our fields: reference, weight_kg, service_level,
            pickup_lat, pickup_lon, dropoff_lat, dropoff_lon, window_start, window_end, key
  response: {"external_id": "<path>", "price": "<path>", "promised_at": "<path>"}
  webhook:  {"event_id": "<path>", "order": "<path>", "status": "<path>", "reason": "<path>",
             "occurred_at": "<path>", "eta": "<path>"}   ("occurred_at" may hold unix seconds)
  status_map / reason_map: their codes -> our canonical statuses / failure reasons
Paths are dotted ("shipment.id")."""

from __future__ import annotations

from datetime import datetime, timezone

from ...canonical import STATUSES, CarrierEvent, MalformedPayload, map_code


def get_path(data, path: str):
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            raise MalformedPayload(f"Missing {path!r} in the carrier's payload")
        data = data[part]
    return data


def set_path(target: dict, path: str, value) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def our_fields(order, key: str) -> dict:
    return {
        "reference": order.external_ref, "weight_kg": order.weight_kg, "service_level": order.service_level,
        "pickup_lat": order.hub.lat, "pickup_lon": order.hub.lon, "dropoff_lat": order.lat, "dropoff_lon": order.lon,
        "window_start": order.window_start.isoformat(), "window_end": order.window_end.isoformat(), "key": key,
    }


def booking_request(config: dict, order, key: str) -> dict:
    fields = our_fields(order, key)
    body: dict = {}
    for theirs, ours in config.get("request", {}).items():
        set_path(body, theirs, fields[ours])
    return body


def booking_result(config: dict, body: dict) -> tuple[str, float, datetime]:
    paths = config.get("response", {})
    try:
        return (str(get_path(body, paths["external_id"])), float(get_path(body, paths["price"])),
                datetime.fromisoformat(str(get_path(body, paths["promised_at"]))))
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedPayload(f"Unexpected booking answer: {exc}") from exc


def _time(value):
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return datetime.fromisoformat(str(value))


def webhook_event_id(config: dict, body: dict) -> str:
    return str(get_path(body, config.get("webhook", {}).get("event_id", "id")))


def webhook_events(config: dict, body: dict) -> list[CarrierEvent]:
    w = config.get("webhook", {})
    code = str(get_path(body, w["status"]))
    status = map_code(code, config.get("status_map", {}))
    if status not in STATUSES:
        raise MalformedPayload(f"The status map sends {code!r} to {status!r}, which is not a canonical status")
    reason = ""
    if w.get("reason"):
        try:
            raw_reason = get_path(body, w["reason"])
        except MalformedPayload:
            raw_reason = None
        if raw_reason:
            reason = map_code(str(raw_reason), config.get("reason_map", {}), "reason")
    if status == "failed" and not reason:
        reason = map_code(code, config.get("reason_map", {}), "reason") if code in config.get("reason_map", {}) else "other"
    eta = None
    if w.get("eta"):
        try:
            eta = _time(get_path(body, w["eta"]))
        except MalformedPayload:
            eta = None
    return [CarrierEvent(event_id=webhook_event_id(config, body), order_ref=str(get_path(body, w["order"])), status=status,
                         failure_reason=reason, occurred_at=_time(get_path(body, w["occurred_at"])) if w.get("occurred_at") else None,
                         eta=eta, raw_status=code)]
