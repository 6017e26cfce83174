"""The one event bus. Only this module talks to the channel layer, and only after commit.

Every event type is declared here once, with the exact keys of its payload. Each message
carries a per-organization sequence number; a WebSocket message is a hint, and a client
that sees a gap or reconnects reloads current state over HTTP (see controltower.views).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass

from asgiref.sync import async_to_sync, SyncToAsync
from channels.layers import get_channel_layer, InMemoryChannelLayer
from django.conf import settings
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from . import metrics, redis_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventType:
    """An event live screens receive: its name, the keys of its payload, and, for a payload that
    carries a list, the keys of each item (item_keys: {"vehicles": {...}})."""

    name: str
    keys: frozenset[str]
    description: str
    item_keys: tuple[tuple[str, frozenset[str]], ...] = ()


# The catalogue: every event type, declared once by the app that publishes it (dispatch.live_events,
# carriers.live_events) when it is imported; the bus declares only its own (presence).
EVENT_TYPES: dict[str, EventType] = {}
# What a live screen receives for an event: the web edge registers, per event type, a function
# that adds its presentation (labels, colours) to the published facts, applied once per publish.
_PRESENTERS: dict = {}


def declare(*types: EventType) -> None:
    for event_type in types:
        known = EVENT_TYPES.get(event_type.name)
        if known is not None and known != event_type:
            raise ValueError(f"Event type {event_type.name!r} is declared twice, differently")
        EVENT_TYPES[event_type.name] = event_type


def present(event_type: str, presenter) -> None:
    """Send `presenter(payload)` instead of the payload of every `event_type` event."""
    _PRESENTERS[event_type] = presenter


declare(EventType("presence.changed", frozenset({"viewers"}), "Who has the live screen open (usernames, sorted)."))


def group_name(organization_id: int) -> str:
    return f"org.{organization_id}"


async def subscribe(channel_layer, channel_name: str, organization_id: int) -> None:
    """Let one live connection receive its organization's events (and only those)."""
    await channel_layer.group_add(group_name(organization_id), channel_name)


async def unsubscribe(channel_layer, channel_name: str, organization_id: int) -> None:
    await channel_layer.group_discard(group_name(organization_id), channel_name)


def track_group(order_id: int) -> str:
    return f"track.{order_id}"


async def watch_order(channel_layer, channel_name: str, order_id: int) -> None:
    """Let a customer's tracking page hear that its order changed (a bare hint, no data)."""
    await channel_layer.group_add(track_group(order_id), channel_name)


async def unwatch_order(channel_layer, channel_name: str, order_id: int) -> None:
    await channel_layer.group_discard(track_group(order_id), channel_name)


def van_group(vehicle_id: int) -> str:
    return f"van.{vehicle_id}"


async def watch_van(channel_layer, channel_name: str, vehicle_id: int) -> None:
    """Let a driver's app hear that its van's stops changed (a bare hint, no data)."""
    await channel_layer.group_add(van_group(vehicle_id), channel_name)


async def unwatch_van(channel_layer, channel_name: str, vehicle_id: int) -> None:
    await channel_layer.group_discard(van_group(vehicle_id), channel_name)


def van_changed(vehicle_id: int | None) -> None:
    """Tell the driver's app on this van, once the current transaction commits, that its stops
    changed (an order added, taken off, or the order of the stops). One hint per van per commit."""
    if vehicle_id is None:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _send_van(vehicle_id)
        return
    vans = getattr(_pending, "vans", None)
    if vans is None or not any(func is _flush_vans for _, func, _ in connection.run_on_commit):
        vans = _pending.vans = set()
        transaction.on_commit(_flush_vans, robust=True)
    vans.add(vehicle_id)


def _flush_vans() -> None:
    vans, _pending.vans = getattr(_pending, "vans", None) or set(), None
    for vehicle_id in sorted(vans):
        _send_van(vehicle_id)


def _send_van(vehicle_id: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        _call(layer.group_send, van_group(vehicle_id), {"type": "ct.van"})
    except Exception:  # the app reads its stops again on a slow timer and on reconnecting
        metrics.incr("live_publish_failures")
        log.exception("Could not tell van %s that its stops changed", vehicle_id)


class _LocalPresence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, dict[str, int]] = {}

    def change(self, org_id: int, username: str, delta: int) -> list[str]:
        with self._lock:
            counts = self._counts.setdefault(org_id, {})
            counts[username] = counts.get(username, 0) + delta
            if counts[username] <= 0:
                counts.pop(username)
            return sorted(counts)

    def viewers(self, org_id: int) -> list[str]:
        with self._lock:
            return sorted(self._counts.get(org_id, {}))


_local_presence = _LocalPresence()
PRESENCE_TTL_S = 3600


def _presence_key(org_id: int) -> str:
    return f"{settings.CHANNEL_LAYERS['default'].get('CONFIG', {}).get('prefix', 'ct')}:presence:{org_id}"


def viewers(organization_id: int) -> list[str]:
    """Who has the organization's live screen open now."""
    if not settings.REDIS_URL:
        return _local_presence.viewers(organization_id)
    counts = redis_client.client().hgetall(_presence_key(organization_id))
    return sorted(k.decode() for k, v in counts.items() if int(v) > 0)


def presence_change(organization_id: int, username: str, delta: int) -> None:
    """A live screen opened (+1) or closed (-1); everyone watching is told who is there."""
    try:
        if settings.REDIS_URL:
            key = _presence_key(organization_id)
            left = redis_client.client().hincrby(key, username, delta)
            if left <= 0:
                redis_client.client().hdel(key, username)
            redis_client.client().expire(key, PRESENCE_TTL_S)
            names = viewers(organization_id)
        else:
            names = _local_presence.change(organization_id, username, delta)
    except Exception:  # presence is a courtesy; the screen works without it
        log.warning("Presence not updated for organization %s", organization_id, exc_info=True)
        return
    _send(organization_id, "presence.changed", {"viewers": names})


def session_group(session_key: str) -> str:
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


async def watch_session(channel_layer, channel_name: str, session_key: str) -> None:
    """Let a live connection hear that its login session ended."""
    await channel_layer.group_add(session_group(session_key), channel_name)


async def unwatch_session(channel_layer, channel_name: str, session_key: str) -> None:
    await channel_layer.group_discard(session_group(session_key), channel_name)


def session_ended(session_key: str) -> None:
    """Close every live connection opened with this login session (the user logged out)."""
    layer = get_channel_layer()
    if layer is None or not session_key:
        return
    try:
        _call(layer.group_send, session_group(session_key), {"type": "ct.session_ended"})
    except Exception:
        log.exception("Could not tell live connections that a session ended")


class _LocalSequence:
    """Per-organization counter for the embedded default (one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[int, itertools.count] = {}
        self._current: dict[int, int] = {}

    def next(self, org_id: int) -> int:
        with self._lock:
            value = next(self._counters.setdefault(org_id, itertools.count(1)))
            self._current[org_id] = value
            return value

    def current(self, org_id: int) -> int:
        with self._lock:
            return self._current.get(org_id, 0)


_local_sequence = _LocalSequence()


def _prefix() -> str:
    return settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "ct")


def _seq_key(org_id: int) -> str:
    return f"{_prefix()}:seq:{org_id}"


# Sequence numbers live in Redis, which keeps nothing across a restart: numbering starts again at 1
# and group memberships are gone. Each numbering therefore has an epoch (a random id created with
# it); a client holding another epoch's numbers reloads state instead of comparing them.
_LOCAL_EPOCH = uuid.uuid4().hex[:12]


def _epoch(client, value) -> str:
    if value is None:
        client.set(f"{_prefix()}:epoch", uuid.uuid4().hex[:12], nx=True)
        value = client.get(f"{_prefix()}:epoch")
    return value.decode() if isinstance(value, bytes) else str(value)


def next_sequence(org_id: int) -> tuple[str, int]:
    """(epoch, number) for the organization's next message."""
    if settings.REDIS_URL:
        client = redis_client.client()
        epoch, seq = client.pipeline().get(f"{_prefix()}:epoch").incr(_seq_key(org_id)).execute()
        return _epoch(client, epoch), int(seq)
    return _LOCAL_EPOCH, _local_sequence.next(org_id)


def current_sequence(org_id: int) -> tuple[str, int]:
    """(epoch, the last number handed out). Read it *before* reading state: every message with a
    number up to it was committed before the read began."""
    if settings.REDIS_URL:
        client = redis_client.client()
        epoch, seq = client.pipeline().get(f"{_prefix()}:epoch").get(_seq_key(org_id)).execute()
        return _epoch(client, epoch), int(seq or 0)
    return _LOCAL_EPOCH, _local_sequence.current(org_id)


def current_epoch() -> str:
    if settings.REDIS_URL:
        client = redis_client.client()
        return _epoch(client, client.get(f"{_prefix()}:epoch"))
    return _LOCAL_EPOCH


def validate(event_type: str, payload: dict) -> None:
    declared = EVENT_TYPES.get(event_type)
    if declared is None:
        raise ValueError(f"Undeclared event type {event_type!r}")
    if set(payload) != declared.keys:
        missing = sorted(declared.keys - set(payload))
        extra = sorted(set(payload) - declared.keys)
        raise ValueError(f"{event_type}: payload keys differ from its declaration (missing {missing}, extra {extra})")
    for field, keys in declared.item_keys:
        for item in payload[field]:
            if set(item) != keys:
                raise ValueError(f"{event_type}: an item of {field} has the wrong keys")


_pending = threading.local()


def publish(organization_id: int, event_type: str, payload: dict) -> None:
    """Send an event to the organization's live clients once the current transaction commits.
    Within one transaction, later changes to the same object replace earlier ones: clients get the
    final state once (a hint is all a message is; the page reloads on any gap)."""
    validate(event_type, payload)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _send(organization_id, event_type, payload)
        return
    buffer = getattr(_pending, "buffer", None)
    if buffer is None or not any(func is _flush for _, func, _ in connection.run_on_commit):
        buffer = _pending.buffer = {}
        transaction.on_commit(_flush, robust=True)
    key = (organization_id, event_type, payload.get("id")) if "id" in payload else (organization_id, event_type, len(buffer))
    buffer.pop(key, None)  # keep the latest state, in the order of the latest change
    buffer[key] = payload


def _flush() -> None:
    buffer, _pending.buffer = getattr(_pending, "buffer", None) or {}, None
    for (organization_id, event_type, _), payload in buffer.items():
        _send(organization_id, event_type, payload)


def _send(organization_id: int, event_type: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        epoch, seq = next_sequence(organization_id)
        # The payload travels encoded once, here: each of a daphne's dashboards sends it on as it is
        # (not decoded and encoded again per connection).
        presenter = _PRESENTERS.get(event_type)
        shown = presenter(payload) if presenter else payload
        message = {"type": "ct.event", "seq": seq, "epoch": epoch, "event": event_type, "data_json": json.dumps(shown),
                   "sent_at": time.time()}
        _call(layer.group_send, group_name(organization_id), message)
        if event_type == "order.changed":
            _call(layer.group_send, track_group(payload["id"]), {"type": "ct.track"})
        metrics.incr("live_messages")
    except Exception:  # a lost hint is repaired by the client's reload on the next gap
        metrics.incr("live_publish_failures")
        log.exception("Could not publish %s to organization %s", event_type, organization_id)


def _call(coroutine_function, *args) -> None:
    if _in_event_loop():  # e.g. a sync service called from async code: send from a helper thread
        worker = threading.Thread(target=async_to_sync(coroutine_function), args=args)
        worker.start()
        worker.join(5)
    elif _publisher.serves(coroutine_function):
        _publisher.run(coroutine_function, *args)
    else:
        async_to_sync(coroutine_function)(*args)


class _PublisherLoop:
    """One event loop per process, on its own thread, for publishing from sync code that runs
    outside any server loop (Celery workers, their pool threads, commands). `async_to_sync` there
    starts a new loop per message, and the Redis channel layer opens a new connection for every
    loop: about 4 ms a message. On this loop the layer's connections stay open.

    Only for a layer that talks to a server: the in-memory layer's queues belong to the loop that
    waits on them, so it keeps `async_to_sync` (which runs on the server's loop when there is one).
    Sync code running under a server's loop (a view in daphne) keeps it too."""

    TIMEOUT_S = 5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def serves(self, coroutine_function) -> bool:
        if isinstance(getattr(coroutine_function, "__self__", None), InMemoryChannelLayer):
            return False
        return getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid()

    def run(self, coroutine_function, *args) -> None:
        try:
            self._run(coroutine_function(*args))
        except RedisConnectionError:  # Redis restarted: the kept connection is gone; the next one is new
            self._run(coroutine_function(*args))

    def _run(self, coroutine) -> None:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or not self._thread.is_alive():  # new, or forked (a prefork worker child)
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                self._thread = threading.Thread(target=self._loop.run_forever, name="ct-publish", daemon=True)
                self._thread.start()
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            future.result(self.TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise


_publisher = _PublisherLoop()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
