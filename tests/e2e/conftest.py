import contextlib

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser(monkeypatch):
    """Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls
    are still plain synchronous code, so Django's async-safety guard is lifted for browser tests."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield _TestBrowser(b)
        finally:
            b.close()


class _TestBrowser:
    """Pages that let the test's own probes (wait_for_function strings, evaluated as scripts)
    past the content security policy; `strict_page` keeps the policy, to prove the product's own
    pages need no exception to it (tests/e2e/test_csp.py)."""

    def __init__(self, browser):
        self._browser = browser

    def new_page(self, **kwargs):
        kwargs.setdefault("bypass_csp", True)
        return self._browser.new_page(**kwargs)

    def strict_page(self, **kwargs):
        return self._browser.new_page(bypass_csp=False, **kwargs)

    def __getattr__(self, name):
        return getattr(self._browser, name)


def login(page, base: str, username: str, password: str = "pw-for-tests") -> None:
    page.goto(base + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#map .van-marker", timeout=15000)


@contextlib.contextmanager
def demo_day(settings, tmp_path, *, disrupt: tuple = (), env_extra: dict | None = None):
    """The demo as `make demo` runs it, on the test database: the Chicago demo city seeded at 10:00
    playing at 60x, the carrier sandbox, daphne with the beat in-process (four times as often: at
    60x the product clock its minute is an hour of the day) and the city simulator, its drivers
    working through the driver app. Yields (web address, processes, a function that starts the
    simulator: a test starts it once its screen is open); stops them after."""
    import json
    import subprocess
    import sys
    from datetime import time

    from dispatch.simulation.city import CITIES
    from dispatch.simulation.seed import seed_city
    from tests.conftest import ROOT, child_env, free_port, process_log, stop_process, wait_for_http

    def start(args, name, env):
        log = process_log(name)
        procs.append((subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        return procs[-1][0]

    sandbox_port, web_port = free_port(), free_port()
    sandbox, web = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{web_port}"
    result = seed_city(city=CITIES["chicago"], seed=7, vans_per_hub=3, orders=40, start=time(10, 0),
                       speed=60, password="pw-for-tests", sandbox_url=sandbox, public_url=web)
    (tmp_path / "sandbox.json").write_text(json.dumps(result["sandbox"]))
    (tmp_path / "token").write_text(result["token"])
    # as seed_demo leaves them: the vans' drivers sign in to the driver app, and the simulator drives through it
    (tmp_path / "demo-drivers.json").write_text(json.dumps({"password": "pw-for-tests", "drivers": result["drivers"]}))
    env = {**child_env(settings), "CT_TICKER": "1", "CT_TICKER_SCALE": "0.25", "PUBLIC_BASE_URL": web, **(env_extra or {})}
    procs: list = []
    try:
        wait_for_http(sandbox + "/health", proc=start([sys.executable, "-m", "carriers.sandbox", "--port", str(sandbox_port),
                                                       "--config", str(tmp_path / "sandbox.json")], "sandbox", env))
        wait_for_http(web + "/login/", proc=start([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                                                   "controltower.asgi:application"], "daphne", env))
        running = [p for p, _ in procs]
        sim = [sys.executable, "manage.py", "simulate", "--base-url", web, "--sandbox-url", sandbox, "--token-file",
               str(tmp_path / "token"), "--duration", "240", "--tick", "0.5"]
        for spec in disrupt:
            sim += ["--disrupt", spec]

        def simulate() -> None:
            start(sim, "simulate", env)
            running.append(procs[-1][0])

        yield web, running, simulate
    finally:
        for proc, log in reversed(procs):
            stop_process(proc, log, 10)
