"""The tracking page's WebSocket: a bare hint that the customer's order changed."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dispatch.models import Order
from infra import bus
from web.hints import HintsWithoutDatabase

NOT_FOUND = 4404


class TrackConsumer(HintsWithoutDatabase, AsyncJsonWebsocketConsumer):
    """A customer's tracking page: public, by the order's unguessable token; it only hears that its
    own order changed (no data travels here; the page fetches itself again)."""

    async def connect(self):


        token = self.scope["url_route"]["kwargs"]["token"]
        self.order_id = await database_sync_to_async(
            lambda: Order.objects.filter(tracking_token=token).values_list("id", flat=True).first())()
        if self.order_id is None:
            await self.close(code=NOT_FOUND)
            return
        await bus.watch_order(self.channel_layer, self.channel_name, self.order_id)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "order_id", None):
            await bus.unwatch_order(self.channel_layer, self.channel_name, self.order_id)

    async def ct_track(self, message):
        await self.send_json({"changed": True})
