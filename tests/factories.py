from datetime import time, timedelta

import factory
from django.utils import timezone

from carriers.models import CapacitySlot, Carrier, CarrierZone, RateCard
from dispatch.api.auth import token_issue
from dispatch.models import (
    Driver,
    Fleet,
    Hub,
    Order,
    Organization,
    Shift,
    User,
    Vehicle,
)
from dispatch.status import DutyStatus, Role


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Shipper {n}")
    slug = factory.Sequence(lambda n: f"shipper-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.DISPATCHER
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def persist(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class HubFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hub

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"H{n}")
    name = factory.LazyAttribute(lambda o: f"Hub {o.code}")
    lat = 41.88
    lon = -87.63


class FleetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fleet

    organization = factory.SelfAttribute("hub.organization")
    hub = factory.SubFactory(HubFactory)
    name = "Vans"


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    fleet = factory.SubFactory(FleetFactory)
    organization = factory.SelfAttribute("fleet.organization")
    code = factory.Sequence(lambda n: f"V{n}")
    capacity_kg = 500
    status = DutyStatus.ON_DUTY
    lat = 41.88
    lon = -87.63
    position_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=2))  # heard from: it may be given work


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"D{n}")
    name = factory.Sequence(lambda n: f"Driver {n}")


class ShiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shift

    driver = factory.SubFactory(DriverFactory)
    vehicle = factory.SubFactory(VehicleFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=7))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    hub = factory.SubFactory(HubFactory)
    organization = factory.SelfAttribute("hub.organization")
    external_ref = factory.Sequence(lambda n: f"ORD-{n}")
    address = "1 Test St"
    lat = 41.90
    lon = -87.65
    window_start = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    window_end = factory.LazyAttribute(lambda o: o.window_start + timedelta(hours=2))
    sla_deadline = factory.LazyAttribute(lambda o: o.window_end)
    service_level = "same_day"
    weight_kg = 3.0
    customer_name = "Casey Customer"
    customer_email = "casey@example.com"


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"C{n}")
    name = factory.LazyAttribute(lambda o: f"Carrier {o.code}")
    service_levels = ["express", "same_day", "scheduled"]
    lead_min = 60
    pickup_cutoff = time(23, 59, 59)

    @factory.post_generation
    def network(obj, create, extracted, **kwargs):
        if not create:
            return
        zone = CarrierZone.objects.create(carrier=obj, name="metro", lat=41.88, lon=-87.63, radius_km=30)
        for level in obj.service_levels:
            RateCard.objects.create(carrier=obj, service_level=level, base=8.0, per_kg=0.1, per_km=0.4)
        CapacitySlot.objects.create(carrier=obj, zone=zone, window_start=timezone.now() - timedelta(hours=6),
                                    window_end=timezone.now() + timedelta(hours=12), capacity=100)


def api_token(organization) -> str:
    return token_issue(organization_id=organization.id, name="tests")[1]
