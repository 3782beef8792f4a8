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
    assert "pz_vid" not in _cookie_names(page)

    page.get_by_role("button", name="Accept all").click()
    page.wait_for_load_state("load")
    page.locator("#pz-consent").wait_for(state="hidden")

    assert "pz_vid" in _cookie_names(page)
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
