"""The live socket as a browser uses it: through a real daphne process and the Redis channel
layer, with a real session cookie."""

import asyncio
import json
import time

import httpx
import pytest
import websockets
from django.conf import settings
from django.utils import timezone

from dispatch.services.positions import positions_ingest
from tests.factories import HubFactory, UserFactory, VehicleFactory

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def login_cookie(base: str, username: str) -> str:
    """Log in through the real login form and return the session cookie, as a browser would."""
    with httpx.Client(base_url=base) as http:
        page = http.get("/login/")
        csrf = http.cookies["csrftoken"]
        response = http.post("/login/", data={"username": username, "password": "pw-for-tests", "csrfmiddlewaretoken": csrf},
                             headers={"Referer": base + "/login/"})
        assert response.status_code == 302, response.text[:300]
        assert page.status_code == 200
        return f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME]}; csrftoken={http.cookies['csrftoken']}"


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/live/"


def ping(vehicle, lat):
    positions_ingest(organization_id=vehicle.organization_id,
                     pings=[{"vehicle": vehicle.code, "lat": lat, "lon": -87.6, "timestamp": timezone.now()}])


@pytest.fixture
def user_and_vehicle(transactional_db):
    user = UserFactory(username="idle-dispatcher")
    vehicle = VehicleFactory(fleet__hub=HubFactory(organization=user.organization))
    return user, vehicle


def test_a_dashboard_socket_stays_open_through_60_s_idle_then_receives_an_event(daphne_server, user_and_vehicle):
    user, vehicle = user_and_vehicle
    cookie = login_cookie(daphne_server, user.username)

    async def scenario():
        async with websockets.connect(ws_url(daphne_server), additional_headers={"Cookie": cookie, "Origin": daphne_server},
                                      ping_interval=None) as ws:
            idle_until = time.monotonic() + 60
            while time.monotonic() < idle_until:  # nothing but presence arrives while idle; the socket stays open
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=min(10, max(0.1, idle_until - time.monotonic()))))
                    assert message["type"] == "presence.changed"
                except TimeoutError:
                    pass
            await asyncio.to_thread(ping, vehicle, 41.95)
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                if message["type"] != "presence.changed":
                    return message

    message = asyncio.run(scenario())

    assert message["type"] == "vehicles.moved"
    assert message["data"]["vehicles"][0]["lat"] == 41.95


def test_logging_out_closes_the_users_open_socket_within_5_s(daphne_server, user_and_vehicle):
    user, vehicle = user_and_vehicle
    cookie = login_cookie(daphne_server, user.username)
    csrf = cookie.split("csrftoken=")[1]

    async def scenario():
        async with websockets.connect(ws_url(daphne_server), additional_headers={"Cookie": cookie, "Origin": daphne_server}) as ws:
            async with httpx.AsyncClient(base_url=daphne_server) as http:
                out = await http.post("/logout/", headers={"Cookie": cookie, "X-CSRFToken": csrf, "Referer": daphne_server + "/"})
                assert out.status_code == 302
            closed_at = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:  # events may still be on the way; the close must follow within 5 s
                    await asyncio.wait_for(ws.recv(), timeout=5)
            return closed.value.rcvd.code if closed.value.rcvd else None, time.monotonic() - closed_at

    code, after = asyncio.run(scenario())

    assert code == 4401
    assert after < 5


@pytest.mark.parametrize("origin", ["http://evil.example", None])
def test_a_socket_from_a_foreign_origin_or_none_is_refused(daphne_server, user_and_vehicle, origin):
    user, _ = user_and_vehicle
    cookie = login_cookie(daphne_server, user.username)
    headers = {"Cookie": cookie}
    if origin:
        headers["Origin"] = origin

    async def scenario():
        async with websockets.connect(ws_url(daphne_server), additional_headers=headers, origin=None) as ws:
            await ws.recv()

    with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed)):
        asyncio.run(scenario())


def test_an_anonymous_socket_is_refused(daphne_server, transactional_db):
    async def scenario():
        async with websockets.connect(ws_url(daphne_server), additional_headers={"Origin": daphne_server}) as ws:
            await ws.recv()

    with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed)):
        asyncio.run(scenario())


def test_a_chunked_body_over_the_limit_is_refused_by_the_real_server(daphne_server, transactional_db, org):
    from tests.factories import api_token

    token = api_token(org)
    item = b'{"vehicle": "V", "lat": 41.9, "lon": -87.6, "timestamp": "2026-01-01T00:00:00Z"},'

    def chunks():
        yield b'{"pings": ['
        for _ in range(settings.API_MAX_BODY_BYTES // len(item) + 10):
            yield item
        yield b'{"vehicle": "V", "lat": 41.9, "lon": -87.6, "timestamp": "2026-01-01T00:00:00Z"}]}'

    response = httpx.post(daphne_server + "/api/vehicle-positions/", content=chunks(), timeout=30,
                          headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})

    assert response.status_code == 413, response.text[:500]
    assert response.json()["error"]["code"] == "payload_too_large"
