"""Builds a demo organization for a city: users, API token, hubs, fleets, vans, drivers and
shifts, carriers with zones, rates and capacity, and the first orders of the afternoon."""

from __future__ import annotations

import random
import secrets
import time as time_module
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from carriers.models import CapacitySlot, Carrier, CarrierBooking, CarrierZone, RateCard
from carriers.sandbox.legacy import GENERIC_CONFIG as GENERIC_LEGACY
from dispatch import clock
from dispatch.api.auth import token_issue
from dispatch.models import (
    Assignment,
    Driver,
    Event,
    Fleet,
    Hub,
    IdempotencyRecord,
    Order,
    Organization,
    Route,
    Shift,
    User,
    Vehicle,
)
from dispatch.services import ActorRef
from dispatch.services.orders import orders_create
from dispatch.status import Actor, DutyStatus, Role, ServiceLevel

from .city import City, offset, order_spec

DEMO_SLUG = "demo"


def organization_delete(org: Organization) -> None:
    """Remove an organization and everything it owns (demo resets only)."""
    Event.objects.filter(organization=org)._raw_delete(Event.objects.db)
    Assignment.objects.filter(order__organization=org).delete()
    CarrierBooking.objects.filter(organization=org).delete()
    Route.objects.filter(organization=org).delete()
    Order.objects.filter(organization=org).delete()
    Vehicle.objects.filter(organization=org).delete()
    Fleet.objects.filter(organization=org).delete()
    Hub.objects.filter(organization=org).delete()
    Carrier.objects.filter(organization=org).delete()
    IdempotencyRecord.objects.filter(organization=org).delete()
    User.objects.filter(organization=org).delete()
    org.delete()


@transaction.atomic
def seed_city(*, city: City, seed: int, vans_per_hub: int, orders: int, start: time, speed: float,
              password: str | None = None, slug: str = DEMO_SLUG, sandbox_url: str = "", public_url: str = "") -> dict:
    rng = random.Random(seed)
    existing = Organization.objects.filter(slug=slug).first()
    if existing:
        organization_delete(existing)
    tz = ZoneInfo(city.tz)
    today = datetime.now(tz).date()
    sim_start = datetime.combine(today, start, tzinfo=tz)
    clock.anchor(sim_at=sim_start, speed=speed)

    org = Organization.objects.create(name=f"{city.name} Retail Co.", slug=slug, auto_plan=False, time_zone=city.tz)
    password = password or secrets.token_urlsafe(9)
    for username, role in (("dispatcher", Role.DISPATCHER), ("ops", Role.OPS_MANAGER), ("admin", Role.ADMIN)):
        User.objects.create_user(username=username, password=password, organization=org, role=role,
                                 is_staff=role == Role.ADMIN)
    _, token = token_issue(organization_id=org.id, name="simulator")

    vehicles = 0
    drivers: dict[str, str] = {}  # van code -> its driver's login
    for hub_spec in city.hubs:
        hub = Hub.objects.create(organization=org, code=hub_spec.code, name=hub_spec.name, lat=hub_spec.lat, lon=hub_spec.lon)
        fleet = Fleet.objects.create(organization=org, name=f"{hub_spec.name} vans", hub=hub)
        for i in range(vans_per_hub):
            vehicles += 1
            code = f"{hub_spec.code.split('-')[-1]}{i + 1:02d}"
            van = Vehicle.objects.create(
                organization=org, fleet=fleet, code=code, capacity_kg=rng.choice((400, 600, 800)),
                capacity_m3=rng.choice((6, 9, 12)), skills=["bulky"] if i % 4 == 0 else [],
                cost_per_km=round(rng.uniform(0.45, 0.65), 2), cost_per_hour=round(rng.uniform(22, 28), 1),
                fixed_cost=0, status=DutyStatus.ON_DUTY, lat=hub.lat, lon=hub.lon, position_at=sim_start,
            )
            driver = Driver.objects.create(organization=org, code=f"D-{code}", name=f"Driver {code}",
                                           status=DutyStatus.ON_DUTY, status_at=sim_start)
            Shift.objects.create(driver=driver, vehicle=van, starts_at=sim_start,
                                 ends_at=sim_start + timedelta(hours=8))
            # each demo driver can open the driver app on a phone: user d-<van>, the demo's password
            User.objects.create_user(username=f"d-{code.lower()}", password=password, organization=org, role=Role.DRIVER,
                                     driver=driver)
            drivers[code] = f"d-{code.lower()}"

    sandbox_carriers = []
    for spec in city.carriers:
        adapter = spec.adapter if sandbox_url else "manual"
        key, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(18)
        config = {}
        if adapter == "sandbox":
            config = {"base_url": sandbox_url, "api_key": key, "webhook_secrets": [secret]}
        elif adapter == "generic":
            config = {**GENERIC_LEGACY, "base_url": sandbox_url, "auth": {"type": "header", "name": "X-Api-Key", "value": key},
                      "webhook_secrets": [secret]}
        carrier = Carrier.objects.create(
            organization=org, code=spec.code, name=spec.name, adapter=adapter, config=config, service_levels=list(spec.service_levels),
            skills=list(spec.skills), lead_min=spec.lead_min, pickup_cutoff=time.fromisoformat(spec.cutoff),
        )
        zlat, zlon = offset(city.lat, city.lon, *spec.zone_offset_km)
        if adapter != "manual":
            sandbox_carriers.append({
                "code": spec.code, "api_key": key, "dialect": "legacy" if adapter == "generic" else "native",
                "webhook_url": f"{public_url}/webhooks/carriers/{slug}/{spec.code}/", "webhook_secret": secret,
                "zones": [{"lat": zlat, "lon": zlon, "radius_km": spec.radius_km}], "capacity_per_hour": max(10, spec.capacity // 6),
                "base": spec.base, "per_kg": spec.per_kg, "per_km": spec.per_km, "lead_min": spec.lead_min,
                "reliability": spec.reliability, "seed": seed,
            })
        zone = CarrierZone.objects.create(carrier=carrier, name="metro", lat=zlat, lon=zlon, radius_km=spec.radius_km)
        for level in spec.service_levels:
            surcharge = {ServiceLevel.EXPRESS: 4.0, ServiceLevel.SAME_DAY: 1.0}.get(level, 0.0)
            RateCard.objects.create(carrier=carrier, service_level=level, base=spec.base + surcharge, per_kg=spec.per_kg, per_km=spec.per_km)
        CapacitySlot.objects.create(carrier=carrier, zone=zone, window_start=sim_start - timedelta(hours=4),
                                    window_end=sim_start + timedelta(hours=12), capacity=spec.capacity)

    actor = ActorRef(Actor.SIMULATOR, "seed")
    specs = [order_spec(rng, city, f"S{seed}-{n:05d}", sim_start) for n in range(1, orders + 1)]
    for spec in specs:
        spec["hub"] = spec["hub"]
        spec["window_start"] = datetime.fromisoformat(spec["window_start"])
        spec["window_end"] = datetime.fromisoformat(spec["window_end"])
        customer = spec.pop("customer")
        spec.update(customer_name=customer["name"], customer_email=customer["email"], customer_phone=customer["phone"])
    orders_create(organization_id=org.id, orders=specs, actor=actor)
    Organization.objects.filter(pk=org.pk).update(auto_plan=True)  # new orders from now on are planned as they arrive
    sandbox = {"clock": {"sim_start": sim_start.isoformat(), "real_start": time_module.time(), "speed": speed},
               "carriers": sandbox_carriers}
    return {"organization": org, "password": password, "token": token, "vehicles": vehicles, "drivers": drivers, "sim_start": sim_start,
            "sandbox": sandbox}
