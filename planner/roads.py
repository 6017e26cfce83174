"""Road travel from a real routing engine: OSRM, in-process (osrm-bindings), on data prepared from
OpenStreetMap by `manage.py build_roads`. Also the city the project generates in OpenStreetMap's
format for the tests, the demo's road mode and the benchmarks: a grid with arterials, two diagonal
avenues, a faster ring road, one-way streets and a river crossed by a few bridges, so that the road
distance and the straight line differ by place as they do in a real city.

Pure: no Django. The engine is loaded once per data set and process (`engine_for`)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from planner.travel import RoadMatrix

M_PER_DEG_LAT = 111_320.0
STORE_MAX = 2500  # points whose road times an engine keeps between calls (2 x 2,500² float32: 50 MB)
TABLE_BLOCK = 1000  # sources per table query: a block of 1,000 x n keeps the engine's answer small
FALLBACK_SPEED_MS = 2.0  # a point no road joins is reached at walking pace along the straight line
# Above EXACT_MAX points a matrix is sparse: each point's NEIGHBOURS nearest are asked exactly, every
# other pair is interpolated between road times among a lattice of anchors (the finest of
# ANCHOR_STEPS_KM with at most ANCHORS_PER_SIDE along the points' longer side) and scaled by a factor
# calibrated on CALIBRATION_PAIRS pairs asked exactly (bench/roads.py measures both).
EXACT_MAX = 100
NEIGHBOURS = 8
ANCHOR_STEPS_KM = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
ANCHORS_PER_SIDE = 16
ANCHORS_MAX = 1500  # anchors an engine keeps
CALIBRATION_PAIRS = 64


class RoadsError(RuntimeError):
    """The road data is missing, unreadable or cannot be built; the message says what to do."""


# -- the generated city -----------------------------------------------------------------------

def generate_city(path: str | Path, *, centre: tuple[float, float] = (41.8781, -87.6298), size_km: float = 6.0,
                  block_m: float = 200.0, bridges: int = 4) -> dict:
    """Write a city in OpenStreetMap XML. Streets every `block_m` metres: residential at 30 km/h,
    every fourth one an arterial at 50 km/h, the outermost a ring road at 80 km/h, and two diagonal
    avenues through the centre; every other residential street is one-way, alternating direction.
    A river runs east-west just south of the centre: the north-south streets cross it only at
    `bridges` evenly spread bridges (and the ring road and avenues on their own bridges). Returns
    counts of what was written."""
    n = max(3, int(round(size_km * 1000 / block_m)) + 1)
    lat0, lon0 = centre
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
    half = (n - 1) * block_m / 2

    def node_id(r: int, c: int) -> int:
        return 1 + r * n + c

    river_row = (n - 1) // 2 - 1  # the river runs between this row and the next one north
    bridge_cols = {int(round(k * (n - 1) / (bridges + 1))) for k in range(1, bridges + 1)}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="controltower generate_city">']
    for r in range(n):
        for c in range(n):
            lat = lat0 + (r * block_m - half) / M_PER_DEG_LAT
            lon = lon0 + (c * block_m - half) / m_per_deg_lon
            lines.append(f'<node id="{node_id(r, c)}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    way = [0]

    def street(nodes: list[int], kind: str, speed: int, oneway: str | None = None, name: str = "") -> None:
        if len(nodes) < 2:
            return
        way[0] += 1
        lines.append(f'<way id="{way[0]}" version="1">')
        lines.extend(f'<nd ref="{nid}"/>' for nid in nodes)
        lines.append(f'<tag k="highway" v="{kind}"/><tag k="maxspeed" v="{speed}"/>')
        if oneway:
            lines.append(f'<tag k="oneway" v="{oneway}"/>')
        if name:
            lines.append(f'<tag k="name" v="{name}"/>')
        lines.append('</way>')

    def kind_of(i: int) -> tuple[str, int]:
        if i in (0, n - 1):
            return "trunk", 80
        if i % 4 == 0:
            return "primary", 50
        return "residential", 30

    for r in range(n):  # east-west streets
        kind, speed = kind_of(r)
        oneway = None
        if kind == "residential" and r % 2 == 1:
            oneway = "yes" if r % 4 == 1 else "-1"
        name = {0: "Ring Road South", n - 1: "Ring Road North"}.get(r, f"Street {r}")
        street([node_id(r, c) for c in range(n)], kind, speed, oneway, name)
    for c in range(n):  # north-south streets, cut by the river except at bridges
        kind, speed = kind_of(c)
        oneway = "yes" if kind == "residential" and c % 2 == 1 and c % 4 == 1 else None
        crosses = kind == "trunk" or c in bridge_cols
        name = {0: "Ring Road West", n - 1: "Ring Road East"}.get(c, f"Avenue {c}")
        if crosses:
            street([node_id(r, c) for r in range(n)], kind, speed, oneway, name)
        else:
            street([node_id(r, c) for r in range(river_row + 1)], kind, speed, oneway, name)
            street([node_id(r, c) for r in range(river_row + 1, n)], kind, speed, oneway, name)
    # Two diagonal avenues through the centre, over the river on their own bridges; their new
    # segments cross the grid between its corners, so they join it only at the grid's nodes.
    street([node_id(i, i) for i in range(n)], "primary", 50, None, "Diagonal NE")
    street([node_id(i, n - 1 - i) for i in range(n)], "primary", 50, None, "Diagonal NW")
    lines.append('</osm>')
    Path(path).write_text("\n".join(lines) + "\n")
    return {"nodes": n * n, "ways": way[0], "size_km": round((n - 1) * block_m / 1000, 2), "bridges": len(bridge_cols) + 4}


# -- preparing the engine's data --------------------------------------------------------------

def _tool(name: str) -> str:
    import osrm

    exe = Path(osrm.__file__).parent / "bin" / name
    if not exe.exists():
        raise RoadsError(f"{name} is not in the osrm-bindings package ({exe})")
    return str(exe)


def car_profile() -> str:
    import osrm

    return str(Path(osrm.__file__).parent / "share" / "profiles" / "car.lua")


def build(source: str | Path, out_dir: str | Path, *, threads: int | None = None, log=None) -> Path:
    """Prepare OSRM's data from an OpenStreetMap extract (.osm.pbf, .osm or .osm.bz2) with the car
    profile, for the multi-level Dijkstra algorithm (extract, partition, customize; customizing
    again is how new speeds are loaded without rebuilding the graph). Returns the data's base path
    (<out_dir>/<name>.osrm), which settings.ROADS names."""
    source = Path(source)
    if not source.exists():
        raise RoadsError(f"No such OpenStreetMap file: {source}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = source.name
    for suffix in (".osm.pbf", ".osm.bz2", ".osm", ".pbf"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    staged = out_dir / (name + "".join(source.suffixes[-2:] if source.name.endswith(".osm.pbf") else source.suffixes[-1:]))
    if staged.resolve() != source.resolve():
        staged.write_bytes(source.read_bytes())
    base = out_dir / f"{name}.osrm"
    threads = threads or max(1, os.cpu_count() or 1)
    steps = [[_tool("osrm-extract"), "-p", car_profile(), "-t", str(threads), str(staged)],
             [_tool("osrm-partition"), "-t", str(threads), str(base)],
             [_tool("osrm-customize"), "-t", str(threads), str(base)]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if log is not None:
            log(f"{Path(step[0]).name}: exit {done.returncode}")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RoadsError(f"{Path(step[0]).name} failed on {source.name}: {' / '.join(tail)}")
    if staged.resolve() != source.resolve():
        staged.unlink()
    return base


# -- asking the engine ------------------------------------------------------------------------

class _Kept:
    """Road times among the points an engine was asked about, kept between calls for up to `limit`
    points: asked again with some points new, it asks OSRM only for their rows and columns."""

    def __init__(self, block, limit: int, path: Path | None = None):
        self.block, self.limit, self.path = block, limit, path
        self.step_km = 0.0  # the lattice's, for a store of anchors
        self.reset()
        if path is not None and path.exists():  # what an earlier process asked, beside the road data
            try:
                with np.load(path) as kept:
                    known, km, minutes = [tuple(p) for p in kept["points"].tolist()], kept["km"], kept["minutes"]
                    step_km = float(kept["step_km"][0])
                if km.shape == minutes.shape == (len(known), len(known)) and len(known) <= limit:
                    self.known, self.km, self.min = known, km.astype(np.float32), minutes.astype(np.float32)
                    self.index = {p: i for i, p in enumerate(known)}
                    self.step_km = step_km
            except (OSError, ValueError, KeyError, IndexError):
                pass  # unreadable: asked again

    def reset(self) -> None:
        self.known: list[tuple[float, float]] = []  # in the order of the kept matrices
        self.index: dict[tuple[float, float], int] = {}
        self.km = self.min = np.zeros((0, 0), dtype=np.float32)

    def ask(self, points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        new = [p for p in points if p not in self.index]
        if len(self.known) + len(new) > self.limit:
            self.reset()
            new = points
        if new:
            old_n, known = len(self.known), self.known + new
            n = len(known)
            km, minutes = np.zeros((n, n), dtype=np.float32), np.zeros((n, n), dtype=np.float32)
            km[:old_n, :old_n], minutes[:old_n, :old_n] = self.km, self.min
            fresh = list(range(old_n, n))
            km[old_n:], minutes[old_n:] = self.block(known, fresh, list(range(n)))  # the new points' rows
            if old_n:
                km[:old_n, old_n:], minutes[:old_n, old_n:] = self.block(known, list(range(old_n)), fresh)  # their columns
            self.known, self.km, self.min = known, km, minutes
            self.index = {p: i for i, p in enumerate(known)}
            self._save()
        ix = np.fromiter((self.index[p] for p in points), dtype=np.int64, count=len(points))
        return self.km[np.ix_(ix, ix)], self.min[np.ix_(ix, ix)]


    def _save(self) -> None:
        if self.path is None:
            return
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial.npz")
        try:
            np.savez(partial, points=np.array(self.known, dtype=np.float64).reshape(-1, 2), km=self.km, minutes=self.min,
                     step_km=np.array([self.step_km]))
            os.replace(partial, self.path)
        except OSError:  # read-only road data: kept in memory only
            partial.unlink(missing_ok=True)


class RoadEngine:
    """OSRM in-process on prepared data: matrices, legs and the geometry of a route."""

    name = "roads"

    def __init__(self, base: str | Path):
        base = Path(base)
        if not Path(str(base) + ".mldgr").exists() and not Path(str(base) + ".hsgr").exists():
            raise RoadsError(f"No prepared road data at {base}: run `manage.py build_roads <region.osm.pbf>` first")
        import osrm

        algorithm = "MLD" if Path(str(base) + ".mldgr").exists() else "CH"
        self.base = base
        self._osrm = osrm
        self._engine = osrm.OSRM(storage_config=str(base), algorithm=algorithm, use_shared_memory=False)
        self.algorithm = algorithm
        self._lock = threading.Lock()
        self._store = _Kept(self._block, STORE_MAX)  # exact matrices
        # the lattice under sparse ones, kept on disk beside the data: the same for every process
        self._anchors = _Kept(self._block, ANCHORS_MAX, Path(f"{base}.anchors.npz"))

    def _table(self, points: list[tuple[float, float]], sources: list[int],
               destinations: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        params = self._osrm.TableParameters(
            coordinates=[(lon, lat) for lat, lon in points], sources=sources, destinations=destinations or [],
            annotations=["duration", "distance"], fallback_speed=FALLBACK_SPEED_MS, fallback_coordinate_type="input")
        result = self._engine.Table(params)
        durations = np.array(result["durations"], dtype=np.float64)
        distances = np.array(result["distances"], dtype=np.float64)
        # OSRM answers a hair below zero for two points snapped onto one street the wrong way round
        km = np.clip(np.nan_to_num(distances / 1000.0, nan=0.0), 0.0, None)
        return km, np.clip(np.nan_to_num(durations / 60.0, nan=0.0), 0.0, None)

    def _block(self, points, sources: list[int], destinations: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The table from `sources` to `destinations` (indices into points), asked in blocks of sources."""
        km, minutes = np.zeros((len(sources), len(destinations))), np.zeros((len(sources), len(destinations)))
        for lo in range(0, len(sources), TABLE_BLOCK):
            k, m = self._table(points, sources[lo:lo + TABLE_BLOCK], destinations)
            km[lo:lo + len(k)], minutes[lo:lo + len(m)] = k, m
        return km, minutes

    def matrix(self, points: list[tuple[float, float]]) -> RoadMatrix:
        """km and minutes (free-flow, as the profile's speeds say) between every pair of points.

        Up to `exact_max` points every pair is asked of OSRM. Its many-to-many table costs about
        ten milliseconds per point on a city of 20,000 crossings, which makes thousands of points
        take minutes, so larger matrices are sparse (see `_sparse`)."""
        points = list(dict.fromkeys((round(lat, 6), round(lon, 6)) for lat, lon in points))
        if len(points) <= self.exact_max:
            return self._exact(points)
        return self._sparse(points)

    exact_max = EXACT_MAX

    def _exact(self, points: list[tuple[float, float]]) -> RoadMatrix:
        """Every pair asked of OSRM. The engine keeps what it answered for up to STORE_MAX points: a
        re-plan asks again for the same hubs and doors with the vans somewhere new, so only the new
        points' rows and columns are asked."""
        with self._lock:
            return RoadMatrix(points, *self._store.ask(points))

    def _sparse(self, points: list[tuple[float, float]]) -> RoadMatrix:
        """A matrix for many points in seconds:

        - each point to its NEIGHBOURS nearest (by the straight line) exactly, one one-to-many
          query each, which OSRM answers in under a millisecond because the search stops when it
          has reached them: a route's legs are mostly between near neighbours;
        - every other pair interpolated (bilinear at both ends) between the exact road times of
          a lattice of anchors (3 km apart over a 36 km city, 500 m over a 4 km one), which the
          engine keeps between calls: a river, a bridge or a ring road shows in them, as the
          straight line would not;
        - then scaled by the median ratio of exact to interpolated on CALIBRATION_PAIRS pairs
          asked exactly (the interpolation runs a little long: it goes by way of the anchors).

        `calibration` on the result holds the scale factors and how far the scaled interpolation was
        from the calibration pairs' exact figures."""
        n = len(points)
        at = np.array(points, dtype=np.float64)
        with self._lock:
            anchors, corners, weights = self._lattice(at)
            km_a, min_a = self._anchors.ask(anchors)
        km = _interpolate(km_a, corners, weights)
        minutes = _interpolate(min_a, corners, weights)
        calibration = self._calibrate(points, km, minutes)
        km *= calibration["km_scale"]
        minutes *= calibration["minutes_scale"]
        for i, near in enumerate(_nearest(at, NEIGHBOURS)):
            k, m = self._table([points[i]] + [points[j] for j in near], [0], list(range(1, len(near) + 1)))
            km[i, near], minutes[i, near] = k[0], m[0]
        np.fill_diagonal(km, 0.0)
        np.fill_diagonal(minutes, 0.0)
        matrix = RoadMatrix(points, km, minutes)
        matrix.calibration = {**calibration, "exact_pairs": n * min(NEIGHBOURS, n - 1)}
        return matrix

    def _lattice(self, at: np.ndarray):
        """The anchors around the points (a lattice aligned on whole multiples of its step, so that
        later calls reuse them) and, per point, its four corner anchors and their bilinear weights."""
        shrink = math.cos(math.radians(round(float(at[:, 0].mean()))))
        extent_km = max(np.ptp(at[:, 0]), np.ptp(at[:, 1]) * shrink) * M_PER_DEG_LAT / 1000.0
        step_km = next((s for s in ANCHOR_STEPS_KM if extent_km / s <= ANCHORS_PER_SIDE - 2), ANCHOR_STEPS_KM[-1])
        kept = self._anchors.step_km  # the lattice already asked, if it suits these points: a day's problems vary in extent
        if kept and (ANCHORS_PER_SIDE - 2) / 4 <= extent_km / kept <= 1.5 * (ANCHORS_PER_SIDE - 2):
            step_km = kept
        elif step_km != kept:
            self._anchors.reset()
            self._anchors.step_km = step_km
        step_lat = step_km * 1000.0 / M_PER_DEG_LAT
        step_lon = step_lat / shrink
        i0, j0 = math.floor(at[:, 0].min() / step_lat), math.floor(at[:, 1].min() / step_lon)
        rows = max(2, math.ceil(at[:, 0].max() / step_lat) - i0 + 1)
        cols = max(2, math.ceil(at[:, 1].max() / step_lon) - j0 + 1)
        anchors = [(round((i0 + a) * step_lat, 6), round((j0 + b) * step_lon, 6)) for a in range(rows) for b in range(cols)]
        fa, fb = at[:, 0] / step_lat - i0, at[:, 1] / step_lon - j0
        a0 = np.clip(np.floor(fa).astype(np.int64), 0, rows - 2)
        b0 = np.clip(np.floor(fb).astype(np.int64), 0, cols - 2)
        wa, wb = np.clip(fa - a0, 0.0, 1.0), np.clip(fb - b0, 0.0, 1.0)
        corners = np.stack([a0 * cols + b0, a0 * cols + b0 + 1, (a0 + 1) * cols + b0, (a0 + 1) * cols + b0 + 1], axis=1)
        weights = np.stack([(1 - wa) * (1 - wb), (1 - wa) * wb, wa * (1 - wb), wa * wb], axis=1).astype(np.float32)
        return anchors, corners, weights

    def _calibrate(self, points, km: np.ndarray, minutes: np.ndarray) -> dict:
        """Scale factors for the interpolated figures: the median ratio of exact (a route each) to
        interpolated over pairs drawn at random (a fixed draw: the same points, the same factors)."""
        rng = np.random.default_rng(len(points))
        pairs = rng.integers(0, len(points), size=(CALIBRATION_PAIRS, 2))
        exact_km, exact_min, est_km, est_min = [], [], [], []
        for i, j in pairs:
            if i == j:
                continue
            (k, m), = self.legs([points[i], points[j]])
            if km[i, j] > 0.05 and minutes[i, j] > 0.1:
                exact_km.append(k), exact_min.append(m), est_km.append(float(km[i, j])), est_min.append(float(minutes[i, j]))
        if len(exact_min) < 8:
            return {"km_scale": 1.0, "minutes_scale": 1.0, "pairs": len(exact_min)}
        rk, rm = np.array(exact_km) / np.array(est_km), np.array(exact_min) / np.array(est_min)
        km_scale, min_scale = float(np.clip(np.median(rk), 0.5, 2.0)), float(np.clip(np.median(rm), 0.5, 2.0))
        err = np.abs(np.array(est_min) * min_scale - np.array(exact_min))
        return {"km_scale": km_scale, "minutes_scale": min_scale, "pairs": len(exact_min),
                "minutes_error_median": round(float(np.median(err)), 2), "minutes_error_p90": round(float(np.percentile(err, 90)), 2)}

    def leg(self, lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
        """(km, minutes) from one point to another."""
        if (round(lat1, 6), round(lon1, 6)) == (round(lat2, 6), round(lon2, 6)):
            return 0.0, 0.0
        k, m = self._table([(lat1, lon1), (lat2, lon2)], [0], [1])  # a point no road joins: the fallback speed
        return float(k[0, 0]), float(m[0, 0])

    def legs(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """(km, minutes) of each leg of a route through the points, in order (one query)."""
        if len(points) < 2:
            return []
        params = self._osrm.RouteParameters(coordinates=[(lon, lat) for lat, lon in points], overview="false",
                                            continue_straight=False)
        try:
            legs = self._engine.Route(params)["routes"][0]["legs"]
            return [(max(0.0, float(leg["distance"]) / 1000.0), max(0.0, float(leg["duration"]) / 60.0)) for leg in legs]
        except (RuntimeError, KeyError, IndexError):  # a point no road joins: leg by leg, with the fallback
            return [self.leg(*a, *b) for a, b in zip(points, points[1:])]

    def via(self, points: list[tuple[float, float]]) -> list[str]:
        """The main roads of each leg of a route through the points, as OSRM summarizes them
        ("Ring Road North, Avenue 12"); "" where it names none or no road joins them."""
        if len(points) < 2:
            return []
        params = self._osrm.RouteParameters(coordinates=[(lon, lat) for lat, lon in points], overview="false",
                                            steps=True, continue_straight=False)
        try:
            return [str(leg["summary"]) for leg in self._engine.Route(params)["routes"][0]["legs"]]
        except (RuntimeError, KeyError, IndexError):
            return [""] * (len(points) - 1)

    def path(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """The streets a map draws through the points, in order (one query); the points themselves
        where no road joins them."""
        if len(points) < 2:
            return list(points)
        params = self._osrm.RouteParameters(coordinates=[(lon, lat) for lat, lon in points], geometries="geojson",
                                            overview="full", continue_straight=False)
        try:
            coords = self._engine.Route(params)["routes"][0]["geometry"]["coordinates"]
            return [(round(float(c[1]), 6), round(float(c[0]), 6)) for c in coords]
        except (RuntimeError, KeyError, IndexError):
            return list(points)

    def route(self, lat1: float, lon1: float, lat2: float, lon2: float) -> dict:
        """The road route: its km, minutes and geometry as [(lat, lon), ...]."""
        params = self._osrm.RouteParameters(coordinates=[(lon1, lat1), (lon2, lat2)], geometries="geojson", overview="full")
        try:
            result = self._engine.Route(params)
        except RuntimeError as exc:
            raise RoadsError(f"No road route from ({lat1:.5f}, {lon1:.5f}) to ({lat2:.5f}, {lon2:.5f}): {exc}") from exc
        best = result["routes"][0]
        coords = best["geometry"]["coordinates"]
        return {"km": float(best["distance"]) / 1000.0, "minutes": float(best["duration"]) / 60.0,
                "geometry": [(float(c[1]), float(c[0])) for c in coords]}


def _interpolate(table: np.ndarray, corners: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Point-to-point figures from anchor-to-anchor ones: bilinear at the start and at the end."""
    n = len(corners)
    table = table.astype(np.float32, copy=False)
    by_end = np.zeros((table.shape[0], n), dtype=np.float32)  # from each anchor to each point
    for q in range(4):
        by_end += weights[:, q] * table[:, corners[:, q]]
    out = np.zeros((n, n), dtype=np.float32)
    for q in range(4):
        out += weights[:, q, None] * by_end[corners[:, q]]
    return out


def _nearest(at: np.ndarray, k: int, chunk: int = 500):
    """Each point's k nearest others by the straight line (planar, fine at a city's scale)."""
    y = at[:, 0] * M_PER_DEG_LAT
    x = at[:, 1] * M_PER_DEG_LAT * math.cos(math.radians(float(at[:, 0].mean())))
    n, k = len(at), min(k, len(at) - 1)
    for lo in range(0, n, chunk):
        d = (y[lo:lo + chunk, None] - y[None, :]) ** 2 + (x[lo:lo + chunk, None] - x[None, :]) ** 2
        d[np.arange(len(d)), np.arange(lo, lo + len(d))] = np.inf  # not itself
        near = np.argpartition(d, k, axis=1)[:, :k] if k < n - 1 else np.argsort(d, axis=1)[:, :k]
        yield from near


_ENGINES: dict[str, RoadEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(base: str | Path) -> RoadEngine:
    """One engine per data set and process (loading the data takes a moment; queries are cheap)."""
    key = str(Path(base).resolve())
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = RoadEngine(key)
        return engine


if __name__ == "__main__":  # python -m planner.roads city.osm: writes the generated city
    print(generate_city(sys.argv[1]))
