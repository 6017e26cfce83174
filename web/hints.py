"""What the edge's WebSockets share: the bus's hints are handled without the database."""

from __future__ import annotations

from channels.consumer import get_handler_name


class HintsWithoutDatabase:
    """The bus's hints ("ct.*" messages) are handled without the database. Channels' dispatch
    closes stale database connections before every message (a hop to a thread and back): at
    hundreds of hints a second across a daphne's dashboards that was the event loop's largest
    single cost. Everything else is dispatched as channels does it."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None) if message.get("type", "").startswith("ct.") else None
        if handler is None:
            await super().dispatch(message)
        else:
            await handler(message)
