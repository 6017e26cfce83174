"""The in-memory channel layer of the embedded default, counting what it drops for a full
connection (the Redis layer's drops are counted from its log line, controltower.metrics)."""

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from . import metrics


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    async def send(self, channel, message):
        try:
            await super().send(channel, message)
        except ChannelFull:
            metrics.incr("channel_drops")
            raise
