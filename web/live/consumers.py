"""The dashboard's WebSocket. Networking only: authenticate, join the organization's group, forward the bus's hints."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from dispatch.models import Fleet, Hub
from dispatch.selectors import user_hub_ids
from dispatch.status import Role
from infra import bus, metrics
from web.hints import HintsWithoutDatabase

UNAUTHORIZED = 4401


class LiveConsumer(HintsWithoutDatabase, AsyncJsonWebsocketConsumer):
    """Flow control: a page that acknowledges what it has read ({"ack": seq}) has at most
    LIVE_UNACKED_MAX hints in flight. Past that it has stopped reading (a frozen tab, a slow link):
    further hints are not sent but counted (metric live_overflow), and once it has caught up it is
    told to resynchronize from the database ({"type": "resync"}), which is the truth anyway."""

    flow = False  # set by the page's first acknowledgement

    async def connect(self):
        self.in_flight: deque[int] = deque()
        self.overflowed = False
        user = self.scope.get("user")
        org_id = getattr(user, "organization_id", None) if user is not None and user.is_authenticated else None
        if not org_id or getattr(user, "role", None) == Role.DRIVER:  # a driver's account sees its own van's stops only
            await self.close(code=UNAUTHORIZED)
            return
        self.organization_id = org_id
        self.hub_codes, self.fleet_ids = await _scope_of(user)
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None) or ""
        await bus.subscribe(self.channel_layer, self.channel_name, org_id)
        if self.session_key:
            await bus.watch_session(self.channel_layer, self.channel_name, self.session_key)
        await self.accept()
        self.epoch = await sync_to_async(bus.current_epoch, thread_sensitive=False)()
        self.keepalive = asyncio.create_task(self._keep_subscribed())
        self.username = user.get_username()
        await sync_to_async(bus.presence_change, thread_sensitive=False)(org_id, self.username, +1)

    async def _keep_subscribed(self):
        """Every few seconds: join the groups again (Redis may have restarted and forgotten them)
        and, if the numbering began anew meanwhile (a new epoch), have the page resynchronize."""
        while True:
            await asyncio.sleep(settings.LIVE_KEEPALIVE_S)
            try:
                await bus.subscribe(self.channel_layer, self.channel_name, self.organization_id)
                if self.session_key:
                    await bus.watch_session(self.channel_layer, self.channel_name, self.session_key)
                epoch = await sync_to_async(bus.current_epoch, thread_sensitive=False)()
            except Exception:  # Redis is away: try again next round
                continue
            if epoch != self.epoch:
                self.epoch = epoch
                self.in_flight.clear()
                await self.send_json({"type": "resync"})

    async def disconnect(self, code):
        if getattr(self, "keepalive", None):
            self.keepalive.cancel()
        if hasattr(self, "organization_id"):
            await bus.unsubscribe(self.channel_layer, self.channel_name, self.organization_id)
        if getattr(self, "username", None):
            await sync_to_async(bus.presence_change, thread_sensitive=False)(self.organization_id, self.username, -1)
        if getattr(self, "session_key", ""):
            await bus.unwatch_session(self.channel_layer, self.channel_name, self.session_key)

    async def receive_json(self, content, **kwargs):
        ack = content.get("ack") if isinstance(content, dict) else None
        if not isinstance(ack, int) or isinstance(ack, bool):
            return  # the page sends nothing else
        self.flow = True
        while self.in_flight and self.in_flight[0] <= ack:
            self.in_flight.popleft()
        if self.overflowed and len(self.in_flight) <= settings.LIVE_UNACKED_MAX // 2:
            self.overflowed = False
            await self.send_json({"type": "resync"})

    async def ct_event(self, message):
        if self.flow and (self.overflowed or len(self.in_flight) >= settings.LIVE_UNACKED_MAX):
            self.overflowed = True
            await sync_to_async(metrics.incr, thread_sensitive=False)("live_overflow")
            return
        if message.get("epoch", self.epoch) != self.epoch:  # Redis restarted: numbers began anew
            self.epoch = message["epoch"]
            self.in_flight.clear()
        self.in_flight.append(message["seq"])
        head = {"seq": message["seq"], "epoch": message.get("epoch"), "type": message["event"]}
        if self.hub_codes is None:  # the whole organization: the payload goes on as it was encoded
            await self.send(text_data=json.dumps(head)[:-1] + ', "data": ' + message["data_json"] + "}")
        else:
            data = _within_scope(message["event"], json.loads(message["data_json"]), self.hub_codes, self.fleet_ids)
            if data is None:  # not for this dispatcher's hubs: the sequence still advances, nothing is told
                await self.send_json({**head, "type": "skip"})
                return
            await self.send_json({**head, "data": data})
        if "sent_at" in message:
            metrics.LIVE_LATENCY.observe(max(0.0, time.time() - message["sent_at"]))

    async def ct_session_ended(self, message):
        """The user logged out: this connection no longer has anyone to serve."""
        await self.close(code=UNAUTHORIZED)


async def _scope_of(user) -> tuple[set[str] | None, set[int] | None]:
    """A hub-scoped dispatcher's hub codes and fleet ids (None, None: every hub)."""

    @database_sync_to_async
    def load():

        ids = user_hub_ids(user)
        if ids is None:
            return None, None
        return (set(Hub.objects.filter(id__in=ids).values_list("code", flat=True)),
                set(Fleet.objects.filter(hub_id__in=ids).values_list("id", flat=True)))

    return await load()


def _within_scope(event: str, data: dict, hubs: set[str], fleets: set[int]) -> dict | None:
    """The part of a hint a hub-scoped dispatcher may see, or None."""
    if event == "order.changed":
        return data if data.get("hub") in hubs else None
    if event == "vehicle.changed":
        return data if data.get("fleet") in fleets else None
    if event == "vehicles.moved":
        vans = [v for v in data.get("vehicles", []) if v.get("fleet") in fleets]
        return {**data, "vehicles": vans} if vans else None
    if event in ("exception.changed", "decision.changed", "orders.imported"):
        return data if set(data.get("hubs") or ()) & hubs else None
    return data  # the organization's own: carriers, presence
