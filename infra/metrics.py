"""Prometheus metrics (prometheus-client), served at /metrics.

Per-process instruments (request latency, live-message latency) live in the process that serves
/metrics. Counters that many processes feed (channel-layer drops, live messages sent) are kept in
Redis so any web process reports the total; in the embedded default they are process-local. Queue
age and carrier health are read when scraped."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, Histogram, REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import redis_client

log = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "ct_http_request_seconds", "Server time per HTTP request", ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LIVE_LATENCY = Histogram(
    "ct_live_message_seconds", "From an event's publication to its send on a dashboard socket",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HTTP_WAIT = Histogram(
    "ct_http_wait_seconds", "Time an HTTP request waited for one of its process's request slots (HTTP_CONCURRENCY)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SHARED_COUNTERS = {
    "channel_drops": "Live messages dropped because a connection's channel was over capacity",
    "live_overflow": "Live hints not sent to a dashboard that stopped reading (it resynchronizes when it reads again)",
    "live_messages": "Live messages published to the channel layer",
    "live_publish_failures": "Live messages that could not be published (channel layer unreachable)",
    "dead_letters": "Tasks given up after their redelivery cap and kept in the dead-letter table",
}
QUEUES = ("default", "planner")


class _LocalCounters:
    def __init__(self):
        self.lock, self.values = threading.Lock(), {}

    def incr(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.values[name] = self.values.get(name, 0) + n

    def get(self, name: str) -> int:
        with self.lock:
            return self.values.get(name, 0)


_local = _LocalCounters()


def _key(name: str) -> str:
    return f"ct:metrics:{name}"


def incr(name: str, n: int = 1) -> None:
    """Count in the shared counter `name`. Never raises: a metric is not worth a failed request."""
    if name not in SHARED_COUNTERS:
        raise ValueError(f"Undeclared counter {name!r}")
    if not settings.REDIS_URL:
        _local.incr(name, n)
        return
    try:
        redis_client.client().incrby(_key(name), n)
    except Exception:  # Redis down: the counter misses this one, the product goes on
        log.debug("metric %s not counted", name, exc_info=True)


def counter_value(name: str) -> int:
    if not settings.REDIS_URL:
        return _local.get(name)
    return int(redis_client.client().get(_key(name)) or 0)


def queue_ages() -> dict[str, float]:
    """Seconds the oldest waiting message of each Celery queue has waited (0 when empty)."""
    ages = {}
    if not settings.REDIS_URL:
        return ages
    now = time.time()
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")  # kombu's, on every key it keeps
    for queue in QUEUES:
        oldest = 0.0
        for step in settings.CELERY_BROKER_TRANSPORT_OPTIONS["priority_steps"]:  # kombu keeps one list per priority step: "default", "default\x06\x163", ...
            raw = redis_client.client().lindex(prefix + (queue if step == 0 else f"{queue}\x06\x16{step}"), -1)  # pushed left, popped right: the oldest is last
            try:
                sent = float(json.loads(raw).get("headers", {}).get("ct_sent_at") or 0) if raw else 0.0
            except (ValueError, TypeError, AttributeError):
                sent = 0.0
            if sent:
                oldest = max(oldest, now - sent)
        ages[queue] = max(0.0, oldest)
    return ages


class _ScrapeTimeCollector:
    def collect(self):
        counters = CounterMetricFamily("ct_events", "Shared product counters", labels=["name"])
        for name in SHARED_COUNTERS:
            try:
                counters.add_metric([name], counter_value(name))
            except Exception:
                continue
        yield counters
        age = GaugeMetricFamily("ct_celery_queue_age_seconds", "Age of the oldest waiting task", labels=["queue"])
        try:
            for queue, seconds in queue_ages().items():
                age.add_metric([queue], seconds)
        except Exception:
            pass
        yield age
        for source in _SOURCES:
            try:
                yield source()
            except Exception:
                continue


# Metrics of the domain, read at scrape time: each app registers a function that returns one
# prometheus metric family (carriers registers carrier health), so this module imports no app.
_SOURCES: list = []


def register_source(source) -> None:
    """Read `source()` (a metric family) at every scrape."""
    if source not in _SOURCES:
        _SOURCES.append(source)


_collector_registered = False


def _register_collector() -> None:
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(_ScrapeTimeCollector())
        _collector_registered = True


def _allowed(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        return request.headers.get("Authorization", "") == f"Bearer {token}"
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request):
    """Prometheus text format. With METRICS_TOKEN set it needs `Authorization: Bearer <token>`;
    without it, only this machine may read it."""
    if not _allowed(request):
        return HttpResponseForbidden("Metrics are readable from this machine or with the METRICS_TOKEN bearer token.")
    _register_collector()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.url_name if match is not None and match.url_name else "unmatched"
        REQUEST_LATENCY.labels(request.method, route, f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response
