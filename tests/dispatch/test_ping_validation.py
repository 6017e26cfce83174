"""The plain form of a ping batch is validated without DRF's per-field machinery
(serializers._plain_pings). It must accept exactly what the serializer accepts, with the same
result, and leave everything else to the serializer, which says what is wrong."""

from datetime import timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import clock
from dispatch.api.serializers import PingBatchSerializer, _plain_pings

pytestmark = pytest.mark.django_db


def by_the_serializer(data):
    """What DRF's own validation makes of the batch (the fast path bypassed)."""
    serializer = PingBatchSerializer(data=data)
    valid = super(PingBatchSerializer, serializer).is_valid()
    return serializer.validated_data["pings"] if valid else None


def stamp(minutes: float, offset_h: int | None, style: str) -> str:
    at = clock.now() + timedelta(minutes=minutes)
    if offset_h is None:
        return at.replace(tzinfo=None).isoformat()
    text = at.astimezone(dt_timezone(timedelta(hours=offset_h))).isoformat()
    return {"iso": text, "z": text.replace("+00:00", "Z"), "space": " " + text, "date": text[:10]}[style]


edges = [-180.5, -180, -90.5, -90, -0.5, 0, 0.0, 90, 90.5, 180, 180.5, 300, 300.5, 360, 360.5]
numbers = st.one_of(st.sampled_from(edges), st.floats(-400, 400), st.integers(-400, 400), st.just(0), st.just(float("nan")), st.just(float("inf")),
                    st.booleans(), st.none(), st.text(max_size=6), st.just("41.9"))
# A valid ping with some of its fields replaced by anything (most batches are plain and valid, so
# the equality is tested; the replacements test that the plain path never accepts more).
odd_values = {
    "vehicle": st.one_of(st.sampled_from(["V 2", " VAN1", "", "V" * 40, "V" * 41, "VAN\x00", "VÄN", "VAN\t1"]), st.integers()),
    "lat": numbers, "lon": numbers,
    "timestamp": st.one_of(st.builds(stamp, st.floats(-400, 10), st.one_of(st.none(), st.integers(-12, 14)),
                                     st.sampled_from(["iso", "z", "space", "date"])),
                           st.sampled_from(["9999-01-01T00:00:00Z", "1999-12-31T23:00:00Z", "now", ""]), st.integers()),
    "speed": numbers, "heading": numbers, "extra": st.just(1),
}


@st.composite
def pings(draw):
    ping = {"vehicle": draw(st.sampled_from(["VAN1", "V-2", "v.3"])), "lat": draw(st.floats(-90, 90)),
            "lon": draw(st.floats(-180, 180)),
            "timestamp": draw(st.builds(stamp, st.floats(-355, 4), st.integers(-12, 14), st.sampled_from(["iso", "z"])))}
    for key, high in (("speed", 300), ("heading", 360)):
        if draw(st.booleans()):
            ping[key] = draw(st.one_of(st.none(), st.floats(0, high), st.integers(0, high)))
    for key in draw(st.lists(st.sampled_from(sorted(odd_values)), max_size=2)) if draw(st.integers(0, 9)) < 3 else ():
        ping[key] = draw(odd_values[key])
    if draw(st.integers(0, 29)) == 0:
        ping.pop(draw(st.sampled_from(sorted(ping))))
    return ping


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(st.fixed_dictionaries({"pings": st.lists(pings(), min_size=1, max_size=4)}),
                 st.fixed_dictionaries({"pings": st.one_of(st.just([]), st.none(), st.text(max_size=3), pings())}),
                 st.lists(pings(), max_size=2)))
def test_the_plain_path_accepts_only_what_the_serializer_accepts_with_the_same_result(data):
    fast = _plain_pings(data)
    if fast is not None:
        assert fast == by_the_serializer(data)


def test_a_gateways_plain_batch_takes_the_plain_path_with_the_serializers_result():
    now = timezone.now()
    data = {"pings": [{"vehicle": f"VAN{i}", "lat": 41.8 + i / 1000, "lon": -87.6, "timestamp": (now - timedelta(seconds=i)).isoformat(),
                       **({"speed": 31.5, "heading": 90} if i % 2 else {})} for i in range(50)]
                     + [{"vehicle": "VAN9", "lat": 42, "lon": -88, "timestamp": now.isoformat().replace("+00:00", "Z"),
                         "speed": None, "heading": None}]}

    fast = _plain_pings(data)

    assert fast is not None and len(fast) == 51
    assert fast == by_the_serializer(data)


# One field changed at a time, at the edges of what is accepted: (change, taken by the plain path).
EDGES = [
    ({"lat": 90}, True), ({"lat": -90.0}, True), ({"lat": 90.0001}, False), ({"lat": -90.0001}, False),
    ({"lon": 180}, True), ({"lon": 180.0001}, False), ({"lon": -180.0001}, False),
    ({"lat": 0}, True), ({"lat": 0, "lon": 0}, False), ({"lat": 0.0, "lon": 0.0}, False),
    ({"speed": 300}, True), ({"speed": 300.01}, False), ({"speed": -0.01}, False), ({"speed": None}, True),
    ({"heading": 360}, True), ({"heading": 360.01}, False), ({"heading": 0}, True),
    ({"timestamp": 4.9}, True), ({"timestamp": 5.1}, False), ({"timestamp": -359}, True), ({"timestamp": -361}, False),
    ({"timestamp": "2101-01-01T00:00:00Z"}, False), ({"timestamp": "1999-12-31T23:59:59Z"}, False),
    ({"vehicle": "V" * 40}, True), ({"vehicle": "V" * 41}, False), ({"vehicle": " VAN1"}, False), ({"vehicle": "VAN\x00"}, False),
    ({"vehicle": "VAN 1"}, True), ({"lat": True}, False), ({"lat": "41.9"}, False), ({"extra": 1}, False),
]


@pytest.mark.parametrize("change, plain", EDGES, ids=[str(c) for c, _ in EDGES])
def test_at_the_edges_the_plain_path_agrees_with_the_serializer(change, plain):
    at = clock.now()
    if isinstance(change.get("timestamp"), (int, float)):
        change = {"timestamp": (at + timedelta(minutes=change["timestamp"])).isoformat()}
    data = {"pings": [{"vehicle": "VAN1", "lat": 41.9, "lon": -87.6, "timestamp": at.isoformat(), "speed": 20.0, **change}]}

    fast, drf = _plain_pings(data), by_the_serializer(data)

    assert (fast is not None) == plain
    if fast is not None:
        assert fast == drf
