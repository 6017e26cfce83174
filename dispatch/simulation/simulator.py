"""Plays a synthetic day against a running control tower, through its public interfaces only:
each van's driver uses the driver app's own endpoints as a phone does (signed in as the van's
driver: the van's check, positions, pickups and deliveries as they happen, each call with an
Idempotency-Key), carriers progress what was booked with them, and new orders arrive through the
API. Without the drivers' logins (an organization seeded otherwise) the vans ping and report
through the API like a telematics feed. Time is the product's clock (dispatch.clock), which the
demo runs faster than real time."""

from __future__ import annotations

import itertools
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.utils import timezone

from dispatch import clock
from dispatch.status import VEHICLE_CHECKS
from world.roads import bearing, drive_along, Streets
from world.traffic import World, straight_km

from .city import City, order_spec
from .disruptions import Disruption

MANIFEST_REFRESH = timedelta(minutes=3)
CARRIER_REFRESH = timedelta(minutes=4)


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout: float = 15.0):
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=timeout)

    def wait_until_up(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if self.http.get("/api/vehicles/?limit=1").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("The control tower did not answer; is it running?")
            time.sleep(0.5)

    RETRIES = 3  # a 503 or 429 (nothing was written) is sent again after its Retry-After, at most this often

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        for _ in range(self.RETRIES):
            r = self.http.request(method, path, **kwargs)
            if r.status_code not in (429, 503):
                return r
            try:
                wait = float(r.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            time.sleep(min(5.0, max(0.1, wait)))
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **params):
        r = self._send("GET", path, params=params)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict, headers: dict | None = None, timeout: float | None = None):
        """The answer, or None when none came in time (the simulated world goes on, as a real one would)."""
        try:
            r = self._send("POST", path, json=body, headers=headers or {}, **({"timeout": timeout} if timeout else {}))
        except httpx.TimeoutException:
            return None
        if r.status_code >= 500:
            r.raise_for_status()
        return r


class DriverPhone:
    """A driver's phone running the driver app: signed in with the driver's login, it sends what the
    app sends (JSON with the CSRF token, an Idempotency-Key per action, the phone's time). A call
    whose answer did not come is sent again with the same key, as the app's queue does."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 15.0):
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.username = username
        self.http.get("/login/")
        r = self.http.post("/login/", data={"username": username, "password": password, "next": "/driver/",
                                            "csrfmiddlewaretoken": self.http.cookies.get("csrftoken", "")},
                           headers={"Referer": base_url + "/login/"})
        if r.status_code != 302 or "sessionid" not in self.http.cookies:
            raise RuntimeError(f"The driver {username} could not sign in to the driver app ({r.status_code})")

    def post(self, path: str, body: dict, tries: int = 3) -> httpx.Response | None:
        key = uuid.uuid4().hex
        for attempt in range(tries):
            now_ms = time.time() * 1000
            try:
                r = self.http.post(path, json=body, headers={"X-CSRFToken": self.http.cookies.get("csrftoken", ""), "Idempotency-Key": key,
                                            "X-Sent-At": str(now_ms)})
            except httpx.HTTPError:
                time.sleep(0.5 * (attempt + 1))
                continue
            if r.status_code < 500 and r.status_code != 429:
                return r
            time.sleep(0.5 * (attempt + 1))
        return None


@dataclass
class Van:
    code: str
    lat: float
    lon: float
    stops: list = field(default_factory=list)
    busy_until: datetime | None = None
    carrying: set = field(default_factory=set)
    heading: float = 0.0
    speed: float = 0.0
    fetched_at: datetime | None = None
    due: tuple | None = None  # (when, ref, body): what the driver taps once the stop's work is done
    path: list | None = None  # road mode: the street segments left to the next stop [[lat, lon, free-flow s, km], ...]
    path_to: tuple | None = None  # the stop that path leads to


def _proof(needed: list[str]) -> dict:
    """What a driver hands in for a delivery: a photo of the parcel left and the recipient's
    signature as the phone makes them, an adult's date of birth for an age check (a PIN only the
    customer knows: a delivery that needs one is refused)."""
    body = {}
    if "photo" in needed:
        body["photo"] = "data:image/jpeg;base64," + _TINY_JPEG
    if "signature" in needed:
        body["signature"] = "data:image/png;base64," + _TINY_PNG
    if "age_check" in needed:
        body["born_on"] = "1985-06-15"
    return body


def _tiny(kind: str) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (150, 120, 80)).save(buffer, kind)
    return base64.b64encode(buffer.getvalue()).decode()


_TINY_JPEG, _TINY_PNG = _tiny("JPEG"), _tiny("PNG")


class Simulator:
    base_not_home_rate = 0.04

    def __init__(self, *, client: ApiClient, city: City, seed: int, orders_per_hour: float = 40.0,
                 disruptions: list[Disruption] | None = None, tick_seconds: float = 1.0, verbose: bool = True,
                 sandbox_url: str = "", drivers: dict | None = None, streets: str = ""):
        self.client, self.city, self.rng = client, city, random.Random(seed * 7919 + 1)
        self.world = World(seed, city.lat, city.lon, city.tz)  # the traffic and stops the product must learn
        # Road mode: the vans drive the streets of this map (world.roads), at the hidden world's pace
        self.streets = Streets(streets) if streets else None
        self.seed, self.orders_per_hour, self.tick_seconds, self.verbose = seed, orders_per_hour, tick_seconds, verbose
        self.disruptions = disruptions or []
        self.vans: dict[str, Van] = {}
        self.carrier_plan: dict[str, list] = {}
        self.carriers_down: set[str] = set()
        self.stopped_vans: set[str] = set()
        self.silent_vans: set[str] = set()
        self.slow_areas: dict[str, float] = {}
        self.not_home_rate = self.base_not_home_rate
        self.order_counter = itertools.count(1)
        self.started_at: datetime | None = None
        self.last: datetime | None = None
        self.carriers_fetched: datetime | None = None
        self.api_carriers: set[str] = set()
        self.reliability = {c.code: c.reliability for c in city.carriers}
        self.stats = {"pings": 0, "delivered": 0, "failed": 0, "orders": 0, "carrier_events": 0}
        self.sandbox_url = sandbox_url.rstrip("/")
        self.manual_carriers: set[str] = set()  # carriers we play; sandbox carriers report through webhooks
        self.drivers = drivers or {}  # {"password": ..., "drivers": {van code: login}}: the vans' drivers use the app
        self.phones: dict[str, DriverPhone] = {}
        self.base_url = str(client.http.base_url).rstrip("/")

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"[sim {timezone.localtime(clock.now()):%H:%M}] {text}", flush=True)

    # --- the loop -----------------------------------------------------------------------
    def run(self, *, duration_min: float, stop=None) -> dict:
        self.started_at = self.last = clock.now()
        for v in self.client.get("/api/vehicles/", limit=1000)["results"]:
            if v["lat"] is not None:
                self.vans[v["code"]] = Van(v["code"], v["lat"], v["lon"])
        carriers = self.client.get("/api/carriers/")
        self.manual_carriers = {c["code"] for c in carriers if c["adapter"] == "manual"}
        self.api_carriers = {c["code"] for c in carriers if c["adapter"] != "manual"}
        logins = {code: login for code, login in (self.drivers.get("drivers") or {}).items() if code in self.vans}
        with ThreadPoolExecutor(4) as pool:  # signing in hashes a password: a few at a time
            phones = pool.map(lambda item: (item[0], DriverPhone(self.base_url, item[1], self.drivers["password"])), sorted(logins.items()))
            self.phones = dict(phones)
        no_shows = {d.target for d in self.disruptions if d.kind == "driver_no_show"}
        for code in sorted(set(self.phones) - no_shows):  # each driver starts the shift with the van's check
            checked = self.phones[code].post("/driver/api/shift/", {"action": "start", "checks": {key: True for key, _, _ in VEHICLE_CHECKS}})
            if checked is None or checked.status_code != 200:
                self.log(f"{code}: the van's check was not taken ({checked.status_code if checked else 'no answer'})")
        self.log(f"{len(self.vans)} vans on the road ({len(self.phones)} drivers on the driver app); carriers via the sandbox: "
                 f"{', '.join(sorted(self.api_carriers)) or 'none'}; playing {duration_min:g} simulated minutes")
        while not (stop and stop.is_set()):
            tick_start = time.monotonic()
            now = clock.now()
            elapsed = (now - self.started_at).total_seconds() / 60
            if elapsed >= duration_min:
                break
            self.step(now, (now - self.last).total_seconds())
            self.last = now
            time.sleep(max(0.0, self.tick_seconds - (time.monotonic() - tick_start)))
        return self.stats

    def step(self, now: datetime, dt_seconds: float) -> None:
        elapsed = (now - self.started_at).total_seconds() / 60
        for d in self.disruptions:
            d.tick(self, elapsed)
        self.arrivals(dt_seconds)
        self.drive(now, dt_seconds)
        self.carriers(now)

    # --- demand -------------------------------------------------------------------------
    def arrivals(self, dt_seconds: float) -> None:
        expected = self.orders_per_hour * dt_seconds / 3600
        n = sum(1 for _ in range(int(expected) + 3) if self.rng.random() < expected / (int(expected) + 3))
        if n:
            self.new_orders(n)

    def new_orders(self, n: int, hub: str = "") -> None:
        """n orders at once; with a hub, all for that hub's area and the same window an hour from now
        (a local spike: more than its vans and carriers planned for that hour)."""
        now = clock.now()
        near = next((h for h in self.city.hubs if h.code == hub), None)
        start = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0) if near else None
        specs = [order_spec(self.rng, self.city, f"L{self.seed}-{next(self.order_counter):05d}-{now:%H%M}", now, near=near,
                            window_start=start) for _ in range(n)]
        key = f"sim-{self.seed}-{specs[0]['external_ref']}"
        r = self.client.post("/api/orders/batch/", {"orders": specs}, headers={"Idempotency-Key": key}, timeout=120)
        if r is None:
            self.log(f"{n} new order(s): the control tower did not answer; the shop will retry with the same key")
            return
        if r.status_code == 201:
            self.stats["orders"] += n
            self.log(f"{n} new order(s) arrived")
        else:
            self.log(f"{n} new order(s) refused ({r.status_code}): {r.text[:300]}")

    # --- own fleet ----------------------------------------------------------------------
    def manifest(self, van: Van, now: datetime) -> None:
        if van.fetched_at and now - van.fetched_at < MANIFEST_REFRESH and van.stops:
            return
        data = self.client.get(f"/api/vehicles/{van.code}/manifest/")
        van.stops = [s for s in data["stops"] if s["status"] not in ("delivered", "failed", "cancelled")
                     and not (van.due and s["order"] == van.due[1] and s["kind"] == "delivery")]  # done, not yet tapped
        van.fetched_at = now

    def speed_factor(self, van: Van) -> float:
        factor = 1.0
        for area, f in self.slow_areas.items():
            hub = next((h for h in self.city.hubs if h.code == area), None)
            if area == "*" or (hub and straight_km(hub.lat, hub.lon, van.lat, van.lon) < 6):
                factor = min(factor, f)
        return factor

    def drive(self, now: datetime, dt_seconds: float) -> None:
        pings = []
        for van in self.vans.values():
            if van.code in self.stopped_vans:
                van.speed = 0.0
                if van.code not in self.silent_vans:
                    pings.append(self.ping(van, now))
                continue
            self.tap_when_done(van, now)
            self.manifest(van, now)
            self.advance(van, now, dt_seconds)
            pings.append(self.ping(van, now))
        by_api = [p for p in pings if p["vehicle"] not in self.phones]
        if by_api:
            self.client.post("/api/vehicle-positions/", {"pings": by_api})
        for p in pings:
            if p["vehicle"] in self.phones:  # the phone's position, from its browser
                self.phones[p["vehicle"]].post("/driver/api/positions/", {"points": [
                    {"lat": p["lat"], "lon": p["lon"], "t": time.time() * 1000, "speed": round(p["speed"] / 3.6, 2),
                     "heading": p["heading"]}]})
        self.stats["pings"] += len(pings)

    def tap_when_done(self, van: Van, now: datetime) -> None:
        """The driver taps Delivered (or Not delivered) once the stop's work is done."""
        if van.due and now >= van.due[0]:
            _, ref, body = van.due
            van.due = None
            r = self.phones[van.code].post("/driver/api/actions/", body)
            if r is None or r.status_code != 200:
                self.log(f"{van.code}: {body['action']} {ref} refused ({r.status_code if r else 'no answer'}): "
                         f"{(r.json().get('error') or {}).get('message', '') if r is not None else ''}")

    def advance(self, van: Van, now: datetime, dt_seconds: float) -> None:
        budget = dt_seconds
        van.speed = 0.0
        if van.stops and not (van.busy_until and now < van.busy_until):
            unplanned = self.world.unplanned_stop_min(self.rng, dt_seconds)
            if unplanned:
                van.busy_until = now + timedelta(minutes=unplanned)
        while budget > 0 and van.stops:
            if van.busy_until and now < van.busy_until:
                return
            stop = van.stops[0]
            if self.streets is not None:
                budget = self.along_streets(van, stop, now, budget)
                if budget is None:
                    return
                self.arrive(van, stop, now)
                continue
            km_straight = straight_km(van.lat, van.lon, stop["lat"], stop["lon"])
            factor = self.speed_factor(van) * self.rng.uniform(0.9, 1.1)
            line_kmh = self.world.straight_line_kmh(van.lat, van.lon, now, van.code) * factor
            reach_km = line_kmh * budget / 3600  # progress as the crow flies, at the hidden world's speed here and now
            if km_straight > reach_km:
                frac = reach_km / km_straight
                van.heading = bearing(van.lat, van.lon, stop["lat"], stop["lon"])
                van.lat += (stop["lat"] - van.lat) * frac
                van.lon += (stop["lon"] - van.lon) * frac
                van.speed = self.world.road_speed_kmh(van.lat, van.lon, now) * factor * self.world.driver_factor(van.code)
                return
            budget -= km_straight / line_kmh * 3600 if line_kmh else budget
            van.lat, van.lon = stop["lat"], stop["lon"]
            self.arrive(van, stop, now)

    def along_streets(self, van: Van, stop: dict, now: datetime, budget: float) -> float | None:
        """Drive the van along the streets towards the stop for `budget` seconds. Each segment takes
        its free-flow time slowed by the hidden world here and now (the hour, the area, the
        driver, a disruption's slow area). Returns the seconds left on reaching the stop, or None
        when the budget ran out on the way."""
        target = (stop["lat"], stop["lon"])
        if van.path is None or van.path_to != target:
            van.path, van.path_to = self.streets.path(van.lat, van.lon, *target), target
        pace = (self.world.hour_factor(now) * self.world.driver_factor(van.code) * self.speed_factor(van)
                * self.rng.uniform(0.9, 1.1))
        van.lat, van.lon, heading, van.speed, left = drive_along(van.path, van.lat, van.lon, budget,
                                                                 lambda la, lo: pace * self.world.area_factor(la, lo))
        van.heading = van.heading if heading is None else heading
        if left is None:
            return None
        van.path = van.path_to = None
        van.lat, van.lon = target
        return left

    def arrive(self, van: Van, stop: dict, now: datetime) -> None:
        if van.code in self.phones:
            self.arrive_with_app(van, stop, now)
            return
        van.stops.pop(0)
        ref = stop["order"]
        if stop["kind"] == "pickup":
            self.client.post(f"/api/orders/{ref}/status/", {"status": "picked_up", "at": now.isoformat()})
            van.carrying.add(ref)
            van.busy_until = now + timedelta(minutes=1)
            if not van.stops or van.stops[0]["kind"] != "pickup":
                for r in sorted(van.carrying):
                    self.client.post(f"/api/orders/{r}/status/", {"status": "out_for_delivery", "at": now.isoformat()})
            return
        done, home = self.deliver(van, stop, now)
        body = {"status": "delivered", "at": done.isoformat()} if home else \
            {"status": "failed", "failure_reason": "not_home", "at": done.isoformat()}
        self.client.post(f"/api/orders/{ref}/status/", body)

    def deliver(self, van: Van, stop: dict, now: datetime) -> tuple[datetime, bool]:
        """At a delivery stop: when its work is done (the window's start waited for, then the time
        the address takes) and whether the customer was home."""
        wait = max(timedelta(0), datetime.fromisoformat(stop["window_start"]) - now)
        done = now + wait + timedelta(minutes=self.world.service_min(stop["lat"], stop["lon"], stop["service_min"], self.rng))
        van.busy_until = done
        van.carrying.discard(stop["order"])
        home = self.rng.random() >= self.not_home_rate
        self.stats["delivered" if home else "failed"] += 1
        return done, home

    def arrive_with_app(self, van: Van, stop: dict, now: datetime) -> None:
        """The driver at a stop, with the app: a pickup is scanned at once (the tower sends the load
        out for delivery with the last parcel); a delivery is tapped when its work is done, with the
        proof it needs."""
        van.stops.pop(0)
        ref = stop["order"]
        if stop["kind"] == "pickup":
            r = self.phones[van.code].post("/driver/api/actions/", {"ref": ref, "action": "picked_up"})
            if r is None or r.status_code != 200:
                self.log(f"{van.code}: pickup of {ref} refused ({r.status_code if r else 'no answer'})")
            van.carrying.add(ref)
            van.busy_until = now + timedelta(minutes=1)
            return
        done, home = self.deliver(van, stop, now)
        body = {"ref": ref, "action": "delivered", **_proof(stop.get("proof_required") or [])} if home else \
            {"ref": ref, "action": "failed", "reason": "not_home"}
        van.due = (done, ref, body)

    def ping(self, van: Van, now: datetime) -> dict:
        return {"vehicle": van.code, "lat": round(van.lat, 6), "lon": round(van.lon, 6), "timestamp": now.isoformat(),
                "speed": round(van.speed, 1), "heading": round(van.heading, 1)}

    # --- carriers -----------------------------------------------------------------------
    def carriers(self, now: datetime) -> None:
        if self.carriers_fetched is None or now - self.carriers_fetched >= CARRIER_REFRESH:
            self.carriers_fetched = now
            data = self.client.get("/api/orders/", status="booked,picked_up,out_for_delivery", limit=1000)
            for order in data["results"]:
                if (order["external_ref"] not in self.carrier_plan and order["carrier"] in self.manual_carriers
                        and order["eta"]):
                    self.carrier_plan[order["external_ref"]] = self.schedule(order, now)
        due, events = [], []
        for ref, steps in self.carrier_plan.items():
            carrier = steps[0][2] if steps else None
            if carrier in self.carriers_down:
                continue
            while steps and steps[0][0] <= now:
                at, status, carrier, reason = steps.pop(0)
                events.append({"carrier": carrier, "event_id": f"{carrier}-{ref}-{status}", "order": ref,
                               "status": status, "failure_reason": reason, "occurred_at": at.isoformat()})
            if not steps:
                due.append(ref)
        for ref in due:
            del self.carrier_plan[ref]
        if events:
            r = self.client.post("/api/carrier-events/", {"events": events})
            if r is not None and r.status_code == 202:
                self.stats["carrier_events"] += len(events)
            else:  # one bad event must not hold back the rest: send them singly
                for e in events:
                    self.client.post("/api/carrier-events/", {"events": [e]})

    def schedule(self, order: dict, now: datetime) -> list:
        eta = datetime.fromisoformat(order["eta"])
        carrier = order["carrier"]
        delivered_at = eta + timedelta(minutes=self.rng.uniform(-15, 25))
        steps = []
        if order["status"] == "booked":
            steps.append((max(now, eta - timedelta(minutes=70)), "picked_up", carrier, ""))
        if order["status"] in ("booked", "picked_up"):
            steps.append((max(now, eta - timedelta(minutes=30)), "out_for_delivery", carrier, ""))
        if self.rng.random() < self.reliability.get(carrier, 0.95):
            steps.append((max(now, delivered_at), "delivered", carrier, ""))
        else:
            steps.append((max(now, delivered_at), "failed", carrier, "not_home"))
        return steps
