"""The benchmarks' child processes (daphne, workers, the simulator), stopped together."""

from __future__ import annotations

import subprocess


def stop_all(procs: list[subprocess.Popen], wait_s: float = 15) -> None:
    """Ask each process to stop, then wait for each; one that does not stop in time is killed."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(wait_s)
        except subprocess.TimeoutExpired:
            p.kill()
