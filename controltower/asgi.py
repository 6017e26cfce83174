import asyncio
import os
import time

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from infra import metrics  # noqa: E402

if os.environ.get("CT_TICKER") == "1":  # the embedded default's beat, in the web process only (infra.ticker)
    from infra import ticker  # noqa: E402

    ticker.start()

from .routing import websocket_urlpatterns  # noqa: E402


class RequestSlots:
    """At most `limit` HTTP requests inside Django at once in this process; the others wait on the
    event loop, in arrival order. Django runs each ASGI request on a thread of its own with a
    database connection of its own: under a burst (a gateway's batches arriving together with
    dashboards reloading) dozens of threads fought over the GIL, every one slower, and together
    they used up PostgreSQL's connections ("too many clients", answered 503). The wait is measured
    (ct_http_wait_seconds).

    A request's body is read before it takes a slot (up to `body_max` bytes; a larger one is refused
    by Django anyway), so clients sending slowly cannot hold the slots."""

    def __init__(self, app, limit: int, body_max: int):
        self.app, self.limit, self.body_max = app, limit, body_max
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def __call__(self, scope, receive, send):
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.limit)
        read, size, more = [], 0, True
        while more and size <= self.body_max:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending: nobody to answer
            read.append(message)
            size += len(message.get("body", b""))
            more = message.get("more_body", False)

        async def replay():
            return read.pop(0) if read else await receive()

        queued = time.perf_counter()
        async with slots:
            metrics.HTTP_WAIT.observe(time.perf_counter() - queued)
            await self.app(scope, replay, send)


application = ProtocolTypeRouter(
    {
        "http": RequestSlots(django_asgi_app, settings.HTTP_CONCURRENCY, body_max=settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
