"""The demo's consent banner in a real browser: the choice is recorded through the API and the
visitor cookie appears only after "Accept all"."""

from __future__ import annotations

from personalization.consent.models import ConsentRecord


def _cookie_names(page) -> set[str]:
    return {c["name"] for c in page.context.cookies()}


def test_accept_all_records_consent_and_sets_the_visitor_cookie(page, site_home):
    page.goto("/")
    banner = page.locator("#pz-consent")
    banner.wait_for(state="visible")
    page.reload()  # a second page too: still no cookie of ours before the visitor answers
    banner.wait_for(state="visible")
    assert not {name for name in _cookie_names(page) if name.startswith("pz_")}

    page.get_by_role("button", name="Accept all").click()
    page.wait_for_load_state("load")
    page.locator("#pz-consent").wait_for(state="hidden")

    assert "pz_vid" in _cookie_names(page)
    page.goto("/")  # the first page after consent hands over the segment key
    assert "pz_seg" in _cookie_names(page)
    granted = dict(ConsentRecord.objects.values_list("purpose", "granted"))
    assert granted["analytics"] is True
    assert granted["personalization"] is True
    assert granted["marketing"] is False
    assert page.js_errors == []


def _granted() -> dict[str, bool]:
    return dict(ConsentRecord.objects.values_list("purpose", "granted"))


def test_privacy_choices_link_reopens_the_choices_to_withdraw_and_grant_again(page, site_home):
    page.goto("/")
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_load_state("load")
    banner = page.locator("#pz-consent")
    banner.wait_for(state="hidden")
    assert _granted()["personalization"] is True

    # Days later, another page: the footer's link brings the choices back.
    page.goto("/")
    assert not banner.is_visible()
    page.get_by_role("link", name="Privacy choices").click()
    banner.wait_for(state="visible")
    with page.expect_navigation():
        page.get_by_role("button", name="Only necessary").click()
    banner.wait_for(state="hidden")
    withdrawn = _granted()
    assert (withdrawn["analytics"], withdrawn["personalization"]) == (False, False)

    # And back again: the link works as often as the visitor likes.
    page.get_by_role("link", name="Privacy choices").click()
    banner.wait_for(state="visible")
    with page.expect_navigation():
        page.get_by_role("button", name="Accept all").click()
    banner.wait_for(state="hidden")
    assert _granted()["analytics"] is True
    assert page.js_errors == []


def test_privacy_choices_link_works_without_javascript(chromium_browser, live_server, site_home):
    context = chromium_browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.add_cookies([{"name": "pz_vid", "value": "answered", "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto("/")
        banner = page.locator("#pz-consent")
        assert not banner.is_visible()
        page.get_by_role("link", name="Privacy choices").click()
        banner.wait_for(state="visible")
    finally:
        context.close()


def test_the_trackers_beacon_is_accepted_as_json(chromium_browser, live_server, site_home):
    """tracker.js flushes with sendBeacon when the page is left; the API parses only JSON (a
    cross-site page could send text/plain), so the beacon must be application/json."""
    from personalization.events.models import Event

    from ..conftest import DESKTOP  # HeadlessChrome's own user agent is (rightly) a bot

    context = chromium_browser.new_context(base_url=live_server.url, user_agent=DESKTOP)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        events_url = "/api/personalization/v1/events"
        seen: list[str] = []
        statuses: list[int] = []
        page.on(
            "request",
            lambda r: (
                seen.append(r.headers.get("content-type", ""))
                if r.url.endswith(events_url)
                else None
            ),
        )
        page.on("response", lambda r: statuses.append(r.status) if events_url in r.url else None)
        page.goto("/")
        page.get_by_role("button", name="Accept all").click()
        page.wait_for_load_state("load")
        page.locator("#pz-consent").wait_for(state="hidden")
        page.evaluate("window.personalization.track('click', {category: 'cta'})")
        # pagehide (as when the visitor leaves): the queued event leaves as a beacon.
        sent = page.evaluate("""() => {
            let beacons = 0;
            const send = navigator.sendBeacon.bind(navigator);
            navigator.sendBeacon = (url, body) => {
                const ok = send(url, body);
                beacons += ok;
                return ok;
            };
            window.dispatchEvent(new Event("pagehide"));
            return beacons;
        }""")
        assert sent == 1, "the browser refused the beacon (the tracker fell back to fetch)"
        for _ in range(50):  # the answer, not the database: SQLite's shared cache locks
            if statuses:
                break
            page.wait_for_timeout(100)
        assert Event.objects.filter(type="click").count() == 1, (seen, statuses)
        assert seen and all(t.startswith("application/json") for t in seen)
        assert statuses == [202] and errors == []
    finally:
        context.close()
