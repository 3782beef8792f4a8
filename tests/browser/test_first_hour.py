"""What staff and visitors see on the demo's pages in a real browser: no consent dialog over
the preview panel or the userbar's "View as..." menu, and no stray space above the headings of
personalized boxes."""

from __future__ import annotations


def _log_in(page, username: str) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username, f"{username}@example.com", "pw-123456")
    page.goto("/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-123456")
    page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_url("**/admin/")


def test_visitors_get_the_consent_dialog_and_staff_do_not(page, site_home):
    page.goto("/")
    page.locator("#pz-consent").wait_for(state="visible")
    _log_in(page, "staffer")
    page.goto("/")
    assert page.locator("#pz-consent").count() == 0
    assert page.js_errors == []


def test_headings_in_personalized_boxes_have_no_space_above(page, site_home):
    page.goto("/")
    margins = page.evaluate("""() => ['pz-banner', 'pz-block'].map((box) => {
        const outer = document.createElement('div');
        outer.className = box;
        outer.innerHTML = '<div class="block-heading"><h2 class="pz-heading">Hello</h2></div>';
        document.querySelector('main, body').appendChild(outer);
        return getComputedStyle(outer.querySelector('h2')).marginTop;
    })""")
    assert margins == ["0px", "0px"]


def test_swagger_ui_offers_try_it_out_and_asks_no_other_host(page, site_home, live_server):
    from urllib.parse import urlsplit

    elsewhere = []
    page.on(
        "request",
        lambda request: (
            urlsplit(request.url).netloc != urlsplit(live_server.url).netloc
            and not request.url.startswith(("data:", "blob:"))
            and elsewhere.append(request.url)
        ),
    )
    page.goto("/api/personalization/v1/docs/try")
    page.locator(".opblock").first.wait_for(state="visible")
    page.locator(".opblock-summary", has_text="/api/personalization/v1/events").first.click()
    # The operation opens with an animation: wait for the button (a timeout fails the test).
    page.get_by_role("button", name="Try it out").first.wait_for(state="visible", timeout=10_000)
    assert elsewhere == []
    page.goto("/api/personalization/v1/docs")
    page.locator("redoc, #redoc-container").first.wait_for(state="attached")
    page.wait_for_load_state("networkidle")
    # ReDoc's own "by Redocly" logo still comes from its CDN (no option to turn it off); fonts
    # no longer do.
    assert not [url for url in elsewhere if "font" in url]
    assert page.js_errors == []
