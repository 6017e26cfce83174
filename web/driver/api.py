"""The driver app's own calls, made by the phone's script: an action on a stop, and a batch of the
phone's positions. The phone queues both while it is offline and sends them in order when the
network returns, so each call carries an Idempotency-Key: a call sent again (the answer was lost
on the way) answers as the first one did and changes nothing.

A queued action can meet a world that moved on meanwhile (dispatch gave the order to a carrier):
it is refused (409) with what happened in the driver's words, and the refusal goes in the
dispatcher's activity feed and the order's story. Times are the phone's: how long ago the driver
tapped (the phone's clock may be wrong, the time that passed on it is not) is taken off the
product's clock."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from dispatch import clock, selectors
from dispatch.errors import DomainError, NotFound
from dispatch.models import IdempotencyRecord
from dispatch.permissions import refusal_for
from dispatch.services import ActorRef
from dispatch.services.log import event_record
from dispatch.services.fleet import shift_break, shift_end, shift_message, shift_start, vehicle_app_away
from dispatch.services.orders import ProofFile, order_attempt_failed, order_deliver, order_pick_up
from dispatch.services.positions import positions_ingest
from dispatch.status import PROOF_FILES, PROOF_MAX_BYTES, FailureReason, OrderStatus, Role

ACTIONS = {"picked_up": OrderStatus.PICKED_UP, "delivered": OrderStatus.DELIVERED, "failed": OrderStatus.FAILED}
MAX_BODY_BYTES = 2_000_000  # an action may carry a photo and a signature (the app shrinks photos to ~200 KB)
MAX_POINTS = 600  # ten minutes of a position a second
MAX_AGE_S = 24 * 3600  # an action older than a day on the phone is taken as of a day ago
MAX_KEY_LENGTH = 200


def said(ref: str, action: str, reason: str = "") -> str:
    if action == "failed":
        return f"{ref} not delivered ({FailureReason(reason).label.lower()})."
    return f"{ref} {'picked up' if action == 'picked_up' else 'delivered'}."


class Refused(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid", **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra

    def response(self) -> tuple[int, dict]:
        return self.status, {"error": {"code": self.code, "message": self.message, **self.extra}}


def _driver(request):
    user = request.user
    if not user.is_authenticated:
        raise Refused(401, "Log in again: what you did waits on this phone and is sent once you are in.", "unauthenticated")
    refused = refusal_for(user, "drive")
    if refused or user.role != Role.DRIVER:
        raise Refused(403, refused or "Only a driver's account uses the driver app.", "forbidden")
    if user.driver_id is None:
        raise Refused(403, "Your account is not linked to a driver yet; ask your dispatcher or admin.", "forbidden")
    return user.driver


def _body(request) -> dict:
    if len(request.body) > MAX_BODY_BYTES:
        raise Refused(413, f"Too much in one call (over {MAX_BODY_BYTES // 1024} KB).", "too_large")
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise Refused(400, "The body must be a JSON object.")
    return data


def _number(value, name: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Refused(400, f"{name} must be a number.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Refused(400, f"{name} must be between {low:g} and {high:g}.")
    return float(value)


def proof_file(value, kind: str) -> ProofFile | None:
    """A photo or signature sent as a data URL (data:image/jpeg;base64,...)."""
    if value in (None, ""):
        return None
    label = "photo" if kind == "photo" else "signature"
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value[:80]:
        raise Refused(400, f"The {label} must be an image (a data: URL).")
    content_type, encoded = value[5:].split(";base64,", 1)
    if content_type not in PROOF_FILES[kind]:
        raise Refused(400, f"A {label} must be one of {', '.join(PROOF_FILES[kind])}.")
    if len(encoded) > PROOF_MAX_BYTES * 4 // 3 + 4:
        raise Refused(413, f"The {label} is too large (at most {PROOF_MAX_BYTES // 1000} kB).", "too_large")
    try:
        return ProofFile(content_type, base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise Refused(400, f"The {label} could not be read; take it again.") from None


def born_on(value) -> date | None:
    """A date of birth as on the recipient's ID (YYYY-MM-DD)."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Refused(400, "Enter the date of birth as on the ID (year-month-day).")


def _ago_s(request, phone_ms) -> float:
    """How long ago (seconds) something happened on the phone at `phone_ms`, by the phone's clock
    when it sent the call (header X-Sent-At, ms)."""
    sent = request.headers.get("X-Sent-At", "")
    try:
        sent_ms = float(sent)
    except ValueError:
        return 0.0
    if not math.isfinite(sent_ms):
        return 0.0
    return min(MAX_AGE_S, max(0.0, (sent_ms - phone_ms) / 1000.0))


def apply_action(*, order, actor: ActorRef, action: str, reason: str = "", pin: str = "", born=None,
                 photo: ProofFile | None = None, signature: ProofFile | None = None, at=None):
    """One of the driver's actions on an order, through its service (the app's call and the page's form alike)."""
    if action == "delivered":
        return order_deliver(order=order, actor=actor, pin=pin, born_on=born, photo=photo, signature=signature, at=at)
    if action == "failed":
        return order_attempt_failed(order=order, actor=actor, reason=reason, photo=photo, at=at)
    return order_pick_up(order=order, actor=actor, at=at)


def _record_refusal(driver, actor: ActorRef, order, action: str, why: str) -> None:
    """A driver's action the world had moved past: in the dispatcher's feed and the order's story."""
    event_record(organization_id=order.organization_id, kind="driver.refused", actor=actor, order=order,
                 vehicle=order.vehicle, data={"driver": driver.name, "action": action, "why": why})


def not_started(driver) -> Refused | None:
    """Stops are worked on a started shift (after the van's check)."""
    shift = selectors.driver_shift(driver=driver)
    if shift is not None:
        shift.driver = driver
        if not selectors.shift_started(shift):
            return Refused(409, "Start your shift first: the van's check, at the top of your stops.", "conflict")
    return None


SHIFT_ACTIONS = ("start", "break", "resume", "end")


def shift_act(driver, actor: ActorRef, action: str, checks: dict, note: str, at) -> tuple[int, dict]:
    """Start (with the van's check), a break, back from it, or the end of the driver's shift."""
    shift = selectors.driver_shift(driver=driver)
    if shift is None:
        return Refused(409, "You have no shift.", "conflict").response()
    try:
        with transaction.atomic():
            if action == "start":
                shift = shift_start(shift_id=shift.id, checks=checks, note=note, actor=actor, at=at)
            elif action in ("break", "resume"):
                shift = shift_break(shift_id=shift.id, on=action == "break", actor=actor, at=at)
            else:
                shift = shift_end(shift_id=shift.id, actor=actor, at=at)
    except DomainError as exc:
        errors = getattr(exc, "errors", None) or {}
        detail = " ".join(m for messages in errors.values() for m in messages)
        return Refused(exc.http_status, f"{exc.message} {detail}".strip(), exc.code).response()
    failed, unsafe = shift.vehicle_check.get("failed") or [], shift.vehicle_check.get("unsafe") or []
    message = {
        "start": "Shift started. Drive safely." if not failed else (
            f"The van may not drive ({', '.join(unsafe).lower()}): dispatch has been told and plans your stops elsewhere."
            if unsafe else f"Shift started. Noted for the fleet: {', '.join(failed).lower()}."),
        "break": f"On a break: your customers' times allow {settings.BREAK_MIN} minutes.",
        "resume": "Back on the road.",
        "end": "Shift ended. Thank you!",
    }[action]
    return 200, {"ok": True, "message": message}


def _once(request, driver, endpoint: str, handler) -> JsonResponse:
    """Run `handler` once per Idempotency-Key; a repeat gets the first answer (with
    Idempotent-Replayed: true). Answers of 5xx are not kept: the phone tries again."""
    key = request.headers.get("Idempotency-Key", "")
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Refused(400, f"Send an Idempotency-Key header of 1 to {MAX_KEY_LENGTH} characters.")
    body_hash = hashlib.sha256(request.body).hexdigest()
    endpoint = f"driver.{driver.id}.{endpoint}"

    def replay(record: IdempotencyRecord) -> JsonResponse:
        if record.request_hash != body_hash:
            raise Refused(409, "This Idempotency-Key was already used for something else.", "idempotency_conflict")
        return JsonResponse(record.response, status=record.status_code, headers={"Idempotent-Replayed": "true"})

    found = IdempotencyRecord.objects.filter(organization_id=driver.organization_id, endpoint=endpoint, key=key).first()
    if found:
        return replay(found)
    try:
        with transaction.atomic():
            status, data = handler()
            if status < 500:
                IdempotencyRecord.objects.create(organization_id=driver.organization_id, endpoint=endpoint, key=key,
                                                 request_hash=body_hash, status_code=status, response=data)
    except IntegrityError:  # the same call, sent twice at once: the other one was first
        found = IdempotencyRecord.objects.filter(organization_id=driver.organization_id, endpoint=endpoint, key=key).first()
        if found is None:
            raise
        return replay(found)
    return JsonResponse(data, status=status)


def _answer(view):
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Refused as exc:
            status, data = exc.response()
            return JsonResponse(data, status=status)
    wrapped.__name__, wrapped.__doc__ = view.__name__, view.__doc__
    return wrapped


@require_POST
@_answer
def driver_api_action(request):
    """{"ref", "action": picked_up|delivered|failed, "reason" (failed), "pin", "born_on", "photo",
    "signature" (data URLs), "tapped_at" (the phone's ms)} -> {"ok", "message", "ref", "status"} or
    an error the app shows."""
    driver = _driver(request)
    data = _body(request)
    ref, action, reason = data.get("ref"), data.get("action"), data.get("reason") or ""
    if not isinstance(ref, str) or not ref or len(ref) > 100:
        raise Refused(400, "Say which order (ref).")
    if action not in ACTIONS:
        raise Refused(400, f"action must be one of {', '.join(ACTIONS)}.")
    if action == "failed" and reason not in FailureReason.values:
        raise Refused(400, f"Say why {ref} could not be delivered.")
    pin = data.get("pin") or ""
    if not isinstance(pin, str) or len(pin) > 40:
        raise Refused(400, "The PIN is a short code.")
    photo, signature, born = proof_file(data.get("photo"), "photo"), proof_file(data.get("signature"), "signature"), born_on(data.get("born_on"))
    tapped = data.get("tapped_at")
    at = clock.before_now(_ago_s(request, _number(tapped, "tapped_at"))) if tapped is not None else None
    actor = ActorRef.user(request.user)

    def act() -> tuple[int, dict]:
        unstarted = not_started(driver)
        if unstarted:
            return unstarted.response()
        try:
            order = selectors.driver_order(driver=driver, ref=ref)
        except NotFound as exc:
            lost = selectors.driver_lost_order(driver=driver, ref=ref)
            if lost is None:
                return Refused(404, exc.message, "not_found").response()
            order, why = lost
            _record_refusal(driver, actor, order, action, why)
            return Refused(409, why, "conflict", ref=ref).response()
        try:
            with transaction.atomic():
                order = apply_action(order=order, actor=actor, action=action, reason=reason, pin=pin, born=born, photo=photo,
                                     signature=signature, at=at)
        except DomainError as exc:
            if exc.http_status == 409:
                _record_refusal(driver, actor, order, action, exc.message)
            return Refused(exc.http_status, f"{ref}: {exc.message}", exc.code, ref=ref).response()
        return 200, {"ok": True, "ref": ref, "status": order.status, "message": said(ref, action, reason)}

    return _once(request, driver, "action", act)


@require_POST
@_answer
def driver_api_shift(request):
    """{"action": start|break|resume|end, "checks": {item: true|false} (start), "note", "tapped_at"}."""
    driver = _driver(request)
    data = _body(request)
    action, checks, note = data.get("action"), data.get("checks") or {}, data.get("note") or ""
    if action not in SHIFT_ACTIONS:
        raise Refused(400, f"action must be one of {', '.join(SHIFT_ACTIONS)}.")
    if not isinstance(checks, dict) or not isinstance(note, str) or len(note) > 500:
        raise Refused(400, "checks is an object of answers, note a short text.")
    tapped = data.get("tapped_at")
    at = clock.before_now(_ago_s(request, _number(tapped, "tapped_at"))) if tapped is not None else None
    actor = ActorRef.user(request.user)
    return _once(request, driver, "shift", lambda: shift_act(driver, actor, action, checks, note, at))


def message_send(driver, actor: ActorRef, text) -> tuple[int, dict]:
    """The driver writes to dispatch in the shift's thread."""
    shift = selectors.driver_shift(driver=driver)
    if shift is None:
        return Refused(409, "You have no shift: there is no one to write to.", "conflict").response()
    if not isinstance(text, str):
        return Refused(400, "Write a message.").response()
    try:
        shift_message(shift_id=shift.id, text=text, from_driver=True, actor=actor)
    except DomainError as exc:
        return Refused(exc.http_status, exc.message, exc.code).response()
    return 200, {"ok": True, "message": "Sent to dispatch."}


@require_POST
@_answer
def driver_api_message(request):
    """{"text"}: a message to dispatch in the shift's thread (queued on the phone like the rest)."""
    driver = _driver(request)
    text = _body(request).get("text")
    actor = ActorRef.user(request.user)
    return _once(request, driver, "message", lambda: message_send(driver, actor, text))


@require_POST
@_answer
def driver_api_away(request):
    """away=1 as the app goes to the background (a beacon as the page hides; the phone will send no
    positions until it is back), away=0 when it is back."""
    driver = _driver(request)
    away = request.POST.get("away")
    if away not in ("0", "1"):
        raise Refused(400, "away is 1 (the app went to the background) or 0 (it is back).")
    shift = selectors.driver_shift(driver=driver)
    if shift is None:
        raise Refused(409, "You have no shift.", "conflict")
    vehicle_app_away(vehicle_id=shift.vehicle_id, away=away == "1")
    return JsonResponse({"ok": True})


def read_label(image: ProofFile) -> list[str]:
    """The barcodes on a photo of a parcel label (zxing-cpp), for a phone whose browser cannot read
    them itself (no BarcodeDetector outside Chrome on Android)."""
    import io

    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(image.data))
        picture.draft("L", (1600, 1600))  # a JPEG decoded at about the size a label needs
        found = zxingcpp.read_barcodes(picture.convert("L"))
    except (UnidentifiedImageError, OSError, ValueError):
        raise Refused(400, "That photo could not be read: take it again.") from None
    return list(dict.fromkeys(b.text for b in found if b.valid and b.text))


@require_POST
@_answer
def driver_api_scan(request):
    """{"image": a photo of a parcel's label as a data URL} -> {"codes": [...]}: what its barcodes
    say (the app checks them against the van's stops). Reads only; nothing is recorded."""
    _driver(request)
    image = proof_file(_body(request).get("image"), "photo")
    if image is None:
        raise Refused(400, "Send the label's photo (image).")
    codes = read_label(image)
    if not codes:
        raise Refused(422, "No barcode found on that photo: hold the label flat and closer, or type the code under the barcode.",
                      "no_barcode")
    return JsonResponse({"codes": codes})


@require_POST
@_answer
def driver_api_positions(request):
    """{"points": [{"lat", "lon", "t" (the phone's ms), "speed" (m/s), "heading" (degrees)}]}: the
    phone's positions, through the same ingest as a van's telematics."""
    driver = _driver(request)
    data = _body(request)
    points = data.get("points")
    if not isinstance(points, list) or not points:
        raise Refused(400, "Send points: a list of positions.")
    if len(points) > MAX_POINTS:
        raise Refused(413, f"At most {MAX_POINTS} positions in one call.", "too_large")
    shift = selectors.driver_shift(driver=driver)
    if shift is None:
        raise Refused(409, "You have no shift: your position is not recorded.", "conflict")
    pings = []
    for i, p in enumerate(points, 1):
        if not isinstance(p, dict):
            raise Refused(400, f"Position {i} must be an object.")
        speed, heading = p.get("speed"), p.get("heading")
        pings.append({
            "vehicle": shift.vehicle.code,
            "lat": _number(p.get("lat"), f"Position {i}: lat", -90, 90),
            "lon": _number(p.get("lon"), f"Position {i}: lon", -180, 180),
            "timestamp": clock.before_now(_ago_s(request, _number(p.get("t"), f"Position {i}: t"))),
            "speed": _number(speed, f"Position {i}: speed", 0, 100) * 3.6 if speed is not None else None,
            "heading": _number(heading, f"Position {i}: heading", 0, 360) if heading is not None else None,
        })

    def ingest() -> tuple[int, dict]:
        result = positions_ingest(organization_id=driver.organization_id, pings=pings)
        return 202, {"accepted": result["accepted"]}

    return _once(request, driver, "positions", ingest)
