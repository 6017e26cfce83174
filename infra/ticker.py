"""The embedded default has no Celery beat: when CT_TICKER=1 (set by `make demo`), the web process
runs the beat schedule itself, in a background thread, so detectors, health checks and the outbox
sweep work in the demo too. Real mode runs `celery beat` instead."""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from infra import jobs

log = logging.getLogger(__name__)
# CT_TICKER_SCALE=0.25 runs the schedule four times as often: a demo played fast (SPEED) notices
# disruptions in fewer real seconds. Never below one second between runs of a task.
SCALE = max(0.02, float(os.environ.get("CT_TICKER_SCALE", "1")))


def _loop() -> None:
    time.sleep(3)  # let the server and the sandbox come up
    last: dict[str, float] = {}
    while True:
        now = time.monotonic()
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            if now - last.get(name, -1e9) >= float(entry["schedule"]) * SCALE:
                last[name] = now
                try:
                    jobs.task(entry["task"]).apply()  # loads its module (a web process has not imported every tasks module)
                except Exception:
                    log.exception("periodic %s failed", name)
                finally:
                    close_old_connections()
        time.sleep(1)


_started = threading.Event()


def start() -> None:
    """Run the beat in this process, once."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_loop, name="ct-ticker", daemon=True).start()
