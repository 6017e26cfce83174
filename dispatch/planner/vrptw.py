"""Classic VRPTW (Solomon, Gehring & Homberger) with the routing engine the product uses.

Conventions of the literature and of the benchmark checker: Euclidean distances in double
precision, travel time equals distance, hard time windows, at most NUMBER vehicles. PyVRP works
in integers, so coordinates are scaled: distances are rounded for the objective and rounded up
for travel times, which keeps every plan it calls feasible also feasible in exact arithmetic."""

from __future__ import annotations

import math
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


def solve(instance: Instance, time_limit: float = 10.0, seed: int = 1) -> list[list[int]]:
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
        raise RuntimeError(f"{inst.name}: no feasible plan found in {time_limit:g}s")
    # client k (0-based) stands at location k + 1, which is customer number k + 1 in the file
    return [[inst.ids[a.idx + 1] for a in route.schedule() if a.is_client()] for route in result.best.routes()]
