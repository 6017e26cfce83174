import os
import time

from celery import Celery
from celery.signals import before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

app = Celery("controltower", task_cls="infra.reliable_tasks:ReliableTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _stamp_sent_at(headers=None, **_):
    """When a task was sent, so the metrics can tell how long the oldest waiting one has waited."""
    if headers is not None:
        headers.setdefault("ct_sent_at", time.time())
