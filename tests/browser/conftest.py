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


@pytest.fixture
def page(chromium_browser, live_server):
    """A fresh browser context (no cookies, no storage) per test; `page.base_url` is the server."""
    context = chromium_browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture
def site_home(transactional_db, live_server):
    """The demo's home page as the default site, served by the live server."""
    from urllib.parse import urlsplit

    from wagtail.models import Page, Site

    from cms_site.demo.models import HomePage

    root = Page.get_first_root_node()
    if root is None:  # an earlier transactional test flushed what the migrations made
        from wagtail.models import Locale

        Locale.objects.get_or_create(language_code="en")
        root = Page.add_root(instance=Page(title="Root", slug="root"))
    home = root.add_child(instance=HomePage(title="Home", slug="browser-home"))
    url = urlsplit(live_server.url)
    Site.objects.all().delete()
    Site.objects.create(hostname=url.hostname, port=url.port, root_page=home, is_default_site=True)
    return home
