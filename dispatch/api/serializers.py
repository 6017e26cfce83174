from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from carriers import egress
from dispatch import clock
from dispatch.models import Order, Vehicle
from dispatch.selectors import decision_current
from dispatch.status import (
    DutyStatus,
    FailureReason,
    OrderStatus,
    ProofKind,
    ServiceLevel,
)

from .fields import AwareDateTimeField, FiniteFloatField, Latitude, Longitude, StrictQuery, Text

SKILLS = ["bulky", "regulated", "cold", "fragile"]
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_PING_AGE = timedelta(hours=6)        # older positions cannot place a van any more
MAX_WINDOW_AHEAD = timedelta(days=366)   # orders are promised within a year
MAX_WINDOW_LENGTH = timedelta(days=14)
REF = r"^[A-Za-z0-9._:\-]{1,100}$"


class CustomerSerializer(serializers.Serializer):
    name = Text(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = Text(max_length=40, required=False, allow_blank=True)


class OrderCreateSerializer(serializers.Serializer):
    external_ref = serializers.RegexField(REF, error_messages={"invalid": "Use 1-100 letters, digits, '.', '_', ':' or '-'."})
    hub = Text(max_length=40, help_text="Pickup hub code")
    address = Text(max_length=300)
    lat = Latitude()
    lon = Longitude()
    window_start = AwareDateTimeField()
    window_end = AwareDateTimeField()
    sla_deadline = AwareDateTimeField(required=False, help_text="Defaults to window_end")
    service_level = serializers.ChoiceField(choices=ServiceLevel.choices)
    weight_kg = FiniteFloatField(min_value=0, max_value=5000)
    volume_m3 = FiniteFloatField(min_value=0, max_value=100, required=False, default=0.0)
    requires = serializers.ListField(child=serializers.ChoiceField(choices=SKILLS), required=False, default=list, max_length=4)
    service_min = FiniteFloatField(min_value=0, max_value=240, required=False, default=4.0)
    customer = CustomerSerializer()
    proof_required = serializers.ListField(child=serializers.ChoiceField(choices=ProofKind.choices), required=False, default=list,
                                           max_length=4, help_text="Proof this order needs on top of its service level's")

    def validate(self, attrs):
        errors = {}
        if attrs["window_end"] <= attrs["window_start"]:
            errors["window_end"] = ["The window must end after it starts."]
        elif attrs["window_end"] - attrs["window_start"] > MAX_WINDOW_LENGTH:
            errors["window_end"] = [f"A delivery window is at most {MAX_WINDOW_LENGTH.days} days long."]
        now = clock.now()
        if attrs["window_start"] > now + MAX_WINDOW_AHEAD:
            errors["window_start"] = ["The window starts more than a year from now; check the date."]
        if attrs["window_end"] < now - timedelta(days=1):
            errors.setdefault("window_end", []).append("The window ended more than a day ago; an order must still be deliverable.")
        if "sla_deadline" in attrs and attrs["sla_deadline"] < attrs["window_start"]:
            errors["sla_deadline"] = ["The SLA deadline cannot be before the window starts."]
        if attrs["lat"] == 0 and attrs["lon"] == 0:
            errors["lat"] = ["(0, 0) is not an address; geocode the order before sending it."]
        if errors:
            raise serializers.ValidationError(errors)
        customer = attrs.pop("customer")
        attrs["customer_name"] = customer["name"]
        attrs["customer_email"] = customer.get("email", "")
        attrs["customer_phone"] = customer.get("phone", "")
        return attrs


class OrderUpdateSerializer(serializers.Serializer):
    """A change to an order not yet picked up; send only what changes. `version` (from the order you
    read) makes a concurrent change a 409 instead of a silent overwrite."""

    version = serializers.IntegerField(min_value=1, required=False)
    address = Text(max_length=300, required=False)
    lat = Latitude(required=False)
    lon = Longitude(required=False)
    window_start = AwareDateTimeField(required=False)
    window_end = AwareDateTimeField(required=False)
    sla_deadline = AwareDateTimeField(required=False)
    weight_kg = FiniteFloatField(min_value=0, max_value=5000, required=False)
    volume_m3 = FiniteFloatField(min_value=0, max_value=100, required=False)
    requires = serializers.ListField(child=serializers.ChoiceField(choices=SKILLS), required=False, max_length=4)
    service_min = FiniteFloatField(min_value=0, max_value=240, required=False)
    instructions = Text(max_length=500, required=False, allow_blank=True)
    customer = CustomerSerializer(required=False)

    def validate(self, attrs):
        if ("lat" in attrs) != ("lon" in attrs):
            raise serializers.ValidationError({"lat": ["Send lat and lon together."]})
        if attrs.get("lat") == 0 and attrs.get("lon") == 0:
            raise serializers.ValidationError({"lat": ["(0, 0) is not an address; geocode it first."]})
        if "window_start" in attrs and attrs["window_start"] > clock.now() + MAX_WINDOW_AHEAD:
            raise serializers.ValidationError({"window_start": ["The window starts more than a year from now; check the date."]})
        customer = attrs.pop("customer", None)
        if customer is not None:
            attrs["customer_name"] = customer["name"]
            if "email" in customer:
                attrs["customer_email"] = customer["email"]
            if "phone" in customer:
                attrs["customer_phone"] = customer["phone"]
        return attrs


class OrderBatchSerializer(serializers.Serializer):
    orders = serializers.ListField(child=OrderCreateSerializer(), min_length=1, max_length=settings.API_MAX_BATCH)


class OrderSerializer(serializers.ModelSerializer):
    hub = Text(source="hub.code")
    vehicle = Text(source="vehicle.code", allow_null=True, default=None)
    carrier = Text(source="carrier.code", allow_null=True, default=None)
    customer = serializers.SerializerMethodField()
    tracking_url = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "external_ref", "status", "risk", "hub", "address", "lat", "lon", "window_start", "window_end",
            "sla_deadline", "service_level", "weight_kg", "volume_m3", "requires", "service_min", "customer",
            "instructions", "eta", "vehicle", "carrier", "failure_reason", "delivered_at", "version", "tracking_url",
            "proof_required", "proof_missing", "created_at", "updated_at",
        ]

    def get_customer(self, order) -> dict:
        return {"name": order.customer_name, "email": order.customer_email, "phone": order.customer_phone}

    def get_tracking_url(self, order) -> str:
        return f"/track/{order.tracking_token}/"


class OrderListQuerySerializer(StrictQuery):
    status = Text(required=False, help_text="Comma-separated statuses")
    service_level = serializers.ChoiceField(choices=ServiceLevel.choices, required=False)
    hub = Text(required=False)
    carrier = Text(required=False)
    window_from = AwareDateTimeField(required=False)
    window_to = AwareDateTimeField(required=False)

    def validate_status(self, value):
        statuses = [s for s in value.split(",") if s]
        bad = [s for s in statuses if s not in OrderStatus.values]
        if bad:
            raise serializers.ValidationError(f"Unknown status {', '.join(bad)}; use one of {', '.join(OrderStatus.values)}.")
        return statuses


class OrderStatusUpdateSerializer(serializers.Serializer):
    """Proof of delivery from the own fleet's driver app."""

    status = serializers.ChoiceField(choices=[OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELIVERED, OrderStatus.FAILED])
    failure_reason = serializers.ChoiceField(choices=FailureReason.choices, required=False, allow_blank=True, default="")
    at = AwareDateTimeField(required=False)
    note = Text(required=False, allow_blank=True, max_length=300, default="")


class CancelSerializer(serializers.Serializer):
    reason = Text(required=False, allow_blank=True, max_length=300, default="")


def ping_time_error(value, now) -> str:
    """Why a ping's time cannot place its vehicle ("" when it can)."""
    if value > now + MAX_CLOCK_SKEW:
        return "The timestamp is in the future; check the device clock."
    if value < now - MAX_PING_AGE:
        return f"The timestamp is more than {MAX_PING_AGE.seconds // 3600} hours old; the position can no longer place the vehicle."
    return ""


class PingSerializer(serializers.Serializer):
    vehicle = Text(max_length=40)
    lat = Latitude()
    lon = Longitude()
    timestamp = AwareDateTimeField()
    speed = FiniteFloatField(min_value=0, max_value=300, required=False, allow_null=True)
    heading = FiniteFloatField(min_value=0, max_value=360, required=False, allow_null=True)

    def validate_timestamp(self, value):
        error = ping_time_error(value, clock.now())
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate(self, attrs):
        if attrs["lat"] == 0 and attrs["lon"] == 0:
            raise serializers.ValidationError({"lat": ["(0, 0) is what a device without a GPS fix sends; the ping was not stored."]})
        return attrs


MAX_PINGS = 5000
# The plain path's fields and limits are the serializer's own (one place states them).
_PING_FIELDS = PingSerializer().fields
PING_KEYS = frozenset(_PING_FIELDS)
PING_REQUIRED = frozenset(key for key, field in _PING_FIELDS.items() if field.required)
_VEHICLE_MAX = _PING_FIELDS["vehicle"].max_length
_RANGES = {key: (_PING_FIELDS[key].min_value, _PING_FIELDS[key].max_value) for key in ("lat", "lon", "speed", "heading")}
_YEARS = AwareDateTimeField.YEARS


def _number(value, low: float, high: float) -> float | None:
    """A JSON number within [low, high] as a float, or None when the field must judge it (NaN and
    infinities fail the comparison)."""
    if type(value) is float or type(value) is int:
        return float(value) if low <= value <= high else None
    return None


def _plain_pings(data) -> list[dict] | None:
    """The pings of a batch in the plain form a telematics gateway sends, validated by the same
    rules as PingSerializer, or None if anything in it is not plain or not valid: the serializer
    then judges the batch and says what is wrong. DRF's per-field machinery was a third of the
    time a 1,600-ping batch took to accept."""
    pings = data.get("pings") if type(data) is dict else None
    if type(pings) is not list or not 1 <= len(pings) <= MAX_PINGS:
        return None
    now, zone = clock.now(), timezone.get_current_timezone()
    out = []
    for ping in pings:
        if type(ping) is not dict or not PING_REQUIRED <= ping.keys() <= PING_KEYS:
            return None
        vehicle, stamp = ping["vehicle"], ping["timestamp"]
        if type(vehicle) is not str or not 0 < len(vehicle) <= _VEHICLE_MAX or vehicle != vehicle.strip() or not vehicle.isprintable():
            return None
        lat, lon = _number(ping["lat"], *_RANGES["lat"]), _number(ping["lon"], *_RANGES["lon"])
        if lat is None or lon is None or (lat == 0 and lon == 0) or type(stamp) is not str:
            return None
        try:
            at = parse_datetime(stamp)
        except ValueError:
            return None
        if at is None or at.tzinfo is None or stamp != stamp.strip():
            return None
        at = at.astimezone(zone)
        if not _YEARS[0] <= at.year <= _YEARS[1] or ping_time_error(at, now):
            return None
        clean = {"vehicle": vehicle, "lat": lat, "lon": lon, "timestamp": at}
        for key in ("speed", "heading"):
            if key in ping:
                value = ping[key]
                clean[key] = value if value is None else _number(value, *_RANGES[key])
                if value is not None and clean[key] is None:
                    return None
        out.append(clean)
    return out


class PingBatchSerializer(serializers.Serializer):
    pings = serializers.ListField(child=PingSerializer(), min_length=1, max_length=MAX_PINGS)

    def is_valid(self, *, raise_exception=False):
        plain = _plain_pings(self.initial_data) if hasattr(self, "initial_data") else None
        if plain is None:
            return super().is_valid(raise_exception=raise_exception)
        self._validated_data, self._errors = {"pings": plain}, {}
        return True


class DutyStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DutyStatus.choices)
    reason = Text(required=False, allow_blank=True, max_length=300, default="")


class VehicleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vehicle
        fields = ["code", "status", "capacity_kg", "capacity_m3", "skills", "lat", "lon", "speed_kmh", "heading", "position_at"]


class CarrierEventSerializer(serializers.Serializer):
    carrier = Text(max_length=40)
    event_id = Text(max_length=200)
    order = Text(max_length=100, help_text="The order's external_ref")
    status = serializers.ChoiceField(choices=[OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELIVERED,
                                              OrderStatus.FAILED, OrderStatus.RETURNED, ("eta", "New ETA")])
    failure_reason = serializers.ChoiceField(choices=FailureReason.choices, required=False, allow_blank=True, default="")
    occurred_at = AwareDateTimeField(required=False)
    eta = AwareDateTimeField(required=False)

    def validate(self, attrs):
        if attrs["status"] == "eta" and "eta" not in attrs:
            raise serializers.ValidationError({"eta": ["An 'eta' event needs the new ETA."]})
        return attrs


class CarrierEventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=CarrierEventSerializer(), min_length=1, max_length=1000)


class CapacitySlotSerializer(serializers.Serializer):
    zone = Text(required=False, allow_blank=True, max_length=100)
    window_start = AwareDateTimeField()
    window_end = AwareDateTimeField()
    capacity = serializers.IntegerField(min_value=0, max_value=100000)

    def validate(self, attrs):
        if attrs["window_end"] <= attrs["window_start"]:
            raise serializers.ValidationError({"window_end": ["The window must end after it starts."]})
        return attrs


class CarrierAvailabilitySerializer(serializers.Serializer):
    health = serializers.ChoiceField(choices=["up", "degraded", "down"], required=False)
    reason = Text(required=False, allow_blank=True, max_length=300, default="")
    capacity = CapacitySlotSerializer(many=True, required=False, max_length=500)


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = Text()
    version = serializers.IntegerField()
    summary = Text()
    cost_delta = serializers.FloatField()
    sla_improved = serializers.IntegerField()
    sla_worsened = serializers.IntegerField()
    moves = serializers.JSONField()
    decided_by = Text()
    reason_code = Text()
    note = Text()


class ExceptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = Text()
    severity = Text()
    state = Text()
    title = Text()
    cause = Text()
    detected_at = AwareDateTimeField()
    orders = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    def get_orders(self, exc) -> list[str]:
        return list(exc.orders.values_list("external_ref", flat=True))

    def get_decision(self, exc) -> dict | None:

        d = decision_current(exc)
        return DecisionSerializer(d).data if d else None


class DecisionActionSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you saw; a stale one gets a 409")
    orders = serializers.ListField(child=Text(), required=False, help_text="Approve only these orders")
    note = Text(required=False, allow_blank=True, max_length=300, default="")


class DecisionOverrideSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    order = Text()
    to_kind = serializers.ChoiceField(choices=["van", "carrier"])
    to_code = Text()
    reason_code = Text()
    note = Text(required=False, allow_blank=True, max_length=300, default="")


class CarrierSerializer(serializers.Serializer):
    code = Text()
    name = Text()
    adapter = Text()
    health = Text()
    health_reason = Text()
    service_levels = serializers.ListField(child=Text())


class WebhookSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.URLField()
    secret = Text(min_length=16, max_length=100, write_only=True,
                                   help_text="Shared secret for the Webhook-Signature header (HMAC-SHA256 over 't.body')")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=["order.created", "order.status", "order.updated", "order.eta", "order.delayed", "order.arriving", "driver.duty", "exception.raised", "decision.applied"]),
                                        required=False, default=list)
    active = serializers.BooleanField(required=False, default=True)

    def validate_url(self, value):
        try:
            egress.check_url(value)
        except egress.UnsafeURL as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class WebhookAttemptSerializer(serializers.Serializer):
    at = AwareDateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    error = Text()
    latency_ms = serializers.IntegerField()
    manual = serializers.BooleanField()


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = Text()
    event_type = Text()
    status = Text()
    attempts = serializers.IntegerField()
    next_attempt_at = AwareDateTimeField(allow_null=True)
    created_at = AwareDateTimeField()
    delivered_at = AwareDateTimeField(allow_null=True)
    attempt_log = WebhookAttemptSerializer(many=True)


class ProofUploadSerializer(serializers.Serializer):
    """One proof of delivery from the driver app: a photo or signature file (multipart), the PIN the
    customer gave, or an age check's result."""

    kind = serializers.ChoiceField(choices=ProofKind.choices)
    file = serializers.FileField(required=False, help_text="photo: JPEG, PNG or WebP; signature: PNG, JPEG or SVG; at most 1.5 MB")
    pin = Text(required=False, max_length=12)
    checked = serializers.BooleanField(required=False, allow_null=True, default=None)
    note = Text(required=False, allow_blank=True, max_length=300, default="")


class ProofSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = Text()
    verified = serializers.BooleanField()
    source = Text()
    content_type = Text()
    size = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    missing = serializers.ListField(child=Text(), help_text="Proof the order still lacks")


class OrderImportQuery(StrictQuery):
    dry_run = serializers.BooleanField(required=False, default=False,
                                       help_text="Check only: report every row and every error, create nothing")


class OrderImportJsonSerializer(serializers.Serializer):
    """Orders to import as JSON: each in the API's order shape, checked one by one (a dry run reports
    each order's errors rather than refusing the request)."""

    orders = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=settings.ORDER_FILE_MAX_ROWS)
