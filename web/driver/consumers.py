"""The driver app's WebSocket: a bare hint that the stops of the driver's van changed (no data
travels here; the app reads its stops again over HTTP, where the driver's scope is applied)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dispatch import selectors
from dispatch.status import Role
from infra import bus
from web.hints import HintsWithoutDatabase

UNAUTHORIZED = 4401
NO_SHIFT = 4404


class DriverConsumer(HintsWithoutDatabase, AsyncJsonWebsocketConsumer):
    """Only a driver's account, linked to a driver with a shift: it hears of its shift's van alone."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or getattr(user, "role", None) != Role.DRIVER or not user.driver_id:
            await self.close(code=UNAUTHORIZED)
            return
        self.vehicle_id = await database_sync_to_async(_van_of)(user)
        if self.vehicle_id is None:
            await self.close(code=NO_SHIFT)
            return
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None) or ""
        await bus.watch_van(self.channel_layer, self.channel_name, self.vehicle_id)
        if self.session_key:
            await bus.watch_session(self.channel_layer, self.channel_name, self.session_key)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "vehicle_id", None):
            await bus.unwatch_van(self.channel_layer, self.channel_name, self.vehicle_id)
        if getattr(self, "session_key", ""):
            await bus.unwatch_session(self.channel_layer, self.channel_name, self.session_key)

    async def receive_json(self, content, **kwargs):
        return  # the app sends nothing here

    async def ct_van(self, message):
        await self.send_json({"type": "stops"})

    async def ct_session_ended(self, message):
        await self.close(code=UNAUTHORIZED)


def _van_of(user) -> int | None:
    shift = selectors.driver_shift(driver=user.driver)
    return shift.vehicle_id if shift is not None else None
