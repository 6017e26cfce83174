"""The live socket on the real Redis channel layer, authenticated by a real session cookie."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from controltower.asgi import application
from dispatch.services.positions import positions_ingest
from tests.factories import HubFactory, OrganizationFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def socket(cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


async def next_event(ws, timeout=5):
    """The next message that is not a presence update (those arrive whenever someone connects)."""
    while True:
        message = await ws.receive_json_from(timeout=timeout)
        if message["type"] != "presence.changed":
            return message


async def nothing_but_presence(ws, timeout=1.0) -> bool:
    while not await ws.receive_nothing(timeout=timeout):
        if (await ws.receive_json_from(timeout=timeout))["type"] != "presence.changed":
            return False
    return True


def ping_vehicle(vehicle, lat):
    positions_ingest(organization_id=vehicle.organization_id,
                     pings=[{"vehicle": vehicle.code, "lat": lat, "lon": -87.6, "timestamp": timezone.now()}])


def test_the_channel_layer_is_redis():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "infra.channel_layers.RedisHintsChannelLayer"


def test_a_connection_that_stops_reading_keeps_its_capacity_and_the_hints_after_it_or_too_old_are_counted():
    import time
    import uuid

    from infra import metrics
    from infra.channel_layers import RedisHintsChannelLayer

    layer = RedisHintsChannelLayer(hosts=[settings.REDIS_URL], prefix=f"t{uuid.uuid4().hex[:8]}", capacity=5, expiry=30)
    before = metrics.counter_value("channel_drops")

    async def counted(n):
        deadline = time.monotonic() + 10
        while await sync_to_async(metrics.counter_value)("channel_drops") < before + n:
            assert time.monotonic() < deadline, "the drops were not counted"
            await asyncio.sleep(0.05)

    async def scenario():
        slow, quick = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("org.x", slow)
        await layer.group_add("org.x", quick)
        for n in range(12):  # neither reads yet
            await layer.group_send("org.x", {"type": "ct.event", "n": n, "sent_at": time.time()})
        await counted(14)  # 7 over capacity on each connection
        kept = [(await layer.receive(slow))["n"] for _ in range(5)]
        first = (await layer.receive(quick))["n"]
        await layer.send(slow, {"type": "ct.event", "n": 98, "sent_at": time.time() - 60})  # waited past the expiry
        await layer.send(slow, {"type": "ct.event", "n": 99, "sent_at": time.time()})
        fresh = (await layer.receive(slow))["n"]
        await layer.flush()
        return kept, first, fresh

    kept, first, fresh = asyncio.run(scenario())

    assert kept == [0, 1, 2, 3, 4] and first == 0 and fresh == 99
    assert metrics.counter_value("channel_drops") == before + 14 + 1  # and the one too old


def test_an_accepted_ping_reaches_a_logged_in_users_socket_with_a_sequence_number():
    user = UserFactory()
    vehicle = VehicleFactory(fleet__hub=HubFactory(organization=user.organization))
    cookie = session_cookie(user)

    async def scenario():
        ws = socket(cookie)
        connected, _ = await ws.connect()
        assert connected
        await sync_to_async(ping_vehicle)(vehicle, 41.91)
        first = await next_event(ws)
        await sync_to_async(ping_vehicle)(vehicle, 41.92)
        second = await next_event(ws)
        await ws.disconnect()
        return first, second

    first, second = asyncio.run(scenario())
    assert first["type"] == "vehicles.moved"
    assert first["data"]["vehicles"][0]["code"] == vehicle.code
    assert first["data"]["vehicles"][0]["lat"] == 41.91
    assert second["seq"] == first["seq"] + 1


def test_a_socket_without_a_login_is_closed():
    async def scenario():
        ws = socket(None)
        connected, code = await ws.connect()
        return connected, code

    connected, code = asyncio.run(scenario())
    assert not connected
    assert code == 4401


def test_a_socket_only_carries_its_own_organizations_events():
    mine, theirs = UserFactory(), UserFactory(organization=OrganizationFactory())
    their_vehicle = VehicleFactory(fleet__hub=HubFactory(organization=theirs.organization))
    my_vehicle = VehicleFactory(fleet__hub=HubFactory(organization=mine.organization))
    my_cookie, their_cookie = session_cookie(mine), session_cookie(theirs)

    async def scenario():
        my_ws, their_ws = socket(my_cookie), socket(their_cookie)
        assert (await my_ws.connect())[0] and (await their_ws.connect())[0]
        await sync_to_async(ping_vehicle)(their_vehicle, 41.93)
        theirs_got = await next_event(their_ws)
        mine_silent = await nothing_but_presence(my_ws)
        await sync_to_async(ping_vehicle)(my_vehicle, 41.94)
        mine_got = await next_event(my_ws)
        await my_ws.disconnect(); await their_ws.disconnect()
        return theirs_got, mine_silent, mine_got

    theirs_got, mine_silent, mine_got = asyncio.run(scenario())
    assert theirs_got["data"]["vehicles"][0]["code"] == their_vehicle.code
    assert mine_silent
    assert mine_got["data"]["vehicles"][0]["code"] == my_vehicle.code


def test_everyone_on_the_live_screen_sees_who_else_is_watching():
    from infra import bus

    ana = UserFactory(username="ana-watch")
    ben = UserFactory(username="ben-watch", organization=ana.organization)
    a_cookie, b_cookie = session_cookie(ana), session_cookie(ben)

    async def scenario():
        a = socket(a_cookie)
        assert (await a.connect())[0]
        first = await a.receive_json_from(timeout=5)
        b = socket(b_cookie)
        assert (await b.connect())[0]
        both = await a.receive_json_from(timeout=5)
        await b.disconnect()
        after = await a.receive_json_from(timeout=5)
        await a.disconnect()
        return first, both, after

    first, both, after = asyncio.run(scenario())

    assert first["type"] == "presence.changed" and first["data"]["viewers"] == ["ana-watch"]
    assert both["data"]["viewers"] == ["ana-watch", "ben-watch"]
    assert after["data"]["viewers"] == ["ana-watch"]
    assert bus.viewers(ana.organization_id) == []
