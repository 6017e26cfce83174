"""Live load: many vans pinging through a telematics gateway, dashboards watching.

    python -m bench.live_load                      # 2,000 vans every 5 s (400 pings/s), 20 dashboards, 60 s
    python -m bench.live_load --duration 600       # the issue's 10 minutes
    python -m bench.live_load --rates 400,800,1600 # step the offered rate up to find where p95 passes 1 s
    python -m bench.live_load --daphnes 2 --workers 2
    python -m bench.live_load --exceptions 5       # and 5 exceptions a second (failed deliveries), as the issue asks

Real mode on this machine: PostgreSQL, Redis, daphne process(es) and Celery worker(s). The gateway
sends a batch every 0.5 s with the vans due in that slice; each dashboard is a WebSocket through
daphne and the Redis channel layer. Reported per rate: ingest achieved against offered, API
latency per batch, batch-sent -> update-on-every-dashboard latency (p50/p95/p99), Celery queue age
(from /metrics), and lost updates (a batch some dashboard never saw; a van whose stored position is
not its last ping). With --exceptions N, a driver app reports N failed deliveries a second through
the API meanwhile: each raises an exception the worker answers with a proposal; reported are the
exceptions raised against offered and the time from failure to proposal. Results:
bench/results/live_load-*.json and .md."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_tz
from pathlib import Path

from bench.processes import stop_all

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DB = os.environ.get("BENCH_LIVE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/controltower_bench_live")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
BATCH_EVERY_S = 0.5


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(vans: int, failures: int = 0) -> dict:
    import django

    django.setup()
    from dispatch.api.auth import token_issue
    from dispatch.models import Fleet, Hub, Organization, User, Vehicle
    from dispatch.status import DutyStatus, Role

    stamp = str(int(time.time()))
    org = Organization.objects.create(name=f"Load {stamp}", slug=f"load-{stamp}")
    hub = Hub.objects.create(organization=org, code="LOAD", name="Load hub", lat=41.88, lon=-87.63)
    fleet = Fleet.objects.create(organization=org, hub=hub, name="Vans")
    Vehicle.objects.bulk_create(Vehicle(organization=org, fleet=fleet, code=f"L{i:05d}", capacity_kg=500, status=DutyStatus.ON_DUTY,
                                        lat=41.88, lon=-87.63) for i in range(vans))
    User.objects.create_user(username=f"watch-{stamp}", password="load-bench-pw", organization=org, role=Role.DISPATCHER)
    # Orders out for delivery on the vans, for the driver app to report failed (the exception load).
    from django.utils import timezone

    from dispatch.models import Order
    from dispatch.status import OrderStatus

    now, vehicles = timezone.now(), list(Vehicle.objects.filter(organization=org).order_by("id"))
    Order.objects.bulk_create(
        Order(organization=org, hub=hub, external_ref=f"F{stamp}-{k:05d}", address="x", lat=41.80 + (k % 40) * 0.004,
              lon=-87.70 + (k // 40 % 40) * 0.004, window_start=now, window_end=now + timedelta(hours=4), sla_deadline=now + timedelta(hours=4),
              service_level="same_day", weight_kg=3, customer_name="Load", status=OrderStatus.OUT_FOR_DELIVERY,
              vehicle=vehicles[k % len(vehicles)]).derive(hub)
        for k in range(failures))
    return {"org": org.id, "token": token_issue(organization_id=org.id, name="gateway")[1], "user": f"watch-{stamp}",
            "codes": [f"L{i:05d}" for i in range(vans)], "failures": [f"F{stamp}-{k:05d}" for k in range(failures)]}


def login(base: str, username: str) -> str:
    import httpx

    with httpx.Client(base_url=base) as http:
        http.get("/login/")
        csrf = http.cookies["csrftoken"]
        r = http.post("/login/", data={"username": username, "password": "load-bench-pw", "csrfmiddlewaretoken": csrf},
                      headers={"Referer": base + "/login/"})
        assert r.status_code == 302, r.text[:200]
        return f"sessionid={http.cookies['sessionid']}"


async def run_rate(bases: list[str], token: str, cookie: str, codes: list[str], rate: int, duration: float, dashboards: int,
                   failures: list[str] | None = None, exceptions_per_s: float = 0.0) -> dict:
    import httpx
    import websockets

    per_batch = max(1, int(rate * BATCH_EVERY_S))
    sent: dict[float, float] = {}        # batch time (epoch s) -> monotonic send time
    seen: list[dict[float, float]] = [dict() for _ in range(dashboards)]
    api_ms: list[float] = []
    api_of: dict[float, float] = {}
    accepted = 0
    errors: dict[str, int] = {}
    last_ping: dict[str, str] = {}
    stop = asyncio.Event()

    async def dashboard(i: int):
        base = bases[i % len(bases)]
        url = base.replace("http://", "ws://") + "/ws/live/"
        async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": base}, max_size=None) as ws:
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=1)
                except asyncio.TimeoutError:
                    continue
                msg = json.loads(raw)
                if msg.get("type") == "vehicles.moved":
                    now = time.monotonic()
                    for v in msg["data"]["vehicles"]:
                        if v["at"]:
                            seen[i].setdefault(round(datetime.fromisoformat(v["at"]).timestamp(), 3), now)

    watchers = [asyncio.create_task(dashboard(i)) for i in range(dashboards)]
    await asyncio.sleep(1.5)
    async with httpx.AsyncClient(headers={"Authorization": f"Token {token}"}, timeout=30) as http:
        start = time.monotonic()
        cursor, n = 0, 0
        pending = set()

        async def post(batch, key, base):
            nonlocal accepted
            t0 = time.monotonic()
            sent[key] = t0
            try:
                r = await http.post(base + "/api/vehicle-positions/", json={"pings": batch})
                api_ms.append((time.monotonic() - t0) * 1000)
                api_of[key] = api_ms[-1]
                if r.status_code == 202:
                    accepted += len(batch)
                    for p in batch:
                        last_ping[p["vehicle"]] = p["timestamp"]
                else:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        reported: list[str] = []

        async def report(ref: str, base: str):
            try:
                r = await http.post(base + f"/api/orders/{ref}/status/", json={"status": "failed", "failure_reason": "not_home"})
                if r.status_code == 200:
                    reported.append(ref)
                else:
                    errors[f"failure {r.status_code}"] = errors.get(f"failure {r.status_code}", 0) + 1
            except httpx.HTTPError as exc:
                errors[f"failure {type(exc).__name__}"] = errors.get(f"failure {type(exc).__name__}", 0) + 1

        async def driver_app():
            """Failed deliveries at the offered rate, as many drivers report them (not one after another)."""
            k, sending = 0, set()
            while exceptions_per_s and time.monotonic() - start < duration and k < len(failures or []):
                task = asyncio.create_task(report(failures[k], bases[k % len(bases)]))
                sending.add(task)
                task.add_done_callback(sending.discard)
                k += 1
                await asyncio.sleep(max(0.0, start + k / exceptions_per_s - time.monotonic()))
            await asyncio.gather(*sending)

        drivers = asyncio.create_task(driver_app())
        while time.monotonic() - start < duration:
            at = datetime.now(dt_tz.utc) - timedelta(milliseconds=0)
            stamp = at.isoformat()
            batch = []
            for _ in range(per_batch):
                code = codes[cursor % len(codes)]
                cursor += 1
                batch.append({"vehicle": code, "lat": 41.80 + (cursor % 1000) * 1e-4, "lon": -87.70 + (cursor % 700) * 1e-4,
                              "timestamp": stamp, "speed": 30})
            task = asyncio.create_task(post(batch, round(at.timestamp(), 3), bases[n % len(bases)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
            await asyncio.sleep(max(0.0, start + n * BATCH_EVERY_S - time.monotonic()))
        await asyncio.gather(*pending, drivers)
        elapsed = time.monotonic() - start
    await asyncio.sleep(5)  # let the last updates arrive
    stop.set()
    await asyncio.gather(*watchers, return_exceptions=True)

    latencies, lost, timeline = [], 0, []
    first = min(sent.values(), default=0.0)
    for key, t0 in sent.items():
        mine = []
        for i in range(dashboards):
            if key not in seen[i]:
                lost += 1
            else:
                mine.append((seen[i][key] - t0) * 1000)
        latencies += mine
        # Per batch, for finding when it fell behind: seconds into the run, API ms, slowest dashboard ms.
        timeline.append([round(t0 - first, 1), round(api_of.get(key, -1)), round(max(mine, default=-1))])
    return {"rate_offered": rate, "pings_per_batch": per_batch, "batches": len(sent), "duration_s": round(elapsed, 1),
            "ingest_achieved_per_s": round(accepted / elapsed, 1), "api_p50_ms": round(pct(api_ms, .5), 1),
            "api_p95_ms": round(pct(api_ms, .95), 1), "live_p50_ms": round(pct(latencies, .5), 1),
            "live_p95_ms": round(pct(latencies, .95), 1), "live_p99_ms": round(pct(latencies, .99), 1),
            "lost_on_screen": lost, "errors": errors, "last_ping": last_ping, "failures_reported": reported,
            "exceptions_offered_per_s": exceptions_per_s, "timeline": timeline}


def exception_figures(org_id: int, refs: list[str], duration_s: float, settle_s: float = 60.0) -> dict:
    """Exceptions raised for the reported failures and the time from each failure to its proposal
    (waiting up to settle_s after the run for the worker to catch up)."""
    if not refs:
        return {}
    from dispatch.models import Decision, Event, OrderException

    deadline = time.monotonic() + settle_s
    while True:
        raised = OrderException.objects.filter(organization_id=org_id, kind="failed_delivery", orders__external_ref__in=refs).distinct()
        if (raised.count() >= len(refs) and not raised.filter(decisions__isnull=True).exists()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    failed_at = dict(Event.objects.filter(organization_id=org_id, kind="order.status", data__to="failed", order__external_ref__in=refs)
                     .values_list("order__external_ref", "created_at"))
    waits = []
    for exc in raised.prefetch_related("orders"):
        first = Decision.objects.filter(exception=exc).order_by("created_at").values_list("created_at", flat=True).first()
        ref = next(iter(o.external_ref for o in exc.orders.all()), None)
        if first and ref in failed_at:
            waits.append((first - failed_at[ref]).total_seconds())
    return {"exceptions_reported": len(refs), "exceptions_raised": raised.count(), "exceptions_per_s": round(len(refs) / duration_s, 2),
            "proposed": len(waits), "failure_to_proposal_p50_s": round(pct(waits, .5), 2),
            "failure_to_proposal_p95_s": round(pct(waits, .95), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vans", type=int, default=2000)
    ap.add_argument("--rates", default="400", help="offered pings per second, comma-separated")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--dashboards", type=int, default=20)
    ap.add_argument("--daphnes", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--exceptions", type=float, default=0.0, help="failed deliveries reported per second (each an exception)")
    args = ap.parse_args(argv)
    env = {**os.environ, "DATABASE_URL": DB, "REDIS_URL": REDIS, "CELERY_TASK_ALWAYS_EAGER": "false",
           "DJANGO_SETTINGS_MODULE": "controltower.settings", "CHANNEL_PREFIX": "ct-load",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key-" + "b" * 40), "API_RATE": "100000/min"}
    os.environ.update(env)
    # A database of its own, new each run: figures are comparable only from the same start (this
    # machine's PostgreSQL runs without autovacuum, so earlier runs' dead rows would weigh on it).
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB.rsplit("/", 1)[1]], capture_output=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB.rsplit("/", 1)[1]], capture_output=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(["redis-cli", "-n", REDIS.rsplit("/", 1)[1], "flushdb"], capture_output=True)
    made = setup(args.vans, failures=int(args.exceptions * args.duration * len(args.rates.split(","))) + 10)
    procs, bases = [], []
    logdir = Path(os.environ.get("TMPDIR", "/tmp"))
    for i in range(args.daphnes):
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "controltower.asgi:application"],
                                      cwd=ROOT, env=env, stdout=open(logdir / f"ct-load-daphne-{i}.log", "w"), stderr=subprocess.STDOUT))
        bases.append(f"http://127.0.0.1:{port}")
    for i in range(args.workers):
        procs.append(subprocess.Popen([sys.executable, "-m", "celery", "-A", "controltower", "worker", "-Q", "default,planner", "-n", f"load{i}@%h",
                                       "--concurrency", "2", "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                                      cwd=ROOT, env=env, stdout=open(logdir / f"ct-load-worker-{i}.log", "w"), stderr=subprocess.STDOUT))
    import httpx

    for base in bases:
        for _ in range(100):
            try:
                httpx.get(base + "/login/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
    runs = []
    try:
        cookie = login(bases[0], made["user"])
        for rate in [int(r) for r in args.rates.split(",")]:
            result = asyncio.run(run_rate(bases, made["token"], cookie, made["codes"], rate, args.duration, args.dashboards,
                                          failures=made["failures"], exceptions_per_s=args.exceptions))
            made["failures"] = made["failures"][len(result["failures_reported"]):]
            from dispatch.models import Vehicle

            result.update(exception_figures(made["org"], result.pop("failures_reported"), result["duration_s"]))
            stored = {code: at.isoformat() for code, at in Vehicle.objects.filter(organization_id=made["org"]).values_list("code", "position_at") if at}
            last = result.pop("last_ping")
            result["lost_in_database"] = sum(1 for code, at in last.items()
                                             if datetime.fromisoformat(stored.get(code, "1970-01-01T00:00:00+00:00")) < datetime.fromisoformat(at))
            try:
                metrics = httpx.get(bases[0] + "/metrics", timeout=5).text
                result["celery_queue_age_s"] = max([float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                                                    if line.startswith("ct_celery_queue_age_seconds")] or [0.0])
                result["channel_drops_total"] = next((float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                                                      if line.startswith('ct_events_total{name="channel_drops"}')), 0.0)
            except httpx.HTTPError:
                pass
            runs.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "timeline"}))
    finally:
        stop_all(procs)
    summary = {"vans": args.vans, "dashboards": args.dashboards, "daphnes": args.daphnes, "workers": args.workers,
               "duration_s_per_rate": args.duration, "machine": f"{os.cpu_count()} cores", "runs": runs,
               "targets": {"ingest": "keeps up with the offered rate", "live_p95_ms": 250, "lost": 0}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"live_load-{args.daphnes}d{args.workers}w" + (f"-{args.exceptions:g}exc" if args.exceptions else "") + (
        "-soak" if args.duration >= 300 else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=1))
    rows = "\n".join(f"| {r['rate_offered']} | {r['ingest_achieved_per_s']} | {r['api_p50_ms']} / {r['api_p95_ms']} | "
                     f"{r['live_p50_ms']} / {r['live_p95_ms']} / {r['live_p99_ms']} | {r.get('celery_queue_age_s', '–')} | "
                     f"{r['lost_on_screen']} / {r['lost_in_database']} | {r['errors'] or '–'} |" for r in runs)
    (RESULTS / f"{name}.md").write_text(
        f"# Live load: {args.vans} vans, {args.dashboards} dashboards, {args.daphnes} daphne, {args.workers} Celery worker(s)\n\n"
        f"{args.duration:g} s per rate on {os.cpu_count()} cores (PostgreSQL, Redis, daphne, Celery on the same machine). "
        f"Batches every {BATCH_EVERY_S} s.\n\n"
        "| offered pings/s | ingested/s | API p50 / p95 ms | batch -> every dashboard p50 / p95 / p99 ms | queue age s | lost on screen / in DB | errors |\n"
        "|---|---|---|---|---|---|---|\n" + rows
        + ("\n\n| exceptions offered/s | reported/s | raised | proposed | failure -> proposal p50 / p95 s |\n|---|---|---|---|---|\n"
           + "\n".join(f"| {r['exceptions_offered_per_s']:g} | {r.get('exceptions_per_s', '–')} | {r.get('exceptions_raised', '–')} | "
                       f"{r.get('proposed', '–')} | {r.get('failure_to_proposal_p50_s', '–')} / {r.get('failure_to_proposal_p95_s', '–')} |"
                       for r in runs) if args.exceptions else "")
        + "\n\nTargets: ingest keeps up; live p95 <= 250 ms; nothing lost. "
        f"`python -m bench.live_load --rates {args.rates} --duration {args.duration:g} --daphnes {args.daphnes} --workers {args.workers}"
        + (f" --exceptions {args.exceptions:g}" if args.exceptions else "") + "`\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
