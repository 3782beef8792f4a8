"""The README's tracker snippet, pasted into a page as written: calls made before the deferred
script has loaded are kept by the stub and sent once it has (no ReferenceError)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from personalization.events.models import Event

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _readme_snippet() -> str:
    blocks = re.findall(r"```html\n(.*?)```", README, re.S)
    snippet = next(b for b in blocks if "tracker.js" in b)
    return snippet.replace(
        "{% static 'personalization/tracker.js' %}", "/static/personalization/tracker.js"
    )


def test_the_readme_snippet_queues_calls_until_the_tracker_loads(desktop_page, site_home):
    page = desktop_page
    page.goto("/")  # a consented visitor: the cookie comes from the consent endpoint
    status = page.evaluate(
        """() => fetch("/api/personalization/v1/consent", {method: "POST",
             headers: {"Content-Type": "application/json"},
             body: JSON.stringify({purposes: {analytics: true, personalization: true}})})
           .then(r => r.status)"""
    )
    assert status == 200
    html = f"<!doctype html><html><body>{_readme_snippet()}</body></html>"
    page.route(
        "**/snippet-under-test", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    page.goto("/snippet-under-test")
    page.wait_for_function("() => window.personalization && window.personalization.version === 1")
    page.evaluate("() => window.personalization.flush()")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not Event.objects.filter(type="search").exists():
        page.wait_for_timeout(100)  # keeps Playwright's event loop turning
    search = Event.objects.get(type="search")
    assert search.properties["query"] == "pricing"
    assert page.js_errors == []
