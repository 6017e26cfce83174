"""Work asked for after commit (infra.jobs): when it is due."""

import pytest
from django.core.cache import cache

from infra import jobs


class Recorder:
    """A Celery task's apply_async (infra.jobs starts every task through it)."""

    def __init__(self):
        self.calls = []

    def apply_async(self, args=None, kwargs=None, countdown=None):
        self.calls.append(("later", tuple(args or ()), countdown) if countdown else ("now", tuple(args or ()), 0))


@pytest.fixture
def sent(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(jobs, "task", lambda name: recorder)
    return recorder.calls


@pytest.mark.django_db
def test_a_run_due_at_a_moment_is_counted_from_the_commit_not_from_when_it_was_asked_for(
        sent, monkeypatch, django_capture_on_commit_callbacks):
    """A decision applied in one long transaction asks for its customers' messages to go at the
    end of their change window; the transaction commits 2.5 s later. The send is due at the
    window's end, not 2.5 s after it (it was, and the last customer heard 2 s late)."""
    now = [1_000_000.0]
    monkeypatch.setattr(jobs.time, "time", lambda: now[0])
    cache.delete("enqueued:dispatch.tasks.send_due_messages:1000003")
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("dispatch.tasks.send_due_messages", at=now[0] + 3.0, once_per="1000003")
        jobs.enqueue("dispatch.tasks.send_due_messages", at=now[0] + 3.0, once_per="1000003")
        now[0] += 2.5  # the rest of the transaction

    assert sent == [("later", (), pytest.approx(0.5))]  # once, 0.5 s after the commit

    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("dispatch.tasks.send_due_messages", 7, at=now[0] - 1.0)
        jobs.enqueue("dispatch.tasks.send_due_messages", 8, countdown=4)
        now[0] += 1.0
    assert sent[1:] == [("now", (7,), 0), ("later", (8,), 4)]  # already due: at once; a countdown still counts from the commit
