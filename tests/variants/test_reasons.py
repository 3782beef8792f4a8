"""Why a variant was chosen, as ``decide`` tells a frontend: for a variant that wants any of its
segments, the first of them (in the editor's order) that the visitor is in; for one that wants
all, every one. Found by mutation testing (docs/testing.md)."""

from __future__ import annotations

import json

import pytest

from personalization.profiles.traits import set_traits
from personalization.variants.models import PersonalizedContent

from ..conftest import IPHONE, Visitor
from ..rendering.conftest import variant

pytestmark = pytest.mark.django_db


def decide_segments(visitor: Visitor, slug: str) -> list[str]:
    response = visitor.client.post(
        "/api/personalization/v1/decide",
        json.dumps({"placements": [slug]}),
        content_type="application/json",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert response.status_code == 200, response.content
    return response.json()["placements"][slug]["segments"]


@pytest.mark.parametrize(("match", "reason"), [("any", ["mobile"]), ("all", ["mobile", "vip"])])
def test_the_reason_names_the_segments_that_chose_the_variant(segments, match, reason):
    item = variant("00000000-0000-0000-0000-00000000000a", ["mobile", "vip"], "BOTH", match=match)
    PersonalizedContent.objects.create(
        name="Both",
        slug="both",
        variants=[{"type": "variant", "value": item["value"], "id": item["id"]}],
        fallback=[{"type": "heading", "value": "NEITHER"}],
    )
    visitor = Visitor(user_agent=IPHONE)
    visitor.consent(analytics=True, personalization=True)
    set_traits(visitor.id, {"tier": "vip"})
    assert decide_segments(visitor, "both") == reason
