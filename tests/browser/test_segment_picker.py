"""A variant's segments in the snippet editor: checkboxes with a search box."""

from __future__ import annotations

from .test_first_hour import _log_in


def test_the_search_box_filters_the_segment_checkboxes(page, transactional_db):
    from personalization.segments.models import Segment
    from personalization.segments.services import save_segment
    from personalization.variants.models import PersonalizedContent

    returning = {"type": "returning", "params": {"value": True}}
    for slug, name in (("ai-readers", "AI readers"), ("night-owls", "Night owls"), ("vip", "VIP")):
        save_segment(Segment(name=name, slug=slug, rules=returning, status="enabled"))
    content = PersonalizedContent.objects.create(
        name="Promo",
        slug="promo",
        variants=[
            {
                "type": "variant",
                "value": {
                    "name": "Readers",
                    "segments": ["vip"],
                    "match": "any",
                    "content": [{"type": "heading", "value": "Hi"}],
                },
            }
        ],
        fallback=[{"type": "heading", "value": "Hello"}],
    )
    _log_in(page, "picker")
    page.goto(f"/admin/personalization/content/edit/{content.pk}/")
    search = page.locator("[data-pz-segment-search]").first
    search.wait_for(state="visible")
    picker = page.locator("[data-pz-segment-picker]").first
    assert picker.locator("[data-pz-segment-count]").inner_text() == "1 chosen"

    def visible() -> list[str]:
        return [
            box.get_attribute("value")
            for box in picker.locator("input[type=checkbox]").all()
            if box.is_visible()
        ]

    assert visible() == ["ai-readers", "night-owls", "vip"]
    search.fill("owl")
    assert visible() == ["night-owls", "vip"]  # a chosen one stays in view
    search.fill("zzz")
    assert picker.locator("[data-pz-segment-empty]").is_visible() is False  # vip is chosen
    search.fill("owl")
    picker.locator("input[value=night-owls]").check()
    assert picker.locator("[data-pz-segment-count]").inner_text() == "2 chosen"
    search.press("Enter")  # does not submit the form
    assert "/edit/" in page.url
    page.locator("button[type=submit]", has_text="Save").first.click()
    page.wait_for_load_state("networkidle")
    content.refresh_from_db()
    assert sorted(content.variants[0].value["segments"]) == ["night-owls", "vip"]
    assert page.js_errors == []
