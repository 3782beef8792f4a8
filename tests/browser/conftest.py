"""Browser tests: Debian's Chromium driven by Playwright's Python package (no browser download),
against Django's live server. Skipped where Chromium is not installed; `.ci/run` installs it.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety guard is
lifted for these tests only: the ORM calls the fixtures make are plain synchronous code."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason="needs Chromium (apt-get install chromium; .ci/run does)")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium_browser(_playwright):
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _fresh_page(browser, live_server, **options):
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return context, page


@pytest.fixture
def page(chromium_browser, live_server):
    """A fresh browser context (no cookies, no storage) per test; `page.base_url` is the server."""
    context, page = _fresh_page(chromium_browser, live_server)
    yield page
    context.close()


@pytest.fixture
def desktop_page(chromium_browser, live_server):
    """Like ``page``, but a desktop browser's user agent: headless Chromium says
    "HeadlessChrome", and the bot filter stores nothing for it."""
    from ..conftest import DESKTOP

    context, page = _fresh_page(chromium_browser, live_server, user_agent=DESKTOP)
    yield page
    context.close()


@pytest.fixture
def site_home(wagtail_root, live_server):
    """The demo's home page as the default site, served by the live server."""
    from urllib.parse import urlsplit

    from wagtail.models import Site

    from cms_site.demo.models import HomePage

    home = wagtail_root.add_child(instance=HomePage(title="Home", slug="browser-home"))
    url = urlsplit(live_server.url)
    Site.objects.all().delete()
    Site.objects.create(hostname=url.hostname, port=url.port, root_page=home, is_default_site=True)
    return home
