"""Classic VRPTW (Solomon, Gehring & Homberger) with the routing engine the product uses.

Conventions of the literature and of the benchmark checker: Euclidean distances in double
precision, travel time equals distance, hard time windows, at most NUMBER vehicles. PyVRP works
in integers, so coordinates are scaled: distances are rounded for the objective and rounded up
for travel times, which keeps every plan it calls feasible also feasible in exact arithmetic."""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvrp
import vrplib
from pyvrp.stop import MaxRuntime

SCALE = 1000


@dataclass
class Instance:
    name: str
    vehicles: int
    capacity: float
    coords: np.ndarray      # (n+1, 2), depot first
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray
    ids: list[int]          # customer numbers as in the file


class InstanceError(ValueError):
    pass


def read_solomon(path: str | Path) -> Instance:
    try:
        data = vrplib.read_instance(str(path), instance_format="solomon")
    except Exception as exc:  # vrplib raises several types for bad files
        raise InstanceError(f"{path}: not a Solomon instance ({exc})") from exc
    tw = np.asarray(data["time_window"], dtype=float)
    n = len(tw)
    return Instance(
        name=str(data.get("name", Path(path).stem)), vehicles=int(data["vehicles"]), capacity=float(data["capacity"]),
        coords=np.asarray(data["node_coord"], dtype=float), demand=np.asarray(data["demand"], dtype=float),
        ready=tw[:, 0], due=tw[:, 1], service=np.asarray(data["service_time"], dtype=float), ids=list(range(n)),
    )


def solve(instance: Instance, time_limit: float = 10.0, seed: int = 1, workers: int | None = None) -> list[list[int]]:
    """The shortest plan found in `time_limit` seconds. With several cores, as many independent
    searches (seeds seed, seed + 1, ...) run side by side, one per core (at most `workers`, by
    default every core this process may use), and the shortest plan wins: the same wall-clock
    time, more of the search space."""
    workers = max(1, workers if workers is not None else len(os.sched_getaffinity(0)))
    if workers == 1:
        results = [_search(instance, time_limit, seed)]
    else:
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            others = [pool.submit(_search, instance, time_limit, seed + k) for k in range(1, workers)]
            results = [_search(instance, time_limit, seed)] + [f.result() for f in others]
    found = [r for r in results if r is not None]
    if not found:
        raise RuntimeError(f"{instance.name}: no feasible plan found in {time_limit:g}s")
    return min(found, key=lambda r: r[1])[0]


def _search(instance: Instance, time_limit: float, seed: int) -> tuple[list[list[int]], float] | None:
    """One PyVRP search: the plan (customer numbers per route) and its exact distance; None when
    it found no feasible plan."""
    inst = instance
    diff = inst.coords[:, None, :] - inst.coords[None, :, :]
    exact = np.sqrt((diff ** 2).sum(-1))
    dist = np.rint(exact * SCALE).astype(np.int64)
    dur = np.ceil(exact * SCALE - 1e-6).astype(np.int64)
    svc = np.ceil(inst.service * SCALE - 1e-6).astype(np.int64)
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in inst.coords]
    depot = pyvrp.Depot(location=0, tw_early=int(inst.ready[0] * SCALE), tw_late=int(math.floor(inst.due[0] * SCALE)))
    clients = [
        pyvrp.Client(location=i, delivery=[int(round(inst.demand[i]))], service_duration=int(svc[i]),
                     tw_early=int(math.ceil(inst.ready[i] * SCALE)), tw_late=int(math.floor(inst.due[i] * SCALE)))
        for i in range(1, len(inst.coords))
    ]
    vehicle = pyvrp.VehicleType(num_available=inst.vehicles, capacity=[int(round(inst.capacity))],
                                tw_early=int(inst.ready[0] * SCALE), tw_late=int(math.floor(inst.due[0] * SCALE)))
    data = pyvrp.ProblemData(locations=locations, clients=clients, depots=[depot], vehicle_types=[vehicle],
                             distance_matrices=[dist], duration_matrices=[dur])
    result = pyvrp.solve(data, stop=MaxRuntime(time_limit), seed=seed, collect_stats=False)
    if not result.best.is_feasible():
        return None
    # client k (0-based) stands at location k + 1, which is customer number k + 1 in the file
    routes = [[a.idx + 1 for a in route.schedule() if a.is_client()] for route in result.best.routes()]
    distance = sum(exact[a, b] for r in routes for a, b in zip([0] + r, r + [0]))
    return [[inst.ids[k] for k in r] for r in routes], float(distance)
