"""What one piece of work sees as fixed while it runs: the one request-scope object.

A piece of work is a request or a socket of a person (web.middleware.HubScopeMiddleware and the live
socket set the hubs they see), or one decision applied to many orders (dispatch.engine.decisions
reads the organization's rules once and starts every customer's message window at one moment).
Reads and writes below the edge ask `current()` instead of taking these as arguments through every
call in between; `within(...)` is the only way to change them, for the length of a `with` block.

- `hub_ids`: the hubs a dispatcher is scoped to; None is every hub of the organization.
- `rules`: a memo of the organization's rules in force (policy, service rules), read once per key;
  None outside such a block (every read goes to the database).
- `messages_from`: when the customer-message window of this work began; None is "now".
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class WorkScope:
    hub_ids: frozenset[int] | None = None
    rules: dict | None = None
    messages_from: datetime | None = None


_current: contextvars.ContextVar[WorkScope] = contextvars.ContextVar("ct_work_scope", default=WorkScope())


def current() -> WorkScope:
    return _current.get()


@contextmanager
def within(**changes) -> Iterator[WorkScope]:
    """The current scope with `changes` (WorkScope's fields) for the length of the block."""
    token = _current.set(replace(_current.get(), **changes))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
