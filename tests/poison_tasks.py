"""A task that kills the worker process running it, every time: what a poison message does.
Loaded only by the worker that tests/infra/test_reliability.py starts."""

import os
import signal

from celery import shared_task


@shared_task(acks_late=True)
def poison(organization_id: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)
