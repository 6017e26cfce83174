"""Request slots (controltower.asgi.RequestSlots): a web process runs at most HTTP_CONCURRENCY
requests inside Django at once; the rest wait their turn, and a slow sender holds no slot."""

import asyncio

from controltower.asgi import RequestSlots, application


def http_scope():
    return {"type": "http", "method": "POST", "path": "/x", "headers": []}


def test_no_more_requests_than_the_slots_run_at_once_and_every_one_is_served():
    running, most, served = 0, 0, []

    async def app(scope, receive, send):
        nonlocal running, most
        running += 1
        most = max(most, running)
        body = (await receive())["body"]
        await asyncio.sleep(0.02)
        running -= 1
        served.append(body)

    slots = RequestSlots(app, 3, body_max=1000)

    async def one(i):
        async def receive():
            return {"type": "http.request", "body": str(i).encode(), "more_body": False}

        await slots(http_scope(), receive, None)

    async def scenario():
        await asyncio.gather(*(one(i) for i in range(20)))

    asyncio.run(scenario())
    assert most == 3 and sorted(served) == sorted(str(i).encode() for i in range(20))


def test_a_client_sending_its_body_slowly_does_not_hold_the_only_slot():
    order = []

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message.get("more_body"):
                break
        order.append(body)

    slots = RequestSlots(app, 1, body_max=1000)

    async def scenario():
        rest = asyncio.Event()
        parts = [{"type": "http.request", "body": b"slow-", "more_body": True}]

        async def slow_receive():
            if parts:
                return parts.pop(0)
            await rest.wait()
            return {"type": "http.request", "body": b"sender", "more_body": False}

        async def quick_receive():
            return {"type": "http.request", "body": b"quick", "more_body": False}

        slow = asyncio.create_task(slots(http_scope(), slow_receive, None))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(slots(http_scope(), quick_receive, None), 5)  # served while the slow one still sends
        rest.set()
        await asyncio.wait_for(slow, 5)

    asyncio.run(scenario())
    assert order == [b"quick", b"slow-sender"]


def test_the_project_serves_http_through_the_slots():
    assert isinstance(application.application_mapping["http"], RequestSlots)
