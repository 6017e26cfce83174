"""Channel layers that count what they drop for a full connection.

Real mode: live hints travel by Redis publish/subscribe (channels_redis's pub/sub layer). A hint
published to an organization is one Redis message, received once by each daphne and handed to that
process's connections in memory. The core Redis layer instead stored a copy per connection and each
daphne fetched every copy with a round trip of its own: with 20 dashboards and 5 exceptions a second
about 540 round trips a second, enough to put the live path tens of seconds behind on 2 cores.

Each connection's queue is bounded (CHANNEL_CAPACITY): a connection that stops reading keeps the
hints it has and the rest are dropped and counted (`channel_drops`), as is a hint older than
CHANNEL_EXPIRY_S when its connection gets to it; the page notices the gap in sequence numbers and
reloads. Nothing is lost that matters: the database is the record, a hint only says where to look."""

from __future__ import annotations

import asyncio
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close

from . import metrics


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """The embedded default's layer (one process)."""

    async def send(self, channel, message):
        try:
            await super().send(channel, message)
        except ChannelFull:
            metrics.incr("channel_drops")
            raise


class _BoundedShard(RedisSingleShardConnection):
    def _receive_message(self, message):
        if message is None:
            return
        name = message["channel"]
        name = name.decode() if isinstance(name, bytes) else name
        layer = self.channel_layer
        targets = [name] if name in layer.channels else list(layer.groups.get(name, ()))
        dropped = 0
        for channel in targets:
            queue = layer.channels.get(channel)
            if queue is None:
                continue
            try:
                queue.put_nowait(message["data"])
            except asyncio.QueueFull:
                dropped += 1
        if dropped:  # counted in Redis: off the event loop, which serves every connection of this process
            asyncio.get_running_loop().run_in_executor(None, metrics.incr, "channel_drops", dropped)


class _BoundedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, capacity: int = 100, expiry: float = 60, **kwargs):
        super().__init__(*args, **kwargs)
        self.capacity, self.expiry = capacity, expiry
        self._shards = [_BoundedShard(shard.host, self) for shard in self._shards]

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = asyncio.Queue(maxsize=self.capacity)
        await self._get_shard(channel).subscribe(channel)

    async def receive(self, channel):
        while True:
            message = await super().receive(channel)
            sent_at = message.get("sent_at")
            if not isinstance(sent_at, (int, float)) or time.time() - sent_at <= self.expiry:
                return message
            await asyncio.get_running_loop().run_in_executor(None, metrics.incr, "channel_drops", 1)


class RedisHintsChannelLayer(RedisPubSubChannelLayer):
    """channels_redis's pub/sub layer with a bounded, counted queue per connection. Like the layer
    it extends, it keeps one Redis connection and subscription set per event loop."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            self._layers[loop] = _BoundedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return self._layers[loop]
