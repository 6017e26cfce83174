"""Pure translation between our orders and the sandbox's native API."""

from __future__ import annotations

from datetime import datetime

from ...canonical import CarrierEvent, MalformedPayload, UnknownStatus, map_code

STATUS_MAP = {"COLLECTED": "picked_up", "OUT_FOR_DELIVERY": "out_for_delivery", "DELIVERED": "delivered",
              "DELIVERY_FAILED": "failed", "RETURNED_TO_SENDER": "returned", "ETA_UPDATED": "eta"}
REASON_MAP = {"NOT_HOME": "not_home", "REFUSED": "refused", "BAD_ADDRESS": "address_problem", "DAMAGED": "damaged"}


def booking_request(order, proof_required: list[str] = ()) -> dict:
    return {
        "reference": order.external_ref, "service_level": order.service_level, "weight_kg": order.weight_kg,
        "pickup": {"lat": order.hub.lat, "lon": order.hub.lon}, "dropoff": {"lat": order.lat, "lon": order.lon},
        "window": {"start": order.window_start.isoformat(), "end": order.window_end.isoformat()},
        "proof_required": list(proof_required), "pin": order.delivery_pin if "pin" in proof_required else None,
    }


def booking_result(body: dict) -> tuple[str, float, datetime]:
    try:
        return body["id"], float(body["price"]), datetime.fromisoformat(body["promised_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedPayload(f"Unexpected booking answer: {exc}") from exc


def quote_result(body: dict) -> tuple[float, datetime]:
    return float(body["price"]), datetime.fromisoformat(body["promised_at"])


def webhook_events(body: dict, status_map: dict | None = None, reason_map: dict | None = None) -> list[CarrierEvent]:
    try:
        data = body["data"]
        code = data["status"]
        status = map_code(code, {**STATUS_MAP, **(status_map or {})})
        reason = map_code(data["exception_code"], {**REASON_MAP, **(reason_map or {})}, "reason") if data.get("exception_code") else ""
        return [CarrierEvent(event_id=str(body["id"]), order_ref=str(data["reference"]), status=status, failure_reason=reason,
                             occurred_at=datetime.fromisoformat(data["occurred_at"]) if data.get("occurred_at") else None,
                             eta=datetime.fromisoformat(data["eta"]) if data.get("eta") else None, raw_status=code,
                             proof=tuple(p for p in data.get("proof") or () if isinstance(p, dict)))]
    except UnknownStatus:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedPayload(f"Not a sandbox webhook: {type(exc).__name__} {exc}") from exc


def webhook_event_id(body: dict) -> str:
    try:
        return str(body["id"])
    except (KeyError, TypeError) as exc:
        raise MalformedPayload("The webhook has no event id") from exc
