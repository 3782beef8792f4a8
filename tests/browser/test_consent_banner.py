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
    page.locator("#pz-consent").wait_for(state="detached")

    assert "pz_vid" in _cookie_names(page)
    granted = dict(ConsentRecord.objects.values_list("purpose", "granted"))
    assert granted["analytics"] is True
    assert granted["personalization"] is True
    assert granted["marketing"] is False
    assert page.js_errors == []
