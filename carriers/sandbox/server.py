"""The sandbox's HTTP server, carrier state and delivery progress (standard library only)."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from carriers.signing import HEADER, sign
from planner.travel import haversine_km

TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="  # a 1x1 grey PNG: the sandbox's "photo" and "signature"
NATIVE_FAILURES = {"not_home": "NOT_HOME", "refused": "REFUSED", "address_problem": "BAD_ADDRESS"}
LEGACY_CODES = {"COLLECTED": "PU", "OUT_FOR_DELIVERY": "OFD", "DELIVERED": "DLV", "DELIVERY_FAILED": "NH",
                "RETURNED_TO_SENDER": "RTS", "ETA_UPDATED": "ETA"}


class Clock:
    """Real time, or a simulated clock running `speed` times faster from `start`."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0, real_start: float | None = None):
        self.real0, self.sim0, self.speed = real_start or time.time(), start or datetime.now(timezone.utc), speed

    def now(self) -> datetime:
        return self.sim0 + timedelta(seconds=(time.time() - self.real0) * self.speed)


@dataclass
class Faults:
    down: bool = False
    slow_ms: int = 0
    error_rate: float = 0.0
    reject: bool = False
    capacity_exhausted: bool = False
    webhooks: str = "normal"  # normal, stop, duplicate, out_of_order


@dataclass
class Booking:
    id: str
    reference: str
    status: str
    price: float
    promised_at: datetime
    schedule: list = field(default_factory=list)  # [(when, status, failure_code)]
    history: list = field(default_factory=list)
    proof_required: list = field(default_factory=list)  # collected at the door and sent with DELIVERED
    pin: str | None = None


@dataclass
class SandboxCarrier:
    code: str
    api_key: str
    dialect: str = "native"
    webhook_url: str = ""
    webhook_secret: str = ""
    zones: list = field(default_factory=list)   # [{"lat", "lon", "radius_km"}]
    capacity_per_hour: int = 50
    base: float = 8.0
    per_kg: float = 0.1
    per_km: float = 0.4
    lead_min: int = 60
    reliability: float = 0.95
    seed: int = 1
    faults: Faults = field(default_factory=Faults)
    bookings: dict = field(default_factory=dict)
    keys: dict = field(default_factory=dict)     # idempotency key -> booking id
    outbox: list = field(default_factory=list)   # held-back webhooks (out_of_order mode)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def in_zone(self, lat, lon) -> bool:
        return any(haversine_km(z["lat"], z["lon"], lat, lon) <= z["radius_km"] for z in self.zones) if self.zones else True

    def quote(self, *, weight, pickup, dropoff, window_start: datetime, now: datetime) -> tuple[float, datetime]:
        km = haversine_km(pickup[0], pickup[1], dropoff[0], dropoff[1]) * 1.3
        promised = max(window_start, now + timedelta(minutes=self.lead_min + km / 28 * 60))
        return round(self.base + self.per_kg * weight + self.per_km * km, 2), promised.replace(microsecond=0)

    def booked_in_hour(self, when: datetime) -> int:
        hour = when.replace(minute=0, second=0, microsecond=0)
        return sum(1 for b in self.bookings.values() if b.status not in ("CANCELLED",) and b.promised_at.replace(minute=0, second=0, microsecond=0) == hour)

    def plan_progress(self, booking: Booking, now: datetime) -> None:
        eta = booking.promised_at
        collected = max(now + timedelta(minutes=5), eta - timedelta(minutes=70))
        out = max(collected + timedelta(minutes=5), eta - timedelta(minutes=30))
        done = max(out + timedelta(minutes=5), eta + timedelta(minutes=self.rng.uniform(-15, 20)))
        booking.schedule = [(collected, "COLLECTED", None), (out, "OUT_FOR_DELIVERY", None)]
        if self.rng.random() < self.reliability:
            booking.schedule.append((done, "DELIVERED", None))
        else:
            booking.schedule.append((done, "DELIVERY_FAILED", self.rng.choice(list(NATIVE_FAILURES.values()))))


class Sandbox:
    def __init__(self, carriers: list[SandboxCarrier], clock: Clock | None = None, tick_s: float = 0.5):
        self.carriers = {c.code: c for c in carriers}
        self.clock = clock or Clock()
        self.tick_s = tick_s
        self.stopping = threading.Event()

    # --- progress and webhooks ----------------------------------------------------------
    def run_progress(self) -> None:
        while not self.stopping.wait(self.tick_s):
            now = self.clock.now()
            for carrier in self.carriers.values():
                due = []
                with carrier.lock:
                    if carrier.faults.down:
                        continue
                    for booking in carrier.bookings.values():
                        while booking.schedule and booking.schedule[0][0] <= now:
                            when, status, failure = booking.schedule.pop(0)
                            booking.status = status
                            booking.history.append({"status": status, "at": when.isoformat()})
                            due.append(self.webhook(carrier, booking, status, failure, when))
                for event in due:
                    self.deliver(carrier, event)

    def webhook(self, carrier: SandboxCarrier, booking: Booking, status: str, failure: str | None, when: datetime) -> dict:
        if carrier.dialect == "legacy":
            return {"event": {"uuid": str(uuid.uuid4()), "ref": booking.reference, "code": LEGACY_CODES[status],
                              "ts": int(when.timestamp()), "new_eta": booking.promised_at.isoformat()}}
        return {"id": f"evt_{uuid.uuid4().hex}", "type": "booking.status", "created": int(time.time()),
                "data": {"booking_id": booking.id, "reference": booking.reference, "status": status,
                         "exception_code": failure, "occurred_at": when.isoformat(), "eta": booking.promised_at.isoformat(),
                         **({"proof": self.proof(booking)} if status == "DELIVERED" and booking.proof_required else {})}}

    @staticmethod
    def proof(booking: Booking) -> list[dict]:
        """What a courier collects at the door: the PIN the customer says, an ID check, a signature or photo."""
        out = []
        for kind in booking.proof_required:
            if kind == "pin":
                out.append({"kind": "pin", "pin": booking.pin})
            elif kind == "age_check":
                out.append({"kind": "age_check", "checked": True})
            elif kind in ("photo", "signature"):
                out.append({"kind": kind, "content_type": "image/png", "data_base64": TINY_PNG})
        return out

    def deliver(self, carrier: SandboxCarrier, event: dict) -> None:
        mode = carrier.faults.webhooks
        if not carrier.webhook_url or mode == "stop":
            return
        if mode == "out_of_order":
            carrier.outbox.append(event)
            if len(carrier.outbox) < 2:
                return
            batch, carrier.outbox = list(reversed(carrier.outbox)), []
        else:
            batch = [event, event] if mode == "duplicate" else [event]
        for e in batch:
            body = json.dumps(e).encode()
            request = urllib.request.Request(carrier.webhook_url, data=body, method="POST",
                                             headers={"Content-Type": "application/json", HEADER: sign(body, carrier.webhook_secret)})
            for attempt in range(3):
                try:
                    urllib.request.urlopen(request, timeout=5).read()
                    break
                except urllib.error.HTTPError as exc:
                    if exc.code < 500:
                        break
                except OSError:
                    pass
                time.sleep(0.2 * (attempt + 1))

    # --- HTTP ---------------------------------------------------------------------------
    def handler(self):
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                return json.loads(raw) if raw else {}

            def do_GET(self):
                self.route("GET")

            def do_POST(self):
                self.route("POST")

            def do_DELETE(self):
                self.route("DELETE")

            def route(self, method: str) -> None:
                try:
                    parts = [p for p in self.path.split("?")[0].split("/") if p]
                    if parts[:1] == ["_control"]:
                        return self.control(method, parts)
                    if parts == ["health"]:
                        return self._send(200, {"status": "ok", "carriers": sorted(sandbox.carriers)})
                    carrier = self.authenticate(parts)
                    if carrier is None:
                        return
                    faults = carrier.faults
                    if faults.down:
                        return self._send(503, {"error": "service_unavailable"})
                    if faults.slow_ms:
                        time.sleep(faults.slow_ms / 1000)
                    if faults.error_rate and carrier.rng.random() < faults.error_rate:
                        return self._send(500, {"error": "internal_error"})
                    if carrier.dialect == "legacy":
                        return self.legacy(carrier, method, parts)
                    return self.native(carrier, method, parts)
                except (ValueError, KeyError, TypeError) as exc:
                    return self._send(400, {"error": "bad_request", "detail": str(exc)})

            def authenticate(self, parts):
                code = self.headers.get("X-Carrier") or (parts[1] if len(parts) > 1 and parts[0] in ("v1", "legacy") and parts[1] in sandbox.carriers else None)
                key = self.headers.get("Authorization", "").removeprefix("Bearer ").strip() or self.headers.get("X-Api-Key", "")
                carrier = next((c for c in sandbox.carriers.values() if c.api_key == key), None)
                if carrier is None or (code and carrier.code != code):
                    self._send(401, {"error": "unauthorized"})
                    return None
                return carrier

            def control(self, method, parts):
                if len(parts) == 3 and parts[2] == "faults" and parts[1] in sandbox.carriers:
                    carrier = sandbox.carriers[parts[1]]
                    if method == "POST":
                        for k, v in self._body().items():
                            if hasattr(carrier.faults, k):
                                setattr(carrier.faults, k, v)
                    return self._send(200, carrier.faults.__dict__)
                if len(parts) == 3 and parts[2] == "bookings" and parts[1] in sandbox.carriers:
                    carrier = sandbox.carriers[parts[1]]
                    return self._send(200, {b.id: {"reference": b.reference, "status": b.status} for b in carrier.bookings.values()})
                return self._send(404, {"error": "not_found"})

            def book(self, carrier, *, reference, weight, pickup, dropoff, window_start, key, proof_required=(), pin=None):
                now = sandbox.clock.now()
                with carrier.lock:
                    if key and key in carrier.keys:
                        b = carrier.bookings[carrier.keys[key]]
                        return 200, b
                    if not carrier.in_zone(*dropoff):
                        return 422, "outside_zone"
                    if carrier.faults.reject:
                        return 422, "rejected"
                    price, promised = carrier.quote(weight=weight, pickup=pickup, dropoff=dropoff, window_start=window_start, now=now)
                    if carrier.faults.capacity_exhausted or carrier.booked_in_hour(promised) >= carrier.capacity_per_hour:
                        return 409, "capacity_exhausted"
                    b = Booking(id=f"{carrier.code}-{uuid.uuid4().hex[:10]}", reference=reference, status="CONFIRMED",
                                price=price, promised_at=promised, proof_required=list(proof_required or []), pin=pin)
                    carrier.plan_progress(b, now)
                    carrier.bookings[b.id] = b
                    if key:
                        carrier.keys[key] = b.id
                    return 201, b

            def native(self, carrier, method, parts):
                if parts[:1] != ["v1"]:
                    return self._send(404, {"error": "not_found"})
                rest = parts[2:] if len(parts) > 1 and parts[1] == carrier.code else parts[1:]
                if rest == ["health"]:
                    return self._send(200, {"status": "ok"})
                if rest in (["quotes"], ["bookings"]) and method == "POST":
                    d = self._body()
                    args = dict(weight=float(d["weight_kg"]), pickup=(d["pickup"]["lat"], d["pickup"]["lon"]),
                                dropoff=(d["dropoff"]["lat"], d["dropoff"]["lon"]), window_start=datetime.fromisoformat(d["window"]["start"]))
                    if rest == ["quotes"]:
                        if not carrier.in_zone(*args["dropoff"]):
                            return self._send(422, {"error": "outside_zone"})
                        price, promised = carrier.quote(now=sandbox.clock.now(), **args)
                        return self._send(200, {"price": price, "currency": "USD", "promised_at": promised.isoformat()})
                    status, b = self.book(carrier, reference=d["reference"], key=self.headers.get("Idempotency-Key"),
                                          proof_required=d.get("proof_required") or (), pin=d.get("pin"), **args)
                    if isinstance(b, str):
                        return self._send(status, {"error": b})
                    return self._send(status, {"id": b.id, "status": b.status, "price": b.price, "promised_at": b.promised_at.isoformat()})
                if len(rest) == 2 and rest[0] == "bookings":
                    b = carrier.bookings.get(rest[1])
                    if b is None:
                        return self._send(404, {"error": "not_found"})
                    if method == "DELETE":
                        if b.status in ("DELIVERED", "OUT_FOR_DELIVERY"):
                            return self._send(409, {"error": "too_late_to_cancel", "status": b.status})
                        b.status, b.schedule = "CANCELLED", []
                    return self._send(200, {"id": b.id, "reference": b.reference, "status": b.status,
                                            "promised_at": b.promised_at.isoformat(), "history": b.history})
                return self._send(404, {"error": "not_found"})

            def legacy(self, carrier, method, parts):
                if parts[:1] != ["legacy"]:
                    return self._send(404, {"error": "not_found"})
                rest = parts[2:] if len(parts) > 1 and parts[1] == carrier.code else parts[1:]
                if rest == ["ping"]:
                    return self._send(200, {"pong": True})
                if rest == ["shipments"] and method == "POST":
                    d = self._body()
                    status, b = self.book(carrier, reference=d["ref"], weight=float(d["kg"]), pickup=(d["origin"]["lat"], d["origin"]["lng"]),
                                          dropoff=(d["dest"]["lat"], d["dest"]["lng"]), window_start=datetime.fromisoformat(d["from"]),
                                          key=d.get("dedupe"))
                    if isinstance(b, str):
                        return self._send(status, {"ok": False, "why": b})
                    return self._send(status, {"ok": True, "shipment": {"id": b.id, "cost": b.price, "eta": b.promised_at.isoformat()}})
                if len(rest) == 2 and rest[0] == "shipments":
                    b = carrier.bookings.get(rest[1])
                    if b is None:
                        return self._send(404, {"ok": False, "why": "unknown"})
                    if method == "DELETE":
                        b.status, b.schedule = "CANCELLED", []
                    return self._send(200, {"ok": True, "shipment": {"id": b.id, "code": LEGACY_CODES.get(b.status, b.status)}})
                return self._send(404, {"ok": False, "why": "unknown"})

        return Handler

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((host, port), self.handler())
        server.daemon_threads = True
        threading.Thread(target=self.run_progress, daemon=True).start()
        return server
