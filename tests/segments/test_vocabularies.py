"""Free-text rule parameters offer what exists and warn on what does not: the event field lists
the registered event types, "Only for" the page types by name and the tags and categories seen
in page views, and a typo ("pageview") is named with a hint in the builder's estimate and on the
segment page."""

from __future__ import annotations

import json

import pytest

from personalization.segments.models import Segment

from .test_admin import ADD, EDITORS, edit_url, form_data, staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    return staff_client("editor", EDITORS)


ESTIMATE = "/api/personalization/v1/segments/estimate"


def rules(event: str, dimension: str = "") -> dict:
    params = {"event": event, "op": ">=", "value": 1}
    if dimension:
        params["dimension"] = dimension
    return {"all": [{"type": "event_count", "params": params}]}


def catalog_fields(editor) -> dict[str, dict]:
    response = editor.get(ADD)
    widget = response.context["form"]["rules"].field.widget.get_context("rules", None, {})
    types = {t["type"]: t for t in widget["widget"]["catalog"]["types"]}
    return {spec["name"]: spec for spec in types["event_count"]["params"]}


def test_the_builder_offers_event_types_page_types_and_seen_tags(editor, visitor):
    visitor.send(
        {
            "type": "page_view",
            "properties": {"page_id": 1, "tags": ["Security"], "category": "guides"},
        }
    )
    fields = catalog_fields(editor)
    events = {o["value"]: o["label"] for o in fields["event"]["suggestions"]}
    assert {"page_view", "purchase", "signup", "search"} <= set(events)
    assert "pageview" not in events
    dimensions = {o["value"]: o["label"] for o in fields["dimension"]["suggestions"]}
    assert dimensions["page_type:demo.articlepage"] == "Page type: Article page"
    assert dimensions["page_type:demo.productpage"] == "Page type: Product page"
    assert dimensions["tag:security"] == "Tag: security"
    assert dimensions["category:guides"] == "Category: guides"
    assert "page_type:wagtailcore.page" not in dimensions


def test_unknown_values_are_warnings_in_the_estimate(editor):
    body = editor.post(
        ESTIMATE,
        json.dumps({"rules": rules("pageview", "page_type:demo.articlepages")}),
        content_type="application/json",
    ).json()
    assert body["warnings"] == [
        {
            "path": "all[0].params.event",
            "message": "'pageview' is not a registered event type: no such event is stored, so "
            "nobody matches. Did you mean 'page_view'?",
        },
        {
            "path": "all[0].params.dimension",
            "message": "'page_type:demo.articlepages' is not a page type of this site, so "
            "nobody matches.",
        },
    ]
    fine = editor.post(
        ESTIMATE,
        json.dumps({"rules": rules("page_view", "tag:not-seen-yet")}),
        content_type="application/json",
    ).json()
    assert fine["warnings"] == []


def test_a_saved_segment_with_a_typo_says_so_on_its_page(editor):
    typo = json.dumps(rules("pageview"))
    response = editor.post(ADD, form_data(name="Typo", slug="", rules=typo))
    assert response.status_code == 302, response.context["form"].errors  # a warning, not an error
    page = editor.get(edit_url(Segment.objects.get(slug="typo")))
    assert "&#x27;pageview&#x27; is not a registered event type" in page.content.decode()
