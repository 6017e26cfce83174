"""Fault injection points for the fault tests. With CT_FAILPOINTS="before-enqueue:<task name>" (a
comma-separated list) the process kills itself with SIGKILL when it reaches that point: a crash at
exactly the moment the design must survive (after a commit, before the work is handed on). Unset in
any real deployment, where `hit` is a set lookup that finds nothing."""

from __future__ import annotations

import os
import signal

ACTIVE = frozenset(name for name in os.environ.get("CT_FAILPOINTS", "").split(",") if name)


def hit(name: str) -> None:
    if name in ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
