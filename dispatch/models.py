"""The domain core's tables. Models hold data and invariants of one row; every write that
spans rows lives in dispatch.services."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .clock import now as clock_now
from planner.travel import compass_zone
from .status import (
    Actor,
    DecisionState,
    DutyStatus,
    ExceptionKind,
    ExceptionState,
    FailureReason,
    MessageKind,
    OrderStatus,
    OverrideReason,
    ProofKind,
    Risk,
    Role,
    ServiceLevel,
    Severity,
    StopKind,
)

LAT = [MinValueValidator(-90), MaxValueValidator(90)]
LON = [MinValueValidator(-180), MaxValueValidator(180)]


def new_tracking_token() -> str:
    return secrets.token_urlsafe(24)


def history_user(request=None, **kwargs):
    """Who made a versioned change: the logged-in person; an API token client (the organization's
    integration) or a task is recorded as nobody, and the change's reason says what did it."""
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


def new_delivery_pin() -> str:
    return f"{secrets.randbelow(10000):04d}"


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    auto_plan = models.BooleanField(default=False, help_text="Plan new orders onto vans and carriers as they arrive")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DISPATCHER)
    hubs = models.ManyToManyField("dispatch.Hub", blank=True, related_name="scoped_users",
                                  help_text="A dispatcher scoped to these hubs sees and acts on their orders, vans and exceptions only "
                                            "(none: every hub)")


class ApiToken(models.Model):
    """A per-organization API credential. Only a hash of the secret is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Hub(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="hubs")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    lat = models.FloatField(validators=LAT)
    lon = models.FloatField(validators=LON)
    load_min_per_order = models.FloatField(default=1.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="hub_code_per_org")]

    def __str__(self) -> str:
        return self.code


class Fleet(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="fleets")
    name = models.CharField(max_length=200)
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="fleets")

    def __str__(self) -> str:
        return self.name


class Vehicle(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="vehicles")
    fleet = models.ForeignKey(Fleet, on_delete=models.PROTECT, related_name="vehicles")
    code = models.CharField(max_length=40)
    capacity_kg = models.FloatField(validators=[MinValueValidator(0)])
    capacity_m3 = models.FloatField(default=10.0, validators=[MinValueValidator(0)])
    skills = models.JSONField(default=list, blank=True)
    cost_per_km = models.FloatField(default=0.55)
    cost_per_hour = models.FloatField(default=24.0)
    fixed_cost = models.FloatField(default=0.0)
    status = models.CharField(max_length=20, choices=DutyStatus.choices, default=DutyStatus.OFF_DUTY)
    # Latest accepted position. Only a newer ping moves it (see services.positions).
    lat = models.FloatField(null=True, blank=True, validators=LAT)
    lon = models.FloatField(null=True, blank=True, validators=LON)
    speed_kmh = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    position_at = models.DateTimeField(null=True, blank=True)
    etas_at = models.DateTimeField(null=True, blank=True, help_text="The position time its stops' ETAs were last computed from")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="vehicle_code_per_org")
        ]

    def __str__(self) -> str:
        return self.code


class Driver(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="drivers")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=DutyStatus.choices, default=DutyStatus.OFF_DUTY)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="driver_code_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class Shift(models.Model):
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="shifts")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start")
        ]


class Order(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="orders")
    external_ref = models.CharField(max_length=100)
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="orders")
    address = models.CharField(max_length=300)
    lat = models.FloatField(validators=LAT)
    lon = models.FloatField(validators=LON)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    sla_deadline = models.DateTimeField()
    service_level = models.CharField(max_length=20, choices=ServiceLevel.choices)
    weight_kg = models.FloatField(validators=[MinValueValidator(0)])
    volume_m3 = models.FloatField(default=0.0, validators=[MinValueValidator(0)])
    requires = models.JSONField(default=list, blank=True)
    instructions = models.CharField(max_length=500, blank=True, help_text="The customer's delivery instructions")
    service_min = models.FloatField(default=4.0)
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField(blank=True)
    customer_phone = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.CREATED, db_index=True)
    risk = models.CharField(max_length=20, choices=Risk.choices, default=Risk.ON_TIME)
    eta = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=30, choices=FailureReason.choices, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Current assignment, kept in step with the active Assignment by services.assignments.
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    tracking_token = models.CharField(max_length=64, unique=True, default=new_tracking_token)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock_now)
    updated_at = models.DateTimeField(auto_now=True)
    # Where and when it counts in reports (derived from the hub, the point and the window; see derive()).
    zone = models.CharField(max_length=20, blank=True, help_text="Delivery zone: hub code and compass sector from it")
    service_date = models.DateField(null=True, blank=True, help_text="Local date of the window's end: the day it is due")
    # Settled as the order reaches an outcome (dispatch.services.settlement).
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Delivery attempts made (failed ones and the last)")
    cost = models.DecimalField(max_digits=10, decimal_places=2, default=0, help_text="What delivering it cost so far")
    penalty = models.DecimalField(max_digits=10, decimal_places=2, default=0, help_text="SLA penalty it incurred")
    late_min = models.PositiveIntegerField(null=True, blank=True, help_text="Minutes after the window it was delivered")
    proof_required = models.JSONField(default=list, blank=True, help_text="Proof this order needs on top of its service level's")
    delivery_pin = models.CharField(max_length=6, default=new_delivery_pin, help_text="What the customer tells the driver when a PIN is required")
    proof_missing = models.BooleanField(default=False, help_text="Delivered without the proof it required")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_ref"], name="order_ref_per_org"),
            models.CheckConstraint(condition=Q(window_end__gt=models.F("window_start")), name="order_window_ordered"),
        ]
        indexes = [models.Index(fields=["organization", "status"]), models.Index(fields=["organization", "service_date"])]

    def __str__(self) -> str:
        return self.external_ref

    def derive(self, hub: Hub | None = None) -> Order:
        """Set the zone and the service date from the hub, the point and the window."""
        hub = hub or self.hub
        self.zone = compass_zone(hub.code, hub.lat, hub.lon, self.lat, self.lon)
        self.service_date = timezone.localdate(self.window_end)
        return self

    def save(self, *args, **kwargs):
        if self.window_end is not None and self.hub_id is not None:
            self.derive()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "zone", "service_date"}
        super().save(*args, **kwargs)

    @property
    def on_time(self) -> bool | None:
        if self.delivered_at is None:
            return None
        return self.delivered_at <= self.window_end


class Route(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="routes")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="routes")
    service_date = models.DateField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Stop(models.Model):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="stops")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="stops")
    kind = models.CharField(max_length=10, choices=StopKind.choices)
    sequence = models.PositiveIntegerField()
    lat = models.FloatField()
    lon = models.FloatField()
    planned_at = models.DateTimeField(null=True, blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["route", "sequence"]),
            # The open stops of a route: what every ETA pass and proposal reads. Without it PostgreSQL
            # read the whole stop table (done stops and old row versions included) for each van's ETA
            # pass, about 20 times a second with 2,000 vans pinging, slower as the day went on.
            models.Index(fields=["route", "sequence"], condition=Q(completed_at__isnull=True), name="stop_open_by_route"),
        ]


class Assignment(models.Model):
    """One version of where an order is meant to go: a van route or a carrier booking."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="assignments")
    version = models.PositiveIntegerField()
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL)
    route = models.ForeignKey(Route, null=True, blank=True, on_delete=models.SET_NULL)
    booking = models.ForeignKey("carriers.CarrierBooking", null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)
    actor_type = models.CharField(max_length=20, choices=Actor.choices)
    actor = models.CharField(max_length=200)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "version"], name="assignment_version_per_order"),
            models.UniqueConstraint(fields=["order"], condition=Q(active=True), name="one_active_assignment"),
            models.CheckConstraint(
                condition=Q(vehicle__isnull=False, booking__isnull=True) | Q(vehicle__isnull=True, booking__isnull=False),
                name="assignment_vehicle_xor_booking",
            ),
        ]


class VehiclePosition(models.Model):
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="positions")
    lat = models.FloatField(validators=LAT)
    lon = models.FloatField(validators=LON)
    recorded_at = models.DateTimeField()
    speed_kmh = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["vehicle", "recorded_at"])]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The event log is append-only")

    def delete(self):
        raise TypeError("The event log is append-only")


class Event(models.Model):
    """Append-only log of everything that happened to an order, vehicle or carrier."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=60, db_index=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    actor_type = models.CharField(max_length=20, choices=Actor.choices)
    actor = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock_now, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The event log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The event log is append-only")


class IdempotencyRecord(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "endpoint", "key"], name="idempotency_key_per_org")
        ]


class ClockAnchor(models.Model):
    """Set only while a simulation runs: the virtual clock every process reads (dispatch.clock)."""

    real_at = models.DateTimeField()
    sim_at = models.DateTimeField()
    speed = models.FloatField(default=1.0)


class Policy(models.Model):
    """What the engine may apply without a dispatcher (configured by admins)."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="policy")
    auto_apply = models.BooleanField(default=True)
    max_cost_increase = models.FloatField(default=25.0, help_text="Largest total cost increase applied automatically")
    require_no_sla_worse = models.BooleanField(default=True, help_text="Only auto-apply when no order's SLA gets worse")
    eta_tolerance_min = models.PositiveIntegerField(default=15, help_text="ETA change that warrants telling the customer")
    no_show_grace_min = models.PositiveIntegerField(default=20)
    carrier_silence_min = models.PositiveIntegerField(default=30)
    spike_factor = models.FloatField(default=1.5, help_text="Orders per zone and window above this times plan is a spike")
    vehicle_silence_min = models.PositiveIntegerField(
        default=10, help_text="A van with open stops and no ping for this long may have broken down")
    response_sla_min = models.JSONField(
        default=dict, blank=True,
        help_text="Minutes to resolve an exception per severity before it escalates, e.g. {\"critical\": 5}")
    van_orders_per_hour = models.FloatField(
        default=6.0, help_text="Deliveries one van is planned to make per hour (the own fleet's planned capacity)")
    max_orders_moved = models.PositiveIntegerField(
        default=500, help_text="Largest number of orders one decision may move and still be applied automatically")
    auto_apply_kinds = models.JSONField(
        default=list, blank=True,
        help_text="Exception kinds whose decisions may be applied automatically (empty: every kind)")
    health_degraded_error_rate = models.FloatField(default=0.2, help_text="Share of failed recent calls that makes a carrier degraded")
    health_down_error_rate = models.FloatField(default=0.5, help_text="Share of failed recent calls (the last one failing) that makes it down")
    health_slow_ms = models.PositiveIntegerField(default=3000, help_text="90th percentile latency above which a carrier is degraded")
    carrier_timeout_s = models.FloatField(default=5.0, help_text="How long one call to a carrier may take")
    breaker_failures = models.PositiveIntegerField(default=5, help_text="Consecutive failed calls that stop calling a carrier for a while")
    spike_min_orders = models.PositiveIntegerField(default=5, help_text="Fewest orders in a hub-hour that can be a demand spike")
    replan_min_saving = models.FloatField(default=5.0, help_text="Least saving for which a network re-plan is proposed")
    history = HistoricalRecords(get_user=history_user)


class OrderException(models.Model):
    """Something that left the plan. One live exception per cause: seeing the cause again updates it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="exceptions")
    kind = models.CharField(max_length=30, choices=ExceptionKind.choices)
    cause_key = models.CharField(max_length=200, help_text="Identifies the cause, e.g. carrier:12")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    state = models.CharField(max_length=12, choices=ExceptionState.choices, default=ExceptionState.OPEN)
    title = models.CharField(max_length=300)
    cause = models.TextField(blank=True)
    orders = models.ManyToManyField(Order, related_name="exceptions", blank=True)
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL)
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.SET_NULL)
    detected_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    seen_count = models.PositiveIntegerField(default=1)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When it passed its response SLA unresolved")
    snoozed_until = models.DateTimeField(null=True, blank=True)
    holder = models.ForeignKey("dispatch.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="held_exceptions",
                               help_text="The dispatcher handling it")
    held_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "cause_key"], condition=Q(state__in=["open", "proposed"]),
                                    name="one_live_exception_per_cause"),
        ]
        indexes = [models.Index(fields=["organization", "state"])]


class Decision(models.Model):
    """A proposed response to an exception: which orders move where, at what cost and SLA effect."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="decisions")
    exception = models.ForeignKey(OrderException, on_delete=models.CASCADE, related_name="decisions")
    state = models.CharField(max_length=20, choices=DecisionState.choices, default=DecisionState.PROPOSED)
    version = models.PositiveIntegerField(default=1)
    moves = models.JSONField(default=list, help_text="[{order, from, to: {kind, code}, cost_delta, sla_before, sla_after, alternatives}]")
    cost_delta = models.FloatField(default=0.0)
    sla_improved = models.PositiveIntegerField(default=0)
    sla_worsened = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=300, blank=True)
    proposed_by = models.CharField(max_length=100, default="planner")
    decided_by = models.CharField(max_length=150, blank=True)
    decided_actor_type = models.CharField(max_length=20, choices=Actor.choices, blank=True)
    reason_code = models.CharField(max_length=30, choices=OverrideReason.choices, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    problem = models.JSONField(null=True, blank=True, help_text="The problem it solved (Track B snapshot with the current plan)")
    updated_at = models.DateTimeField(auto_now=True, null=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reversed_by",
                                    help_text="The applied decision this one undoes")

    @property
    def bookings_left(self) -> int:
        """Carrier bookings an approval has still to make (0 unless it is being applied)."""
        return sum(1 for m in self.moves if m.get("pending")) if self.state == DecisionState.PROPOSED else 0


class CustomerMessage(models.Model):
    """One notification to a customer. Unique per order, kind and key, so each change is told once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    key = models.CharField(max_length=100, help_text="What makes this change distinct (e.g. the ETA)")
    channel = models.CharField(max_length=10, default="email")
    to = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    eta = models.DateTimeField(null=True, blank=True, help_text="The ETA this message stated, if any")
    # pending, sending, sent, failed, skipped (no longer true when its moment came), superseded (folded
    # into a later message of the same order), unconfirmed (a worker died while sending)
    status = models.CharField(max_length=12, default="pending")
    send_after = models.DateTimeField(null=True, blank=True,
                                      help_text="The end of its change window: what else happens to the order until then is told in this one message")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock_now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "kind", "key"], name="one_message_per_change")]
        indexes = [models.Index(fields=["status", "send_after"])]


class MessageTemplate(models.Model):
    """An organization's wording for a kind of customer message (Django template syntax)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="message_templates")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    channel = models.CharField(max_length=10, choices=[("email", "E-mail"), ("sms", "SMS")], default="email")
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "kind", "channel"], name="one_template_per_kind_channel")]


class ServiceLevelRule(models.Model):
    """An organization's own promise and penalties for one service level (configured by admins,
    read by the planner, the detectors and the reports at the moment they act). Every change is
    kept with who made it and when (django-simple-history)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="service_rules")
    service_level = models.CharField(max_length=20, choices=ServiceLevel.choices)
    late_fixed = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)],
                                     help_text="Penalty for a late delivery")
    late_per_min = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)],
                                       help_text="Added per minute late")
    unserved = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)],
                                   help_text="Penalty for an order not delivered (returned or left unplanned)")
    reattempt_cost = models.DecimalField(max_digits=8, decimal_places=2, default=8, validators=[MinValueValidator(0)],
                                         help_text="What a failed attempt costs to try again")
    at_risk_margin_min = models.PositiveIntegerField(default=15, help_text="An ETA this close to the window's end is at risk")
    proof_required = models.JSONField(default=list, blank=True, help_text="Proof of delivery every order of this level needs")
    lead_min = models.PositiveIntegerField(default=0, help_text="Least minutes from ordering to the window's start")
    max_window_min = models.PositiveIntegerField(null=True, blank=True, help_text="Longest delivery window this level promises")
    cutoff = models.TimeField(null=True, blank=True, help_text="Orders for today's windows are taken until this local time")
    priority = models.PositiveSmallIntegerField(default=2, help_text="Planned first: 1 before 2 before 3")
    handling = models.JSONField(default=list, blank=True, help_text="Handling every order of this level needs (bulky, regulated, cold, fragile)")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "service_level"], name="one_rule_per_level")]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.service_level}"


class DailyRollup(models.Model):
    """Outcomes of a day's orders, summed per hub, carrier or fleet, zone, service level and failure
    reason: what the performance reports read. Recomputed from the orders for a whole day at a time
    (dispatch.services.rollups), so it always agrees with them."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="+")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    fleet = models.ForeignKey(Fleet, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    zone = models.CharField(max_length=20)
    service_level = models.CharField(max_length=20)
    failure_reason = models.CharField(max_length=30, blank=True)
    orders = models.PositiveIntegerField(default=0, help_text="Orders that reached an outcome")
    delivered = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    first_attempt = models.PositiveIntegerField(default=0)
    failed_attempts = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)
    late_min = models.PositiveIntegerField(default=0)
    weight_kg = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    penalty = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    promised_min = models.PositiveIntegerField(default=0, help_text="Sum of promised minutes from creation to window end")
    actual_min = models.PositiveIntegerField(default=0, help_text="Sum of minutes from creation to delivery")
    quoted = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="Sum of the prices quoted at booking")
    without_proof = models.PositiveIntegerField(default=0, help_text="Delivered without the proof they required")

    class Meta:
        indexes = [models.Index(fields=["organization", "day"])]


class DailyLateness(models.Model):
    """Late deliveries per day and minutes-late bucket (for the lateness distribution)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="+")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    fleet = models.ForeignKey(Fleet, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    zone = models.CharField(max_length=20)
    service_level = models.CharField(max_length=20)
    bucket = models.PositiveIntegerField(help_text="Lower bound in minutes (0, 5, 15, 30, 60, 120)")
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["organization", "day"])]


class DailySavings(models.Model):
    """A closed day's cost as it happened against the static-rule baseline on the same orders,
    both priced by the planner's evaluator."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    orders = models.PositiveIntegerField()
    actual = models.DecimalField(max_digits=14, decimal_places=2)
    baseline = models.DecimalField(max_digits=14, decimal_places=2)
    baseline_unserved = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="savings_per_day")]


class RollupDirty(models.Model):
    """A day whose roll-up must be recomputed (written in the same transaction as the change)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="dirty_once")]


class ScheduledChange(models.Model):
    """A settings change that takes effect later (an admin scheduled it). Until then the rules in
    force are the earlier ones; from its moment on, every read sees it (dispatch.selectors), and
    the beat writes it into the settings row, where django-simple-history records it."""

    class Target(models.TextChoices):
        SERVICE_RULE = "service_rule", "Service level rule"
        POLICY = "policy", "Auto-apply and detection"
        RATE_CARD = "rate_card", "Carrier rate card"
        ZONE_SURCHARGE = "zone_surcharge", "Carrier zone surcharge"
        VEHICLE_COSTS = "vehicle_costs", "Van costs"
        TEMPLATE = "template", "Customer message wording"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scheduled_changes")
    target = models.CharField(max_length=20, choices=Target.choices)
    key = models.CharField(max_length=60, blank=True,
                           help_text="What it changes: the service level, rate card or zone id, van:<id>/fleet:<id>, kind:channel")
    values = models.JSONField(help_text="Field -> new value (as the form gave it for costs and templates; validated when scheduled)")
    effective_at = models.DateTimeField()
    created_by = models.ForeignKey("dispatch.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "target", "effective_at"])]


def proof_upload_to(instance, filename: str) -> str:
    return f"proof/{instance.order.organization_id}/{instance.order_id}/{secrets.token_hex(8)}-{filename[-60:]}"


class ProofOfDelivery(models.Model):
    """Proof an order was delivered: a photo or signature file (kept through Django's storage API,
    never in the database), a PIN the customer gave, an age check. From a driver app or a carrier."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="proofs")
    kind = models.CharField(max_length=12, choices=ProofKind.choices)
    file = models.FileField(upload_to=proof_upload_to, blank=True)
    content_type = models.CharField(max_length=60, blank=True)
    size = models.PositiveIntegerField(default=0)
    verified = models.BooleanField(default=True, help_text="A PIN that matched, an age check that passed")
    source = models.CharField(max_length=60, help_text="driver app (the token's name) or carrier:<code>")
    data = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=clock_now)

    class Meta:
        indexes = [models.Index(fields=["order", "kind"])]
