"""The recommendations query's fast check (``recommendation_input``) never accepts what the
serializer refuses, and gives the same validated data; what it does not accept goes to the
serializer, so the 400s naming the field stay the serializer's."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from personalization.api.v1 import recommendation_views
from personalization.api.v1.recommendation_input import well_formed_recommendations_query
from personalization.api.v1.recommendation_serializers import RecommendationsQuerySerializer

from .conftest import token, train_now

URL = "/api/personalization/v1/recommendations"

# (raw query as the view hands it over, whether the fast check should take it)
QUERIES = [
    ({}, True),
    ({"limit": "6", "placement": "home"}, True),
    ({"limit": "1"}, True),
    ({"limit": "50"}, True),
    ({"context_item": "42"}, True),
    ({"context_item": "sku:A-1.b_2"}, True),
    ({"context_item": "x" * 64}, True),
    ({"placement": "x" * 80}, True),
    ({"page_type": ["demo.articlepage", "demo.productpage"]}, True),
    ({"page_type": ["a.b"] * 20}, True),
    ({"locale": "fr-FR"}, True),
    ({"site": "2"}, True),
    ({"exclude_seen": "true"}, True),
    ({"exclude_seen": "0"}, True),
    ({"diversity": "0"}, True),
    ({"diversity": "0.35"}, True),
    ({"diversity": "1.0"}, True),
    ({"limit": "0"}, False),
    ({"limit": "51"}, False),
    ({"limit": "1000"}, False),
    ({"limit": "abc"}, False),
    ({"limit": ""}, False),
    ({"limit": "-1"}, False),
    ({"limit": " 6"}, False),
    ({"limit": "6.0"}, False),
    ({"limit": "06"}, False),
    ({"limit": "\u0666"}, False),
    ({"context_item": ""}, False),
    ({"context_item": "x" * 65}, False),
    ({"context_item": "a b"}, False),
    ({"context_item": "a\x00b"}, False),
    ({"context_item": "a\n"}, False),
    ({"placement": ""}, False),
    ({"placement": "x" * 81}, False),
    ({"placement": "not a slug!"}, False),
    ({"page_type": ["Robert'); DROP"]}, False),
    ({"page_type": ["a.b"] * 21}, False),
    ({"page_type": [""]}, False),
    ({"locale": ""}, False),
    ({"locale": "x"}, False),
    ({"site": "0"}, False),
    ({"site": ""}, False),
    ({"site": "two"}, False),
    ({"exclude_seen": "maybe"}, False),
    ({"exclude_seen": "yes"}, False),
    ({"exclude_seen": ""}, False),
    ({"diversity": "2"}, False),
    ({"diversity": "1.5"}, False),
    ({"diversity": "-0.1"}, False),
    ({"diversity": ".5"}, False),
    ({"diversity": "nan"}, False),
]


def normalised(data) -> object:
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(("raw", "fast_expected"), QUERIES, ids=[repr(q)[:60] for q, _ in QUERIES])
def test_the_fast_check_agrees_with_the_serializer(raw, fast_expected):
    fast = well_formed_recommendations_query(raw)
    assert (fast is not None) == fast_expected
    serializer = RecommendationsQuerySerializer(data=raw)
    valid = serializer.is_valid()
    if fast is None:
        return  # the serializer answers, as before (valid or not)
    assert valid, serializer.errors
    assert normalised(fast) == normalised(serializer.validated_data)


def test_the_fast_check_follows_the_limit_setting(settings):
    settings.PERSONALIZATION_RECOMMENDATIONS_MAX_LIMIT = 4
    assert well_formed_recommendations_query({"limit": "4"})["limit"] == 4
    assert well_formed_recommendations_query({"limit": "5"}) is None
    assert well_formed_recommendations_query({}) is None  # the default 6 is over the limit too


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"context_item": "no such item!"}, "context_item"),
        ({"locale": ""}, "locale"),
        ({"exclude_seen": "maybe"}, "exclude_seen"),
    ],
)
def test_bad_values_are_still_400s_naming_the_field(site, params, field):
    response = APIClient().get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_a_plainly_valid_query_answers_as_the_serializer_did(history, monkeypatch):
    train_now("--algorithm", "item_knn")
    vid = next(iter(history))
    params = {"limit": "3", "placement": "home", "diversity": "0.5", "exclude_seen": "true"}

    def answer() -> dict:
        client = APIClient()
        body = client.get(URL, params, HTTP_X_VISITOR_ID=token(vid)).json()
        return {k: v for k, v in body.items() if k != "decision_id"}

    fast = answer()
    monkeypatch.setattr(recommendation_views, "well_formed_recommendations_query", lambda raw: None)
    assert answer() == fast
    assert fast["items"]
