"""What a customer's inbox looks like after a disrupted afternoon: the demo's day played as `make
demo` plays it (the carrier sandbox, daphne with the beat in-process, the city simulator driving
vans through the API, on the embedded SQLite), with the disruptions of issue #23 injected (a
carrier outage, a van breakdown, a driver who never starts). Every e-mail goes over real SMTP to a
server in this process, and is counted there, per customer:

- e-mails per order, and how many of them were about the estimate ("new ETA", "delayed");
- contradictions: an estimate e-mail followed within 30 minutes (product time) by another estimate
  e-mail for the same order;
- how true the last estimate a delivered order's customer read was (its distance from the
  delivery).

    python -m bench.messages [--minutes 300] [--speed 60] [--orders 150]

Writes bench/results/messages.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from datetime import time as dtime
from email import message_from_bytes
from pathlib import Path

from bench.processes import stop_all

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DISRUPTIONS = ("carrier_outage:GIG@20+90", "vehicle_breakdown:N01@35", "driver_no_show:S02@10")
CONTRADICTION_MIN = 30
ESTIMATE_KINDS = ("new_eta", "delayed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc, seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process stopped (exit {proc.returncode})")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {seconds} s")


def play_day(*, minutes: float, speed: float, orders: int, settle: float, seed: int = 7, disruptions=DISRUPTIONS,
             every=None, every_s: float = 1.0, sim_args: tuple = (), vans_per_hub: int = 6) -> tuple[Path, list[tuple[str, str]], float]:
    """Seed the demo city and play `minutes` of it as `make demo` does (the carrier sandbox, daphne
    with the beat in-process, the simulator), on a fresh embedded database in a work directory,
    with every e-mail received by an SMTP server here. `every()` is called every `every_s` real
    seconds while the day plays (after django.setup(), in this process). Returns the work directory,
    the inbox as (recipient, kind) and the wall time."""
    work = Path(tempfile.mkdtemp(prefix="ct-bench-day-"))
    smtp_port, sandbox_port, web_port = free_port(), free_port(), free_port()
    sandbox, web = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{web_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
    env.update({"SQLITE_PATH": str(work / "db.sqlite3"), "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_port), "DJANGO_SETTINGS_MODULE": "controltower.settings",
                "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key-" + "m" * 40), "PUBLIC_BASE_URL": web,
                "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32", "MEDIA_ROOT": str(work / "media")})
    os.environ.clear()
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    env["CT_TICKER"] = "1"  # the web process runs the beat, as in the demo; this one only seeds and counts

    import django

    django.setup()
    from aiosmtpd.controller import Controller

    from dispatch.simulation.city import CITIES
    from dispatch.simulation.seed import seed_city

    inbox: list[tuple[str, str]] = []  # (recipient, kind)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            mail = message_from_bytes(envelope.content)
            kind = re.search(r"<ct-\d+-([a-z_]+)@", mail.get("Message-ID", ""))
            for rcpt in envelope.rcpt_tos:
                inbox.append((rcpt, kind.group(1) if kind else "?"))
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    result = seed_city(city=CITIES["chicago"], seed=seed, vans_per_hub=vans_per_hub, orders=orders, start=dtime(12, 0),
                       speed=speed, password="bench-only", sandbox_url=sandbox, public_url=web)
    (work / "sandbox.json").write_text(json.dumps(result["sandbox"]))
    (work / "token").write_text(result["token"])
    # as seed_demo leaves them: the simulator's drivers work through the driver app
    (work / "demo-drivers.json").write_text(json.dumps({"password": result["password"], "drivers": result["drivers"]}))
    procs = []

    def start(cmd, name):
        log = open(work / f"{name}.log", "w")
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        return procs[-1]

    started = time.monotonic()
    try:
        wait_for_http(sandbox + "/health", start([sys.executable, "-m", "carriers.sandbox", "--port", str(sandbox_port),
                                                 "--config", str(work / "sandbox.json")], "sandbox"))
        wait_for_http(web + "/login/", start([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                                              "controltower.asgi:application"], "daphne"))
        sim = [sys.executable, "manage.py", "simulate", "--base-url", web, "--sandbox-url", sandbox, "--token-file",
               str(work / "token"), "--duration", str(minutes), "--seed", str(seed), *sim_args]
        for spec in disruptions:
            sim += ["--disrupt", spec]
        simulator = start(sim, "simulate")
        deadline = time.monotonic() + minutes * 60 / speed * 3 + 300
        while simulator.poll() is None and time.monotonic() < deadline:
            if every is not None:
                every()
            time.sleep(every_s)
        if simulator.poll() is None:
            raise SystemExit(f"The simulated day did not end in time; see {work}/simulate.log")
        time.sleep(settle)
    finally:
        stop_all(procs)
        smtp.stop()
    return work, inbox, time.monotonic() - started


def open_day(work: str) -> None:
    """Set Django up on an earlier played day's database (its work directory), to measure it again."""
    os.environ.update({"SQLITE_PATH": str(Path(work) / "db.sqlite3"), "DJANGO_SETTINGS_MODULE": "controltower.settings"})
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=300, help="Simulated minutes to play (from 12:00)")
    ap.add_argument("--speed", type=float, default=60, help="Simulated seconds per real second (the demo's)")
    ap.add_argument("--orders", type=int, default=150, help="Orders seeded for the day")
    ap.add_argument("--settle", type=float, default=60, help="Real seconds to let the last messages go after the day")
    ap.add_argument("--measure", default="", help="Only count again, from an earlier run's work directory (its database)")
    args = ap.parse_args(argv)
    if args.measure:
        open_day(args.measure)
        summary, _ = measure(None)
        print(json.dumps(summary, indent=1))
        return 0
    work, inbox, wall = play_day(minutes=args.minutes, speed=args.speed, orders=args.orders, settle=args.settle)
    summary, per_order = measure(inbox)
    summary.update({"minutes": args.minutes, "speed": args.speed, "orders_seeded": args.orders, "disruptions": list(DISRUPTIONS),
                    "wall_s": round(wall, 1), "machine": f"{os.cpu_count()} cores; the embedded default (SQLite, tasks in-process)"})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "messages.json").write_text(json.dumps({"summary": summary, "orders": per_order}, indent=1))
    (RESULTS / "messages.md").write_text(report(summary))
    print(json.dumps(summary, indent=1))
    print(f"(work directory, logs and database: {work})")
    return 0


def measure(inbox) -> tuple[dict, dict]:
    from dispatch.models import CustomerMessage, Order

    orders = {o.customer_email: o for o in Order.objects.exclude(customer_email="")}
    orders_by_id = {o.id: o for o in orders.values()}
    sent = list(CustomerMessage.objects.filter(status__in=("sent", "unconfirmed"), channel="email", sent_at__isnull=False)
                .order_by("sent_at", "id").values("order_id", "kind", "eta", "sent_at"))
    by_order: dict[int, list[dict]] = {}
    for m in sent:
        by_order.setdefault(m["order_id"], []).append(m)
    received: dict[str, int] = {}
    for rcpt in [r for r, _ in inbox] if inbox is not None else [orders_by_id[m["order_id"]].customer_email for m in sent
                                                                 if m["order_id"] in orders_by_id]:
        received[rcpt] = received.get(rcpt, 0) + 1
    per_order, contradictions, errors_min = {}, 0, []
    for o in orders.values():
        told = by_order.get(o.id, [])
        estimates = [m for m in told if m["kind"] in ESTIMATE_KINDS]
        pairs = sum(1 for a, b in zip(estimates, estimates[1:])
                    if (b["sent_at"] - a["sent_at"]) <= timedelta(minutes=CONTRADICTION_MIN))
        contradictions += pairs
        if o.delivered_at:
            before = [m for m in told if m["eta"] is not None and m["sent_at"] <= o.delivered_at]
            if before:
                errors_min.append(abs((o.delivered_at - before[-1]["eta"]).total_seconds()) / 60)
        per_order[o.external_ref] = {"emails": received.get(o.customer_email, 0), "kinds": [m["kind"] for m in told],
                                     "estimate_emails": len(estimates), "contradictions": pairs}
    counts = [v["emails"] for v in per_order.values()]
    with_mail = [c for c in counts if c]
    estimates = [v["estimate_emails"] for v in per_order.values()]
    kinds: dict[str, int] = {}
    for m in sent:
        kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
    summary = {
        "orders": len(per_order), "emails": sum(received.values()), "emails_by_kind": dict(sorted(kinds.items())),
        "emails_per_order_mean": round(statistics.mean(counts), 2) if counts else 0,
        "emails_per_order_p95": _p95(counts), "emails_per_order_max": max(counts, default=0),
        "orders_over_5_emails": sum(1 for c in counts if c > 5), "orders_with_email": len(with_mail),
        "estimate_emails_per_order_max": max(estimates, default=0),
        "contradictions_within_30_min": contradictions,
        "delivered_with_estimate": len(errors_min),
        "last_estimate_error_min_p50": round(statistics.median(errors_min), 1) if errors_min else None,
        "last_estimate_error_min_p95": round(_p95(errors_min), 1) if errors_min else None,
    }
    return summary, per_order


def _p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else 0


def report(s: dict) -> str:
    return (
        f"# Customer e-mails on a disrupted afternoon\n\n"
        f"The demo's day from 12:00, {s['minutes']:g} simulated minutes at {s['speed']:g}x, {s['orders_seeded']} orders seeded and "
        f"more arriving, with {', '.join(s['disruptions'])}. Counted at the SMTP server.\n\n"
        f"| measure | value |\n|---|---|\n"
        f"| orders | {s['orders']} ({s['orders_with_email']} got e-mail) |\n"
        f"| e-mails | {s['emails']} ({', '.join(f'{k} {v}' for k, v in s['emails_by_kind'].items())}) |\n"
        f"| e-mails per order: mean / p95 / max | {s['emails_per_order_mean']} / {s['emails_per_order_p95']} / {s['emails_per_order_max']} |\n"
        f"| orders with more than 5 e-mails | {s['orders_over_5_emails']} |\n"
        f"| estimate e-mails (new ETA, delayed) for one order, max | {s['estimate_emails_per_order_max']} |\n"
        f"| estimate e-mails followed within {CONTRADICTION_MIN} min by another | {s['contradictions_within_30_min']} |\n"
        f"| last estimate told vs delivery, p50 / p95 (delivered orders with an estimate: {s['delivered_with_estimate']}) | "
        f"{s['last_estimate_error_min_p50']} / {s['last_estimate_error_min_p95']} min |\n\n"
        f"{s['machine']}; {s['wall_s']} s. `python -m bench.messages`.\n")


if __name__ == "__main__":
    sys.exit(main())
