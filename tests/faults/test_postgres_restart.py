"""PostgreSQL restarted in the middle of ingest: a cluster of the test's own on another port
(never the shared one), a real daphne in front of it. Every request is answered (201, or 503
with Retry-After while the database is away; never a 500, never a hang), nothing is written
twice, and a client retrying with the same Idempotency-Key gets the original answer."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_for_http
from tests.faults import in_three_hours, order_body, start_daphne

pytestmark = pytest.mark.processes

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else None


def as_postgres(*cmd, **kw):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def own_postgres():
    assert BIN, "PostgreSQL server binaries are needed (Debian's postgresql package)"
    data = tempfile.mkdtemp(prefix="ct-pg-")
    shutil.chown(data, "postgres", "postgres") if os.geteuid() == 0 else None
    port = free_port()
    init = as_postgres(f"{BIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres")
    assert init.returncode == 0, init.stderr
    pg_ctl = [f"{BIN}/pg_ctl", "-D", data, "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-l", f"{data}/log", "-w"]
    assert as_postgres(*pg_ctl, "start").returncode == 0
    as_postgres(f"{BIN}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "ct")
    try:
        yield {"url": f"postgres://postgres@127.0.0.1:{port}/ct", "pg_ctl": pg_ctl}
    finally:
        as_postgres(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_a_postgres_restart_mid_ingest_loses_and_duplicates_nothing(own_postgres, settings):
    env = {**os.environ, "DATABASE_URL": own_postgres["url"], "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": settings.SECRET_KEY,
           "CELERY_TASK_ALWAYS_EAGER": "true", "CHANNEL_PREFIX": f"ct-pgfault-{os.getpid()}", "AXES_ENABLED": "false",
           "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", "DJANGO_SETTINGS_MODULE": "controltower.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    token = subprocess.run([sys.executable, "-c", (
        "import django; django.setup()\n"
        "from dispatch.models import Organization, Hub\n"
        "from dispatch.api.auth import token_issue\n"
        "org = Organization.objects.create(name='PG fault', slug='pg-fault')\n"
        "Hub.objects.create(organization=org, code='HUB1', name='Hub', lat=41.88, lon=-87.63)\n"
        "print(token_issue(organization_id=org.id, name='t')[1])\n")], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True, timeout=120).stdout.strip()
    web, base, out = start_daphne(env, "pg-fault-daphne")

    start = in_three_hours()

    def body(i):
        return order_body(f"PG-{i}", start)

    keys = {i: uuid.uuid4().hex for i in range(60)}
    first: dict[int, httpx.Response] = {}
    try:
        wait_for_http(base + "/login/", proc=web)
        with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=15) as http:
            statuses = []
            for i in range(60):
                if i == 20:
                    as_postgres(*own_postgres["pg_ctl"], "-m", "fast", "stop")
                if i == 35:
                    assert as_postgres(*own_postgres["pg_ctl"], "start").returncode == 0
                r = http.post("/api/orders/", json=body(i), headers={"Idempotency-Key": keys[i]})
                statuses.append(r.status_code)
                assert r.status_code in (201, 503), (i, r.status_code, r.text[:300])
                if r.status_code == 503:
                    assert int(r.headers["Retry-After"]) > 0 and r.json()["error"]["code"] == "unavailable"
                else:
                    first[i] = r
            assert 503 in statuses and statuses[-1] == 201
            # the client retries what was refused, and repeats some that went through
            for i in range(60):
                deadline = time.monotonic() + 30
                while i not in first:
                    r = http.post("/api/orders/", json=body(i), headers={"Idempotency-Key": keys[i]})
                    if r.status_code == 201:
                        first[i] = r
                    else:
                        assert r.status_code == 503 and time.monotonic() < deadline
                        time.sleep(0.5)
            for i in (0, 19, 40, 59):
                again = http.post("/api/orders/", json=body(i), headers={"Idempotency-Key": keys[i]})
                assert again.status_code == 201 and again.json() == first[i].json()
            listed = http.get("/api/orders/", params={"limit": 1000}).json()
    finally:
        web.terminate()
        web.wait(15)
        out.close()
    refs = sorted(o["external_ref"] for o in listed["results"])
    assert refs == sorted(f"PG-{i}" for i in range(60))
