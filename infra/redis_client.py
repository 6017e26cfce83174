"""The one synchronous Redis client of a process (sequence numbers, presence, shared counters,
delivery counts), with short timeouts: a Redis that is away fails fast."""

from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=1)
def client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
