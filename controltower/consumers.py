"""The dashboard's WebSocket. Networking only: authenticate, join the organization's group,
forward the bus's hints."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import events

UNAUTHORIZED = 4401


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        org_id = getattr(user, "organization_id", None) if user is not None and user.is_authenticated else None
        if not org_id:
            await self.close(code=UNAUTHORIZED)
            return
        self.organization_id = org_id
        await events.subscribe(self.channel_layer, self.channel_name, org_id)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "organization_id"):
            await events.unsubscribe(self.channel_layer, self.channel_name, self.organization_id)

    async def ct_event(self, message):
        await self.send_json({"seq": message["seq"], "type": message["event"], "data": message["data"]})
