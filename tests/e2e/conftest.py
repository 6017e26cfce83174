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
