"""Calls to carrier APIs: timeouts, retries with backoff, and a circuit breaker per carrier, so a
dead carrier never stalls a worker or a page. Every call is recorded (CarrierCall) and feeds the
carrier's health."""

from __future__ import annotations

import random
import threading
import time
from functools import lru_cache

import httpx
import redis
from django.conf import settings

from dispatch.selectors import policy_for

from . import egress
from .adapters.base import CarrierError
from .models import CarrierCall

CONNECT_TIMEOUT_S = 2.0
RETRIES = 2
BREAKER_OPEN_S = 30        # how long it stays open before one trial call
# The read timeout and the failures that open the circuit are the organization's (Policy).


class CircuitOpen(CarrierError):
    def __init__(self, carrier):
        super().__init__(f"{carrier.name} is not called for now: its last calls failed", retryable=True,
                         code="circuit_open")


class _LocalBreakerStore:
    def __init__(self):
        self.lock, self.data = threading.Lock(), {}

    def failures(self, key: str) -> int:
        with self.lock:
            return self.data.get(key + ":f", 0)

    def incr(self, key: str) -> int:
        with self.lock:
            self.data[key + ":f"] = self.data.get(key + ":f", 0) + 1
            return self.data[key + ":f"]

    def reset(self, key: str) -> None:
        with self.lock:
            self.data.pop(key + ":f", None)
            self.data.pop(key + ":open", None)

    def open_until(self, key: str) -> float:
        with self.lock:
            return self.data.get(key + ":open", 0.0)

    def open(self, key: str, until: float) -> None:
        with self.lock:
            self.data[key + ":open"] = until


class _RedisBreakerStore:
    def __init__(self, url: str):

        self.r = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    def failures(self, key):
        return int(self.r.get(key + ":f") or 0)

    def incr(self, key):
        return int(self.r.incr(key + ":f"))

    def reset(self, key):
        self.r.delete(key + ":f", key + ":open")

    def open_until(self, key):
        return float(self.r.get(key + ":open") or 0)

    def open(self, key, until):
        self.r.set(key + ":open", until, ex=int(BREAKER_OPEN_S * 4))


@lru_cache(maxsize=1)
def breaker_store():
    return _RedisBreakerStore(settings.REDIS_URL) if settings.REDIS_URL else _LocalBreakerStore()


def _key(carrier) -> str:
    return f"ct:breaker:{carrier.id}"


def circuit_is_open(carrier) -> bool:
    return breaker_store().open_until(_key(carrier)) > time.time()


def circuit_reset(carrier) -> None:
    breaker_store().reset(_key(carrier))


def request(carrier, operation: str, method: str, url: str, *, json=None, headers=None, idempotent: bool = True,
            rejection_statuses: tuple[int, ...] = (409, 422)) -> httpx.Response:
    """One carrier call. Retries transport errors, 5xx and 429 when the operation is idempotent
    (reads, or writes carrying an idempotency key). A 4xx is the carrier's answer, returned as is."""
    store, key = breaker_store(), _key(carrier)
    if store.open_until(key) > time.time():
        CarrierCall.objects.create(carrier=carrier, operation=operation, ok=False, latency_ms=0, error="circuit open")
        raise CircuitOpen(carrier)
    try:
        egress.check_url(url)
    except egress.UnsafeURL as exc:
        CarrierCall.objects.create(carrier=carrier, operation=operation, ok=False, latency_ms=0, error=f"refused: {exc}"[:300])
        raise CarrierError(f"{carrier.name}'s {operation} endpoint is not called: {exc}", retryable=False, code="unsafe_url") from None
    attempts = RETRIES + 1 if idempotent else 1
    policy = policy_for(carrier.organization_id)
    last_error = ""
    for attempt in range(attempts):
        started = time.monotonic()
        status = None
        try:
            response = httpx.request(method, url, json=json, headers=headers, follow_redirects=False,
                                     timeout=httpx.Timeout(policy.carrier_timeout_s, connect=min(CONNECT_TIMEOUT_S, policy.carrier_timeout_s)))
            status = response.status_code
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"[:300]
        latency = int((time.monotonic() - started) * 1000)
        if status is not None and status < 500 and status != 429:
            rejected = status in rejection_statuses
            CarrierCall.objects.create(carrier=carrier, operation=operation, ok=True, rejected=rejected, latency_ms=latency, status_code=status)
            store.reset(key)
            return response
        last_error = last_error or f"HTTP {status}"
        CarrierCall.objects.create(carrier=carrier, operation=operation, ok=False, latency_ms=latency, status_code=status, error=last_error)
        if store.incr(key) >= policy.breaker_failures:
            store.open(key, time.time() + BREAKER_OPEN_S)
            break
        if attempt + 1 < attempts:
            time.sleep(min(2.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.5))
    raise CarrierError(f"{carrier.name} did not answer {operation}: {last_error}", retryable=True, code="carrier_unavailable")
