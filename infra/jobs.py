"""The one way work is started: after commit, by the task's name. A lower layer (the domain core, the
carrier integration) needs work done that a higher layer owns (the engine's proposal, the edge's
tasks); it starts it through a declared port (dispatch.ports), which names the task instead of
importing it, so dependencies keep going one way; the edge's sweeps start theirs through the same
ports, and the operators' retry of a dead letter by its recorded name. A failure to send (broker
down) is logged, never raised into the caller: the outbox sweep sends it again."""

from __future__ import annotations

import importlib
import logging
import math
import time

from django.core.cache import cache
from django.db import transaction

from infra import failpoints

log = logging.getLogger(__name__)

# Never a countdown past the broker's visibility timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS).
MAX_COUNTDOWN_S = 300


def task(name: str):
    """The registered task called `name` ("dispatch.tasks.propose_decision"); its module is loaded
    on first use (a web process has not imported every tasks module)."""
    from celery import current_app

    if name not in current_app.tasks:
        importlib.import_module(name.rpartition(".")[0])
    return current_app.tasks[name]


def enqueue(name: str, *args, kwargs: dict | None = None, countdown: int = 0, at: float | None = None,
            once_per: str = "") -> None:
    """Run the task called `name` with `args` once the current transaction commits: at once, after
    `countdown` seconds from the commit, or at `at` (time.time() seconds; counted at the commit, so
    a long transaction does not push the run later by its own length). With `once_per`, one run is
    enqueued for every caller naming the same key until it is due (200 bookings of one decision ask
    for one send at the end of their window, not 200)."""

    def send():
        failpoints.hit(f"before-enqueue:{name}")
        wait = max(0.0, at - time.time()) if at is not None else countdown
        if once_per:
            try:
                if not cache.add(f"enqueued:{name}:{once_per}", 1, timeout=int(math.ceil(wait)) + 1):
                    return  # already asked for
            except Exception:
                pass  # the cache is away: rather one run too many
        try:
            if wait > 0:
                task(name).apply_async(args, kwargs, countdown=min(wait, MAX_COUNTDOWN_S))
            else:
                task(name).apply_async(args, kwargs)
        except Exception as exc:
            log.warning("Could not run %s%s now (%s: %s); the outbox sweep will retry", name, args, type(exc).__name__, exc)

    transaction.on_commit(send)
