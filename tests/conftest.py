import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rest_framework.test import APIClient

from tests.factories import (
    HubFactory,
    OrganizationFactory,
    UserFactory,
    VehicleFactory,
    api_token,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _own_broker_namespace():
    """The suite runs on both cores (pytest-xdist): each of its processes keeps its Celery queues
    under a prefix of its own on the shared Redis, it and the workers it starts, so that a worker
    one test starts never takes the tasks another process's test enqueued."""
    from django.conf import settings as django_settings

    from controltower.celery import app

    if not django_settings.REDIS_URL or os.environ.get("CELERY_BROKER_PREFIX"):
        yield
        return
    prefix = f"ct-test-{os.getpid()}:"
    os.environ["CELERY_BROKER_PREFIX"] = prefix  # child processes (child_env copies the environment)
    options = {**django_settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": prefix}
    django_settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    app.conf.broker_transport_options = options
    yield


@pytest.fixture(autouse=True)
def _isolated_channel_prefix(settings, request):
    """Each test run gets its own channel-layer prefix and sequence keys on the shared Redis."""
    if settings.REDIS_URL:
        settings.CHANNEL_LAYERS = {
            "default": {**settings.CHANNEL_LAYERS["default"],
                        "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": f"ct-test-{os.getpid()}"}}
        }
        from channels.layers import channel_layers

        channel_layers.backends.clear()
    yield


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings):
    """Throttle and lockout counters live in the cache: each test starts with its own."""
    import uuid

    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"ct-test-{uuid.uuid4().hex[:12]}"}}
    yield


@pytest.fixture(autouse=True)
def _loopback_receivers(settings):
    """The suite's webhook receivers and carrier sandboxes listen on loopback, which a real
    install refuses to call unless an operator allows it; the suite allows it (tests of the
    refusal set their own list)."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    yield


@pytest.fixture(autouse=True)
def _messages_at_commit(settings):
    """In-process tests run tasks eagerly, where a countdown is not kept: each transaction's changes
    to an order are one message, sent at commit. Tests of the change window set their own."""
    settings.CUSTOMER_MESSAGE_WINDOW_S = 0
    settings.ESTIMATE_SETTLE_S = settings.ESTIMATE_QUIET_S = 0
    yield


@pytest.fixture(autouse=True)
def _fresh_clock():
    """The product clock caches the simulation anchor; start every test from the database's word."""
    from dispatch import clock

    clock.reset_cache()
    yield
    clock.reset_cache()


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory()


@pytest.fixture
def hub(org):
    return HubFactory(organization=org, code="HUB1")


@pytest.fixture
def vehicle(hub):
    return VehicleFactory(fleet__hub=hub, code="VAN1")


@pytest.fixture
def api(org):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(org)}")
    return client


@pytest.fixture
def dispatcher(org):
    return UserFactory(organization=org)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, seconds: float = 30.0, proc=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds}s")


def child_env(settings) -> dict:
    """Environment for a child process that must use the test database and Redis."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "ct")
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "CHANNEL_PREFIX": prefix,
            "CELERY_TASK_ALWAYS_EAGER": "true", "DJANGO_SETTINGS_MODULE": "controltower.settings",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8", "SECRET_KEY": settings.SECRET_KEY,
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}


def stop_process(proc, log=None, seconds: float = 15) -> None:
    """Stop a child process (SIGTERM, then SIGKILL if it lingers) and close its log."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if log is not None:
        log.close()


def process_log(name: str):
    """A file for a child process's output: a pipe nobody reads fills up and blocks the child."""
    import tempfile

    return tempfile.NamedTemporaryFile(prefix=f"ct-{name}-", suffix=".log", delete=False)


def start_worker(settings, name: str, *, queues: str = "default,planner", loglevel: str = "WARNING", extra: tuple = (),
                 env_extra: dict | None = None):
    """A real Celery worker on the test database and Redis (tasks not run in-process). Returns the
    process and its log file; stop it with stop_process."""
    env = {**child_env(settings), "CELERY_TASK_ALWAYS_EAGER": "false", **(env_extra or {})}
    out = process_log(name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controltower", "worker", "-Q", queues, *extra,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", loglevel],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    return proc, out


def _serve(settings, env: dict):
    port = free_port()
    out = process_log("daphne")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--access-log", "-", "controltower.asgi:application"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/login/", proc=proc)
        yield base
    finally:
        stop_process(proc, out, 10)
        with open(out.name, errors="replace") as f:
            lines = f.readlines()
        # shown when the test failed: what went wrong in the server, and the last requests it answered
        wrong = [line for line in lines if any(w in line for w in ("ERROR", "Traceback", "Error", "WARNING", '" 5'))]
        print("--- daphne: errors ---\n" + "".join(wrong[-40:]))
        routine = ("/live/kpis/", "/live/carriers/", "/live/orders/", "/live/state/", "/static/")
        print("--- daphne: requests but the routine refreshes ---\n" + "".join([line for line in lines if not any(r in line for r in routine)][-60:]))
        print("--- daphne: last requests ---\n" + "".join(lines[-20:]))
        os.unlink(out.name)


@pytest.fixture
def daphne_server(transactional_db, settings):
    """A real daphne process serving the project against the test database and Redis (its tasks
    run in-process)."""
    yield from _serve(settings, child_env(settings))


def _tail(path: str, n: int = 4000) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - n))
        return f.read().decode(errors="replace")


@pytest.fixture
def daphne_and_worker(transactional_db, settings):
    """Real mode: daphne enqueues its tasks on Redis and a Celery worker runs them. The worker starts
    on empty queues (tasks an earlier test left are for rows that are gone, and would only delay
    this test's own); what it said is printed at the end, which pytest shows when the test failed.
    The two share queues of their own on the shared Redis: a task that an earlier test's killed
    worker left unacknowledged is redelivered (after the visibility timeout) to the queues it came
    from, never to this test's worker."""
    import uuid

    own = {"CELERY_BROKER_PREFIX": f"ct-test-{uuid.uuid4().hex[:12]}:"}
    worker, log = start_worker(settings, "worker", loglevel="INFO", extra=("--purge",), env_extra=own)
    try:
        yield from _serve(settings, {**child_env(settings), "CELERY_TASK_ALWAYS_EAGER": "false", **own})
    finally:
        stop_process(worker, log, 20)
        with open(log.name, errors="replace") as f:
            telling = [line for line in f if any(w in line for w in ("finish_decision", "propose_decision", "ERROR", "WARNING",
                                                                     "Traceback", "Error", "retry"))]
        print("--- the worker's log: decisions, warnings, errors ---\n" + "".join(telling[-60:]))
        print("--- the worker's log, last part ---\n" + _tail(log.name, 1500))
        os.unlink(log.name)
